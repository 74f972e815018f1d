"""QUANTIZE and DEQUANTIZE between float32, int8 and int16: float32 -> int8 or int16; the
rescales int8 -> int8, int16 -> int16 (a converted 16x8 model uses it where it gives an operator's
inputs one scale), int16 -> int8 and int8 -> int16 (mixed models join int8 and int16 layers with
them), all TFLite's Requantize; and int8 or int16 -> float32 (quantize_s8.c, quantize_s16.c,
rescale_s16.c). Float-to-int conversions saturate (NaN becomes 0 before the zero point), so x86 and
Arm agree where C leaves the conversion undefined."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydeploy import quantmath as qm
from tinydeploy.ops import register
from tinydeploy.ops.base import (Kernel, Layer, OpContext, OpSpec, Params, TensorArg, cfield,
                                 same_shape_as_input)
from tinydeploy.ops.pointwise import RESCALE16, requantize16_layer, require_int16
from tinydeploy.tflite_reader import Tensor


@dataclass
class AffineParams(Params):
    C_NAME = "td_affine_params"
    size: int = cfield("int32_t")
    zero_point: int = cfield("int32_t")
    scale: float = cfield("float")


@dataclass
class RequantParams(Params):
    C_NAME = "td_requant_params"
    C_DOC = "int8 -> int8: rescale and clamp (QUANTIZE between scales, RELU, RELU6)."
    size: int = cfield("int32_t")
    input_zero_point: int = cfield("int32_t")
    output_zero_point: int = cfield("int32_t")
    multiplier: int = cfield("int32_t")
    shift: int = cfield("int32_t")
    act_min: int = cfield("int32_t")
    act_max: int = cfield("int32_t")


QUANTIZE_F32 = Kernel("td_quantize_f32_s8", AffineParams, ("const float *in", "int8_t *out"))
DEQUANTIZE = Kernel("td_dequantize_s8_f32", AffineParams, ("const int8_t *in", "float *out"))
REQUANTIZE = Kernel("td_requantize_s8", RequantParams, ("const int8_t *in", "int8_t *out"))
QUANTIZE_F32_S16 = Kernel("td_quantize_f32_s16", AffineParams, ("const float *in", "int16_t *out"))
DEQUANTIZE_S16 = Kernel("td_dequantize_s16_f32", AffineParams, ("const int16_t *in", "float *out"))
REQUANTIZE_S16_S8 = Kernel("td_requantize_s16_s8", RequantParams,
                           ("const int16_t *in", "int8_t *out"))
REQUANTIZE_S8_S16 = Kernel("td_requantize_s8_s16", RequantParams,
                           ("const int8_t *in", "int16_t *out"))
RANGES = {"int8": (-128, 127), "int16": (-32768, 32767)}


def requant_layer(ctx: OpContext, x: Tensor, y: Tensor, activation: str,
                  float_ratio: bool = False) -> Layer:
    """int8 -> int8 rescale and clamp, in place: QUANTIZE between two scales (TFLite divides the
    scales in double), RELU and RELU6 (TFLite's ReluPrepare divides them in float:
    float_ratio)."""
    ratio = (float(np.float32(x.scale0) / np.float32(y.scale0)) if float_ratio else
             float(np.float32(x.scale0)) / float(np.float32(y.scale0)))
    m, s = qm.quantize_multiplier(ratio)
    act_min, act_max = qm.activation_range(activation, y.scale0, y.zp0)
    params = RequantParams(size=x.size, input_zero_point=x.zp0, output_zero_point=y.zp0,
                           multiplier=m, shift=s, act_min=act_min, act_max=act_max)
    return Layer(ctx.op, REQUANTIZE, params, [], [TensorArg(x.index), TensorArg(y.index)],
                 [x.index], [y.index], inplace=True)


def _quantize_f32(ctx: OpContext) -> Layer:
    """float32 -> int8 or int16: round(x / scale) + zero point, clamped to the type."""
    x, y = ctx.input(0), ctx.output(0)
    ctx.require_type(("int8", "int16"), y)
    ctx.require(len(y.scale) == 1, f"per-channel quantization of '{y.name}' (one scale per "
                                   "tensor is supported)")
    kernel = QUANTIZE_F32 if y.dtype == "int8" else QUANTIZE_F32_S16
    params = AffineParams(size=x.size, zero_point=y.zp0, scale=float(y.scale0))
    return Layer(ctx.op, kernel, params, [], [TensorArg(x.index), TensorArg(y.index)],
                 [x.index], [y.index])


def _requantize(ctx: OpContext) -> Layer:
    """Between int8 and int16 scales: TFLite's Requantize (the ratio of scales in double)."""
    x, y = ctx.input(0), ctx.output(0)
    ctx.require_type(("int8", "int16"), x, y)
    if x.dtype == y.dtype == "int8":
        return requant_layer(ctx, x, y, "NONE")
    if x.dtype == y.dtype == "int16":
        require_int16(ctx, x, y)
        return requantize16_layer(ctx, x, y, "NONE", float_ratio=False)
    m, s = qm.quantize_multiplier(float(np.float32(x.scale0)) / float(np.float32(y.scale0)))
    lo, hi = RANGES[y.dtype]
    params = RequantParams(size=x.size, input_zero_point=x.zp0, output_zero_point=y.zp0,
                           multiplier=m, shift=s, act_min=lo, act_max=hi)
    kernel = REQUANTIZE_S16_S8 if x.dtype == "int16" else REQUANTIZE_S8_S16
    return Layer(ctx.op, kernel, params, [], [TensorArg(x.index), TensorArg(y.index)],
                 [x.index], [y.index])


def _dequantize(ctx: OpContext) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    ctx.require_type(("int8", "int16"), x)
    ctx.require_type(("float32",), y)
    ctx.require(len(x.scale) == 1, f"per-channel quantization of '{x.name}' (one scale per "
                                   "tensor is supported)")
    params = AffineParams(size=x.size, zero_point=x.zp0, scale=float(x.scale0))
    kernel = DEQUANTIZE if x.dtype == "int8" else DEQUANTIZE_S16
    return Layer(ctx.op, kernel, params, [], [TensorArg(x.index), TensorArg(y.index)],
                 [x.index], [y.index])


register(
    OpSpec("QUANTIZE", {("float32", None): _quantize_f32, ("int8", None): _requantize,
                        ("int16", None): _requantize},
           inputs=(1, 1), infer_shape=same_shape_as_input,
           kernels=(QUANTIZE_F32, REQUANTIZE, QUANTIZE_F32_S16, RESCALE16, REQUANTIZE_S16_S8,
                    REQUANTIZE_S8_S16), model_types=("int8", "int16x8")),
    OpSpec("DEQUANTIZE", {("int8", None): _dequantize, ("int16", None): _dequantize},
           inputs=(1, 1), infer_shape=same_shape_as_input, kernels=(DEQUANTIZE, DEQUANTIZE_S16),
           model_types=("int8", "int16x8")),
)
