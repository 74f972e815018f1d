"""Element-wise activations, int8: RELU and RELU6 (a rescale and clamp, quantize_s8.c), LOGISTIC and
TANH (256-entry tables, lut_s8.c), HARD_SWISH (TFLite's 16-bit fixed point, hard_swish_s8.c).

TFLite's reference kernels evaluate int8 LOGISTIC and TANH through a table computed in float32
(dequantize, transform, requantize). The table is computed here without the build machine's libm:
exp and tanh in double precision, rounded once to float32, which is what a correctly rounded
float32 libm returns (tests check it against the C library's expf/tanhf over many scales).
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
from tinydeploy.ops.quantize import REQUANTIZE, requant_layer
from tinydeploy.tflite_reader import Tensor


@dataclass
class LutParams(Params):
    C_NAME = "td_lut_params"
    size: int = cfield("int32_t")
    table: str | None = cfield("const int8_t *", "256 entries, indexed by the input byte as uint8")


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


LUT = Kernel("td_lut_s8", LutParams, ("const int8_t *in", "int8_t *out"))
HARD_SWISH = Kernel("td_hard_swish_s8", HardSwishParams, ("const int8_t *in", "int8_t *out"))


def _lower_relu(ctx: OpContext, activation: str) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
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


def _generate(rng: np.random.Generator, fn: str) -> GeneratedOp:
    import keras

    L = keras.layers
    h, w, c = int(rng.integers(3, 14)), int(rng.integers(3, 14)), int(rng.integers(1, 9))
    x = keras.Input((h, w, c), batch_size=1)
    y = L.Activation(fn)(L.Conv2D(c, 1)(x))
    scale = float(rng.uniform(0.5, 4.0))
    return GeneratedOp(f"{fn} hwc={(h, w, c)}", keras.Model(x, y),
                       [rng.normal(0, scale, (32, h, w, c)).astype(np.float32)])


register(
    OpSpec("RELU", {("int8", None): lambda ctx: _lower_relu(ctx, "RELU")}, inputs=(1, 1),
           infer_shape=same_shape_as_input, kernels=(REQUANTIZE,),
           generate=lambda rng, t: _generate(rng, "relu")),
    OpSpec("RELU6", {("int8", None): lambda ctx: _lower_relu(ctx, "RELU6")}, inputs=(1, 1),
           infer_shape=same_shape_as_input, kernels=(REQUANTIZE,),
           generate=lambda rng, t: _generate(rng, "relu6")),
    OpSpec("LOGISTIC", {("int8", None): lambda ctx: _lower_lut(ctx, logistic_f32, 1 / 256, -128)},
           inputs=(1, 1), infer_shape=same_shape_as_input, kernels=(LUT,),
           generate=lambda rng, t: _generate(rng, "sigmoid")),
    OpSpec("TANH", {("int8", None): lambda ctx: _lower_lut(ctx, tanh_f32, 1 / 128, 0)},
           inputs=(1, 1), infer_shape=same_shape_as_input, kernels=(LUT,),
           generate=lambda rng, t: _generate(rng, "tanh")),
    OpSpec("HARD_SWISH", {("int8", None): _lower_hard_swish}, inputs=(1, 1),
           infer_shape=same_shape_as_input, kernels=(HARD_SWISH,),
           generate=lambda rng, t: _generate(rng, "hard_swish")),
)
