"""Element-wise activations: RELU, RELU6, LOGISTIC, TANH and HARD_SWISH.

int8: RELU and RELU6 are a rescale and clamp (quantize_s8.c), LOGISTIC and TANH 256-entry tables
(lut_s8.c), HARD_SWISH TFLite's 16-bit fixed point (hard_swish_s8.c). TFLite's reference kernels
evaluate int8 LOGISTIC and TANH through a table computed in float32 (dequantize, transform,
requantize). The table is computed here without the build machine's libm: exp and tanh in double
precision, rounded once to float32, which is what a correctly rounded float32 libm returns (tests
check it against the C library's expf/tanhf over many scales).

int16 (16x8): RELU and RELU6 rescale and clamp (rescale_s16.c); LOGISTIC and TANH are TFLite's
int16 kernels, an interpolated sigmoid table read after rescaling the input to it (power-of-two
input scales take TFLite's shortcut, others its multiplier; sigmoid_s16.c). TFLite has no int16
HARD_SWISH (its converter refuses it in 16x8 mode).

float32: RELU, RELU6 and HARD_SWISH are exactly rounded (unary_f32.c), LOGISTIC and TANH use the
target's libm (math_f32.c, within compare.TOLERANCE).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tinydeploy import quantmath as qm
from tinydeploy.ops import intmath as im
from tinydeploy.ops import register
from tinydeploy.ops.base import (GeneratedOp, Kernel, Layer, OpContext, OpSpec, Params, TensorArg,
                                 cfield, same_shape_as_input)
from tinydeploy.ops.pointwise import (LUT, MATH_F32, RESCALE16, SIGMOID16, UNARY_F32, LutParams,
                                      Sigmoid16Params, lower_float, requantize16_layer,
                                      require_int16)
from tinydeploy.ops.quantize import REQUANTIZE, requant_layer
from tinydeploy.tflite_reader import Tensor



@dataclass
class HardSwishParams(Params):
    C_NAME = "td_hard_swish_params"
    size: int = cfield("int32_t")
    input_zero_point: int = cfield("int32_t")
    output_zero_point: int = cfield("int32_t")
    reluish_multiplier: int = cfield("int16_t")
    output_multiplier: int = cfield("int16_t")
    reluish_exponent: int = cfield("int32_t")
    output_exponent: int = cfield("int32_t")


HARD_SWISH = Kernel("td_hard_swish_s8", HardSwishParams, ("const int8_t *in", "int8_t *out"))


def _lower_relu(ctx: OpContext, activation: str) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    if x.dtype == "int16":
        require_int16(ctx, x, y)
        return requantize16_layer(ctx, x, y, activation, float_ratio=True)
    ctx.require_type(("int8",), x, y)
    return requant_layer(ctx, x, y, activation, float_ratio=True)


def expf(v: float) -> np.float32:
    """exp rounded once to float32 (overflow to infinity, as expf does)."""
    with np.errstate(over="ignore"):
        return np.float32(math.exp(min(v, 200.0)))


def tanhf(v: float) -> np.float32:
    return np.float32(math.tanh(v))


def float_lut(x: Tensor, y: Tensor, fn: Callable[[np.float32], np.float32]) -> np.ndarray:
    """TFLite's PopulateLookupTable: dequantize, transform and requantize in float32, indexed
    by the input byte read as uint8."""
    table = np.zeros(256, np.int64)
    inv = np.float32(1) / np.float32(y.scale0)
    for v in range(-128, 128):
        deq = np.float32(x.scale0) * np.float32(v - x.zp0)
        with np.errstate(over="ignore", invalid="ignore"):
            r = float(np.float32(fn(deq)) * inv)
        q = (qm.round_half_away(r) if math.isfinite(r) else (1 << 40 if r > 0 else -(1 << 40)))
        table[v & 0xFF] = min(127, max(-128, q + y.zp0))
    return table


def logistic_f32(v: np.float32) -> np.float32:
    return np.float32(1) / (np.float32(1) + expf(-float(v)))


def tanh_f32(v: np.float32) -> np.float32:
    return tanhf(float(v))


def _lower_lut(ctx: OpContext, fn: Callable[[np.float32], np.float32], out_scale: float,
               out_zp: int) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    ctx.require_type(("int8",), x, y)
    ctx.require(y.zp0 == out_zp and np.isclose(y.scale0, out_scale),
                f"int8 {ctx.op.opcode} output must have scale {out_scale:g} and zero point {out_zp}")
    params = LutParams(size=x.size, table=f"{ctx.name}_table")
    return Layer(ctx.op, LUT, params, [ctx.const("table", "int8_t", float_lut(x, y, fn))],
                 [TensorArg(x.index), TensorArg(y.index)], [x.index], [y.index], inplace=True)


def _int16_multiplier(real: float) -> tuple[int, int]:
    """QuantizeMultiplier, then the Q31 significand rounded to Q15 (TFLite's DownScale...)."""
    m, e = qm.quantize_multiplier(real)
    return (32767 if m >= (1 << 31) - 1 - (1 << 15) else (m + (1 << 15)) >> 16), e


def _lower_sigmoid16(ctx: OpContext, tanh: bool) -> Layer:
    """TFLite's int16 LOGISTIC and TANH Prepare: the output scale must be 2^-15; an input scale
    of 2^-12 (LOGISTIC) or 2^-12 or 2^-11 (TANH) is TFLite's power-of-two case, a multiplier of 3
    (or 6) and no shift; any other scale gets scale * 3 * 4096, doubled until it passes 32767 / 2,
    as multiplier (truncated) and the doublings as right shift."""
    x, y = ctx.input(0), ctx.output(0)
    require_int16(ctx, x, y)
    out_pot, out_log2 = im.checked_log2(y.scale0)
    ctx.require(out_pot and out_log2 == -15 and (tanh or float(np.float32(y.scale0)) == 2.0 ** -15),
                f"int16 {ctx.op.opcode} output must have scale 2^-15 (got {y.scale0:g})")
    in_pot, in_log2 = im.checked_log2(x.scale0)
    left_shift = 12 + in_log2
    if in_pot and (left_shift in (0, 1) if tanh else left_shift == 0):
        multiplier, left_shift = 3 << left_shift, 0
    else:
        real, left_shift = float(np.float32(x.scale0)) * 4096.0 * 3.0, 0
        while real <= 32767.0 / 2.0 and left_shift <= 30:
            left_shift += 1
            real *= 2.0
        multiplier = int(real)
        ctx.require(0 < multiplier <= 32767, f"int16 {ctx.op.opcode} input scale {x.scale0:g} is "
                                             "outside the range of TFLite's int16 kernel")
    params = Sigmoid16Params(size=x.size, input_multiplier=multiplier,
                             input_left_shift=left_shift, tanh=int(tanh))
    return Layer(ctx.op, SIGMOID16, params, [], [TensorArg(x.index), TensorArg(y.index)],
                 [x.index], [y.index], inplace=True)


def _lower_hard_swish(ctx: OpContext) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    ctx.require_type(("int8",), x, y)
    hires = np.float32(1.0 / 128.0) * np.float32(x.scale0)
    out_m, out_e = _int16_multiplier(float(np.float32(hires / np.float32(y.scale0))))
    relu_m, relu_e = _int16_multiplier(float(np.float32(hires / np.float32(3.0 / 32768.0))))
    ctx.require(out_e <= 0, "output scale too small for the int8 hard-swish kernel")
    ctx.require(-15 <= relu_e <= 15 and out_e >= -15,
                "input scale outside the range of the int8 hard-swish kernel's shifts")
    params = HardSwishParams(
        size=x.size, input_zero_point=x.zp0, output_zero_point=y.zp0, reluish_multiplier=relu_m,
        output_multiplier=out_m, reluish_exponent=relu_e, output_exponent=out_e)
    return Layer(ctx.op, HARD_SWISH, params, [], [TensorArg(x.index), TensorArg(y.index)],
                 [x.index], [y.index], inplace=True)


def _generate(rng: np.random.Generator, fn: str, qtype: str) -> GeneratedOp:
    import keras

    L = keras.layers
    side = 14 if qtype == "int8" else 9  # 16x8 and float32 models fit a 16 KB Cortex-M0 too
    h, w, c = int(rng.integers(3, side)), int(rng.integers(3, side)), int(rng.integers(1, 9))
    x = keras.Input((h, w, c), batch_size=1)
    # int8: a 1x1 convolution in front gives the activation an int8 producer with a scale of its
    # own; int16 and float32 models apply it to the input itself (one operator under test)
    y = L.Activation(fn)(L.Conv2D(c, 1)(x) if qtype == "int8" else x)
    scale = float(rng.uniform(0.5, 4.0))
    what = f"{fn} hwc={(h, w, c)}" + ("" if qtype == "int8" else f" {qtype}")
    return GeneratedOp(what, keras.Model(x, y),
                       [rng.normal(0, scale, (32, h, w, c)).astype(np.float32)])


def _spec(opcode: str, int8: Callable[[OpContext], Layer], int8_kernel: Kernel,
          int16: Callable[[OpContext], Layer] | None, int16_kernel: Kernel | None,
          float_kernel: Kernel, keras_name: str) -> OpSpec:
    lowerings = {("int8", None): int8, ("float32", None): lower_float}
    kernels = (int8_kernel, float_kernel)
    if int16 is not None and int16_kernel is not None:
        lowerings[("int16", None)] = int16
        kernels += (int16_kernel,)
    return OpSpec(opcode, lowerings, inputs=(1, 1), infer_shape=same_shape_as_input,
                  kernels=kernels, generate=lambda rng, t: _generate(rng, keras_name, t))


register(
    _spec("RELU", lambda ctx: _lower_relu(ctx, "RELU"), REQUANTIZE,
          lambda ctx: _lower_relu(ctx, "RELU"), RESCALE16, UNARY_F32, "relu"),
    _spec("RELU6", lambda ctx: _lower_relu(ctx, "RELU6"), REQUANTIZE,
          lambda ctx: _lower_relu(ctx, "RELU6"), RESCALE16, UNARY_F32, "relu6"),
    _spec("LOGISTIC", lambda ctx: _lower_lut(ctx, logistic_f32, 1 / 256, -128), LUT,
          lambda ctx: _lower_sigmoid16(ctx, tanh=False), SIGMOID16, MATH_F32, "sigmoid"),
    _spec("TANH", lambda ctx: _lower_lut(ctx, tanh_f32, 1 / 128, 0), LUT,
          lambda ctx: _lower_sigmoid16(ctx, tanh=True), SIGMOID16, MATH_F32, "tanh"),
    _spec("HARD_SWISH", _lower_hard_swish, HARD_SWISH, None, None, UNARY_F32, "hard_swish"),
)
