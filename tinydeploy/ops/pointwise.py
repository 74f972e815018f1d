"""Element-wise kernels that several operator families share, one per tensor type and kind of
arithmetic, and the lowerings that pick them:

- int8: a 256-entry table indexed by the input byte (lut_s8.c);
- int16 (16x8): TFLite's 513-entry interpolated table (lut_s16.c, EXP, LOG, RSQRT, GELU), its
  interpolated sigmoid table (sigmoid_s16.c, LOGISTIC and TANH), and a two-slope rescale with a
  clamp (rescale_s16.c: RELU, RELU6, LEAKY_RELU, ABS and QUANTIZE from int16 to int16), each
  computed per element as TFLite's int16 kernels do;
- float32: correctly rounded IEEE operations (unary_f32.c: any target gives TFLite's bits; FLOOR,
  CEIL and ROUND are exact) and the functions that need the C library (math_f32.c: LOGISTIC,
  TANH, EXP, LOG, ELU, GELU, COS, SIN), which agree
  with TFLite's within compare.TOLERANCE rather than bit for bit: the target's libm rounds its last
  bit its own way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tinydeploy import quantmath as qm
from tinydeploy.ops import intmath as im
from tinydeploy.ops import register_constant
from tinydeploy.ops.base import Kernel, Layer, OpContext, Params, TensorArg, cfield
from tinydeploy.tflite_reader import Tensor

f32 = np.float32
UNARY = {"ABS": 0, "NEG": 1, "SQUARE": 2, "SQRT": 3, "RSQRT": 4, "RELU_N1_TO_1": 5,
         "RELU_0_TO_1": 6, "LEAKY_RELU": 7, "RELU": 8, "RELU6": 9, "HARD_SWISH": 10,
         "LOGISTIC": 11, "TANH": 12, "EXP": 13, "LOG": 14, "ELU": 15, "GELU": 16, "GELU_TANH": 17,
         "FLOOR": 18, "CEIL": 19, "ROUND": 20, "COS": 21, "SIN": 22}
for _name, _code in UNARY.items():
    register_constant(f"TD_UNARY_{_name}", _code, f"td_unary_params.op: {_name}")
# float32 operators of unary_f32.c (exactly rounded) and of math_f32.c (the C library's functions)
EXACT_F32 = ("ABS", "NEG", "SQUARE", "SQRT", "RSQRT", "RELU_N1_TO_1", "RELU_0_TO_1", "LEAKY_RELU",
             "RELU", "RELU6", "HARD_SWISH", "FLOOR", "CEIL", "ROUND")
LIBM_F32 = ("LOGISTIC", "TANH", "EXP", "LOG", "ELU", "GELU", "COS", "SIN")


@dataclass
class UnaryParams(Params):
    C_NAME = "td_unary_params"
    C_DOC = "Element-wise unary ops on int32, float32 and bool."
    size: int = cfield("int32_t")
    op: int = cfield("int32_t", "TD_UNARY_*", default=0)
    alpha: float = cfield("float", "LEAKY_RELU's slope below 0", default=0.0)


@dataclass
class LutParams(Params):
    C_NAME = "td_lut_params"
    size: int = cfield("int32_t")
    table: str | None = cfield("const int8_t *", "256 entries, indexed by the input byte as uint8")


@dataclass
class Lut16Params(Params):
    C_NAME = "td_lut16_params"
    C_DOC = "int16 -> int16 through TFLite's 513-entry table: 9 bits index, 7 bits interpolate."
    size: int = cfield("int32_t")
    table: str | None = cfield("const int16_t *", "513 entries")


@dataclass
class Sigmoid16Params(Params):
    C_NAME = "td_sigmoid16_params"
    C_DOC = ("int16 LOGISTIC and TANH: the input rescaled by multiplier / 2^left_shift (rounded), "
             "then TFLite's interpolated sigmoid table.")
    size: int = cfield("int32_t")
    input_multiplier: int = cfield("int32_t")
    input_left_shift: int = cfield("int32_t")
    tanh: int = cfield("int32_t", "1: TANH, 0: LOGISTIC")


@dataclass
class RescaleParams(Params):
    C_NAME = "td_rescale16_params"
    C_DOC = ("int16 -> int16: d = x - input zero point (|d| for ABS), rescaled by one multiplier "
             "where d >= 0 and another below (LEAKY_RELU), plus the output zero point, clamped.")
    size: int = cfield("int32_t")
    input_zero_point: int = cfield("int32_t")
    output_zero_point: int = cfield("int32_t")
    multiplier_pos: int = cfield("int32_t")
    shift_pos: int = cfield("int32_t")
    multiplier_neg: int = cfield("int32_t")
    shift_neg: int = cfield("int32_t")
    absolute: int = cfield("int32_t", "1: ABS (d = |x - zero point|)", default=0)
    rescale: int = cfield("int32_t", "0: d >= 0 passes unscaled (ABS on one scale)", default=1)
    act_min: int = cfield("int32_t", default=-32768)
    act_max: int = cfield("int32_t", default=32767)


UNARY_F32 = Kernel("td_unary_f32", UnaryParams, ("const float *in", "float *out"))
UNARY_S32 = Kernel("td_unary_s32", UnaryParams, ("const int32_t *in", "int32_t *out"))
MATH_F32 = Kernel("td_math_f32", UnaryParams, ("const float *in", "float *out"),
                  "float32 functions of the C library (LOGISTIC, TANH, EXP, LOG, ELU, GELU, COS, "
                  "SIN)")
LUT = Kernel("td_lut_s8", LutParams, ("const int8_t *in", "int8_t *out"))
LUT16 = Kernel("td_lut_s16", Lut16Params, ("const int16_t *in", "int16_t *out"))
SIGMOID16 = Kernel("td_sigmoid_s16", Sigmoid16Params, ("const int16_t *in", "int16_t *out"))
RESCALE16 = Kernel("td_rescale_s16", RescaleParams, ("const int16_t *in", "int16_t *out"))


def _unary_layer(ctx: OpContext, kernel: Kernel, params: Params, x: Tensor, y: Tensor,
                 consts: list | None = None) -> Layer:
    """One element-wise kernel call, in place over its input."""
    return Layer(ctx.op, kernel, params, consts or [], [TensorArg(x.index), TensorArg(y.index)],
                 [x.index], [y.index], inplace=x.size == y.size)


def lower_float(ctx: OpContext) -> Layer:
    """A float32 element-wise operator: unary_f32.c where the result is one or two exactly
    rounded operations, math_f32.c where it needs the C library."""
    x, y = ctx.input(0), ctx.output(0)
    for t in (x, y):
        ctx.require(t.dtype == "float32", f"tensor '{t.name}' is {t.dtype}, the op's type is "
                                          "float32")
    name = ctx.op.opcode
    if name == "GELU" and ctx.option("approximate", False):
        name = "GELU_TANH"
    alpha = float(f32(ctx.option("alpha", 0.0))) if name == "LEAKY_RELU" else 0.0
    kernel = UNARY_F32 if name in EXACT_F32 else MATH_F32
    return _unary_layer(ctx, kernel, UnaryParams(size=x.size, op=UNARY[name], alpha=alpha), x, y)


def require_int16(ctx: OpContext, *tensors: Tensor) -> None:
    """int16 tensors with zero point 0, as TFLite's 16x8 kernels require."""
    ctx.require_type(("int16",), *tensors)
    for t in tensors:
        ctx.require(t.zp0 == 0, f"int16 tensor '{t.name}' has zero point {t.zp0}; TFLite's int16 "
                                "kernels take symmetric (zero point 0) tensors")


