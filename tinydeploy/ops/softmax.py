"""SOFTMAX over the last dimension: int8 (output scale 1/256, zero point -128; softmax_s8.c,
TFLite's reference fixed-point exp and reciprocal), int16 (16x8 models; output scale 1/32768, zero
point 0; softmax_s16.c) and float32 with beta (softmax_f32.c).

int16, as TFLite's SoftmaxInt16 with the tables its Prepare builds (LUTPopulate<int16_t> in double,
computed here the same way): each difference to the row maximum (in [-65535, 0]) is rescaled by
input_scale * beta / (10 / 65535) (td_mbqm) so that -65535 stands for -10, recentred by + 32767 and
looked up in the 513-entry exp table over [-10, 0] (linear interpolation between entries); the
sum of the row's exps (Q16.15) is normalized to [1, 2), looked up in the 1 / (1 + x) table over
[0, 1], and each exp is scaled by that reciprocal, rounded and clamped to [0, 32767].

float32, as reference_ops::Softmax: the row maximum, exp((x - max) * beta) (expf of the device's
libm) summed in order from 0, each exp divided by the sum.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tinydeploy import quantmath as qm
from tinydeploy.ops import register
from tinydeploy.ops.base import (GeneratedOp, Kernel, Layer, OpContext, OpSpec, Params, TensorArg,
                                 cfield, same_shape_as_input)


@dataclass
class SoftmaxParams(Params):
    C_NAME = "td_softmax_params"
    outer: int = cfield("int32_t", "rows")
    depth: int = cfield("int32_t", "values per row (the last dimension)")
    input_multiplier: int = cfield("int32_t")
    input_left_shift: int = cfield("int32_t")
    diff_min: int = cfield("int32_t")


@dataclass
class SoftmaxS16Params(Params):
    C_NAME = "td_softmax_s16_params"
    outer: int = cfield("int32_t", "rows")
    depth: int = cfield("int32_t", "values per row (the last dimension)")
    input_multiplier: int = cfield("int32_t", "td_mbqm of the difference to the row maximum")
    input_shift: int = cfield("int32_t")
    exp_lut: str | None = cfield("const int16_t *", "513 entries: exp over [-10, 0]")
    one_over_one_plus_x_lut: str | None = cfield("const int16_t *",
                                                 "513 entries: 1 / (1 + x) over [0, 1]")


@dataclass
class SoftmaxF32Params(Params):
    C_NAME = "td_softmax_f32_params"
    outer: int = cfield("int32_t", "rows")
    depth: int = cfield("int32_t", "values per row (the last dimension)")
    beta: float = cfield("float")


SOFTMAX = Kernel("td_softmax_s8", SoftmaxParams, ("const int8_t *in", "int8_t *out"))
SOFTMAX_S16 = Kernel("td_softmax_s16", SoftmaxS16Params, ("const int16_t *in", "int16_t *out"))
SOFTMAX_F32 = Kernel("td_softmax_f32", SoftmaxF32Params, ("const float *in", "float *out"))


def _lower(ctx: OpContext) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    ctx.require_type(("int8",), x, y)
    ctx.require(y.zp0 == -128 and np.float32(y.scale0) == np.float32(1 / 256),
                "int8 softmax output must have scale 1/256 and zero point -128")
    ctx.require(len(x.shape) >= 1 and x.shape[-1] >= 1, f"input shape {list(x.shape)}")
    mult, left, diff_min = qm.softmax_params(ctx.option("beta", 1.0), x.scale0)
    depth = x.shape[-1]
    params = SoftmaxParams(outer=x.size // depth, depth=depth, input_multiplier=mult,
                           input_left_shift=left, diff_min=diff_min)
    return Layer(ctx.op, SOFTMAX, params, [], [TensorArg(x.index), TensorArg(y.index)],
                 [x.index], [y.index])


def std_round(x: float) -> float:
    """C's round() on a double: halves away from zero (exact: a - floor(a) loses nothing)."""
    a = abs(x)
    f = math.floor(a)
    r = f + 1.0 if a - f >= 0.5 else f
    return math.copysign(r, x)


def lut_populate_int16(fn: Callable[[float], float], input_scale: float, input_zero_point: int,
                       output_scale: float, output_zero_point: int) -> np.ndarray:
    """TFLite's LUTPopulateInt16<double>: 512 samples of fn over the int16 input range, each less
    half the error a linear interpolation would make at the interval's midpoint, and fn at the
    range's end (the 513th entry, read only for the last slope); all in double, as TFLite."""
    input_min = input_scale * (-32768 - input_zero_point)
    input_max = input_scale * (32767 - input_zero_point)
    output_min = output_scale * (-32768 - output_zero_point)
    output_max = output_scale * (32767 - output_zero_point)
    steps = 512
    step = (input_max - input_min) / steps
    half_step = step / 2
    scaling_inv = 65536.0 / (output_max - output_min)
    lut = np.zeros(steps + 1, np.int64)
    for i in range(steps):
        val = fn(input_min + i * step)
        val_midpoint = fn(input_min + i * step + half_step)
        val_next = fn(input_min + (i + 1) * step)
        sample = std_round(val * scaling_inv)
        midpoint_interp = std_round((val_next * scaling_inv + std_round(val * scaling_inv)) / 2)
        midpoint = std_round(val_midpoint * scaling_inv)
        bias = std_round((midpoint_interp - midpoint) / 2)
        lut[i] = int(min(max(sample - bias, -32768.0), 32767.0))
    lut[steps] = int(min(max(std_round(fn(input_max) * scaling_inv), -32768.0), 32767.0))
    return lut


def softmax_luts() -> tuple[np.ndarray, np.ndarray]:
    """The two tables of TFLite's int16 softmax Prepare: exp over [-10, 0] and 1 / (1 + x) over
    [0, 1], both to a symmetric output range of [-1, 1]."""
    span = 32767 - (-32768)
    exp_lut = lut_populate_int16(math.exp, 10.0 / span, 32767, 2.0 / span, 0)
    recip_lut = lut_populate_int16(lambda v: 1.0 / (1.0 + v), 1.0 / span, -32768, 2.0 / span, 0)
    return exp_lut, recip_lut


def _lower_s16(ctx: OpContext) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    ctx.require_type(("int16",), x, y)
    ctx.require(x.zp0 == 0 and y.zp0 == 0, "int16 softmax needs zero points 0 (TFLite checks)")
    ctx.require(abs(float(np.float32(y.scale0)) - 1 / 32768) <= 0.001 / 32768,
                f"int16 softmax output scale {y.scale0!r} must be 1/32768 (TFLite checks)")
    ctx.require(len(x.shape) >= 1 and x.shape[-1] >= 1, f"input shape {list(x.shape)}")
    depth = x.shape[-1]
    ctx.require(depth <= 65536, f"rows of {depth} values (the int32 sum of their exps, each up "
                                "to 32767, holds 65536)")
    beta = float(ctx.option("beta", 1.0))
    # input->params.scale * params->beta is a float product, divided in double
    rescale = float(np.float32(x.scale0) * np.float32(beta)) / (10.0 / 65535.0)
    mult, shift = qm.quantize_multiplier(rescale)
    ctx.require(65535 << max(shift, 0) < 2 ** 31,
                f"softmax input scale x beta {rescale * 10 / 65535:.3g} is too large for the int16 "
                "kernel (its rescaled differences overflow int32)")
    exp_lut, recip_lut = softmax_luts()
    params = SoftmaxS16Params(outer=x.size // depth, depth=depth, input_multiplier=mult,
                              input_shift=shift, exp_lut=f"{ctx.name}_exp_lut",
                              one_over_one_plus_x_lut=f"{ctx.name}_recip_lut")
    consts = [ctx.const("exp_lut", "int16_t", exp_lut),
              ctx.const("recip_lut", "int16_t", recip_lut)]
    return Layer(ctx.op, SOFTMAX_S16, params, consts, [TensorArg(x.index), TensorArg(y.index)],
                 [x.index], [y.index])