def lut16_layer(ctx: OpContext, fn: Callable[[np.float32], np.float32]) -> Layer:
    """An int16 operator TFLite evaluates through LUTPopulate<int16_t>'s table of `fn`."""
    x, y = ctx.input(0), ctx.output(0)
    require_int16(ctx, x, y)
    table = im.lut_populate_int16(x.scale0, x.zp0, y.scale0, y.zp0, fn)
    return _unary_layer(ctx, LUT16, Lut16Params(size=x.size, table=f"{ctx.name}_table"), x, y,
                        [ctx.const("table", "int16_t", table)])


def rescale16_layer(ctx: OpContext, x: Tensor, y: Tensor, pos: tuple[int, int] | None,
                    neg: tuple[int, int], act: tuple[int, int] = (-32768, 32767),
                    absolute: bool = False) -> Layer:
    """int16 -> int16 through rescale_s16.c: multiplier and shift `pos` for d >= 0 (None: d
    unscaled), `neg` below, clamped to `act`."""
    params = RescaleParams(size=x.size, input_zero_point=x.zp0, output_zero_point=y.zp0,
                           multiplier_pos=pos[0] if pos else 0, shift_pos=pos[1] if pos else 0,
                           multiplier_neg=neg[0], shift_neg=neg[1], absolute=int(absolute),
                           rescale=int(pos is not None), act_min=act[0], act_max=act[1])
    return _unary_layer(ctx, RESCALE16, params, x, y)


def requantize16_layer(ctx: OpContext, x: Tensor, y: Tensor, activation: str,
                       float_ratio: bool) -> Layer:
    """int16 -> int16 rescale and clamp: QUANTIZE (TFLite divides the scales in double), RELU
    and RELU6 (ReluPrepare divides them in float: float_ratio)."""
    ratio = (float(f32(x.scale0) / f32(y.scale0)) if float_ratio else
             float(f32(x.scale0)) / float(f32(y.scale0)))
    m = qm.quantize_multiplier(ratio)
    act = qm.activation_range(activation, y.scale0, y.zp0, -32768, 32767)
    return rescale16_layer(ctx, x, y, m, m, act)