def _lower_f32(ctx: OpContext) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    ctx.require_type(("float32",), x, y)
    ctx.require(len(x.shape) >= 1 and x.shape[-1] >= 1, f"input shape {list(x.shape)}")
    depth = x.shape[-1]
    params = SoftmaxF32Params(outer=x.size // depth, depth=depth,
                              beta=float(np.float32(ctx.option("beta", 1.0))))
    return Layer(ctx.op, SOFTMAX_F32, params, [], [TensorArg(x.index), TensorArg(y.index)],
                 [x.index], [y.index])


def _generate(rng: np.random.Generator, qtype: str) -> GeneratedOp:
    """int8: a dense layer in front (the converter's int8 softmax follows one); 16x8 and float:
    the softmax alone over a random shape, from Keras (beta 1) or written directly with a random
    beta (the converter keeps a multiplication in front instead of folding it into beta)."""
    if qtype != "int8":
        return _generate_typed(rng, qtype)
    import keras

    L = keras.layers
    h, w, c = int(rng.integers(3, 14)), int(rng.integers(3, 14)), int(rng.integers(1, 9))
    x = keras.Input((h, w, c), batch_size=1)
    beta = float(rng.uniform(0.5, 4.0))
    units = int(rng.integers(2, 30))
    y = L.Softmax()(L.Dense(units)(L.Reshape((h * w * c,))(x)) * beta)
    scale = float(rng.uniform(0.5, 4.0))
    return GeneratedOp(f"softmax units={units} beta={beta:.2f}", keras.Model(x, y),
                       [rng.normal(0, scale, (32, h, w, c)).astype(np.float32)])


def _generate_typed(rng: np.random.Generator, qtype: str) -> GeneratedOp:
    """A 16x8 or float32 softmax over 1 to 4 dimensions of up to 32 values a row."""
    rank = int(rng.integers(1, 5))
    shape = tuple(int(rng.integers(1, 5)) for _ in range(rank - 1)) + (int(rng.integers(1, 33)),)
    if rank > 1 and rng.random() < 0.5:
        import keras

        x = keras.Input(shape[1:], batch_size=1)
        scale = float(np.exp(rng.uniform(np.log(0.3), np.log(8.0))))
        return GeneratedOp(f"softmax shape={(1, *shape[1:])} (Keras)",
                           keras.Model(x, keras.layers.Softmax()(x)),
                           [rng.normal(0, scale, (32, *shape[1:])).astype(np.float32)])
    from tinydeploy.tflite_writer import Op, T, build

    beta = float(np.float32(rng.uniform(0.25, 3.0)))
    if qtype == "int16":
        sx = float(np.float32(np.exp(rng.uniform(np.log(2e-5), np.log(1e-3)))))
        tensors = [T(shape, "int16", scale=[sx], zero_point=[0]),
                   T(shape, "int16", scale=[1 / 32768], zero_point=[0])]
    else:
        tensors = [T(shape, "float32"), T(shape, "float32")]
    return GeneratedOp(f"softmax shape={shape} beta={beta:.3f}",
                       tflite=build(tensors, [Op("SOFTMAX", [0], [1], "SoftmaxOptions",
                                                 {"beta": beta})], [0], [1]))


register(OpSpec("SOFTMAX", {("int8", None): _lower, ("int16", None): _lower_s16,
                            ("float32", None): _lower_f32},
                inputs=(1, 1), options="SoftmaxOptions", infer_shape=same_shape_as_input,
                kernels=(SOFTMAX, SOFTMAX_S16, SOFTMAX_F32), generate=_generate))
