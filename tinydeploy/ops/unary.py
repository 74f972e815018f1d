"""Element-wise unary math: ABS, NEG, SQRT, RSQRT, EXP, LOG, ELU, GELU, LEAKY_RELU, RELU_N1_TO_1,
RELU_0_TO_1 and SQUARE; and FLOOR, CEIL, ROUND, COS and SIN, which TFLite has in float32 only.

Every int8 one is a 256-entry table (lut_s8.c): its output depends on the input byte alone, and the
compiler computes the table with the arithmetic of TFLite's kernel for that op, which is a faster
kernel on a Cortex-M than the arithmetic itself and exactly as exact:
- EXP, LOG, ELU, GELU: TFLite's own kernels evaluate these through a table it fills in float32
  (LUTPopulate); here it is filled without the build machine's libm (intmath.py);
- SQRT: TFLite's int8 kernel dequantizes, takes sqrtf, divides by the output scale and truncates;
- ABS, RSQRT, LEAKY_RELU, RELU_N1_TO_1, RELU_0_TO_1: TFLite's integer arithmetic per value;
- NEG: LiteRT negates the raw int8 value (ignoring the quantization, as its kernel does).
ELU is missing from LiteRT's reference resolver: its oracle is TFLite Micro's kernel, which fills
the same table.
TFLite has no int8 SQUARE kernel (its converter leaves SQUARE in float). float32 ABS, NEG,
SQUARE, SQRT, RSQRT, LEAKY_RELU, RELU_N1_TO_1 and RELU_0_TO_1 (correctly rounded IEEE operations)
and int32 ABS and NEG run in unary_f32.c and unary_s32.c, and so do float32 FLOOR, CEIL (floorf and
ceilf, exact) and ROUND (TFLite's RoundToNearest: half to even, from floorf and an exact
subtraction, so -0.5 gives +0); float32 EXP, LOG, ELU, GELU, COS and SIN in math_f32.c with the
target's libm (within compare.TOLERANCE of TFLite's, not bit for bit: TFLite calls std::cos and
std::sin on floats, cosf and sinf).

int16 (16x8), where LiteRT's reference has an int16 kernel: EXP, LOG, RSQRT and GELU through
TFLite's 513-entry interpolated table (LUTPopulate<int16_t>, lut_s16.c), ABS and LEAKY_RELU
through rescale_s16.c (TFLite's arithmetic per element). TFLite has no int16 NEG, SQRT, SQUARE,
ELU, RELU_N1_TO_1 or RELU_0_TO_1 (its converter refuses them in 16x8 mode).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from tinydeploy import quantmath as qm
from tinydeploy.ops import intmath as im
from tinydeploy.ops import register
from tinydeploy.ops.base import (GeneratedOp, Kernel, Layer, OpContext, OpSpec, Tensor,
                                 TensorArg, same_shape_as_input)
from tinydeploy.ops.pointwise import (LUT, LUT16, MATH_F32, RESCALE16, UNARY, UNARY_F32,
                                      UNARY_S32, LutParams, UnaryParams, lower_float,
                                      lut16_layer, require_int16, rescale16_layer)

f32 = np.float32

M_SQRT1_2 = 0.70710678118654752440
M_2_SQRTPI = 1.12837916709551257390


def clamp8(v: int) -> int:
    return min(127, max(-128, v))


# ---- the int8 tables, one per operator: (input, output, node) -> 256 entries by byte ----

def _abs(x: Tensor, y: Tensor, ctx: OpContext) -> np.ndarray:
    if f32(x.scale0) == f32(y.scale0):
        return im.byte_table(lambda v: clamp8(abs(v - x.zp0) + y.zp0))
    m, s = qm.quantize_multiplier(float(f32(x.scale0) / f32(y.scale0)))
    return im.byte_table(lambda v: clamp8(im.mbqm(abs(v - x.zp0), m, s) + y.zp0))


def _neg(x: Tensor, y: Tensor, ctx: OpContext) -> np.ndarray:
    return im.byte_table(lambda v: ((-v + 128) & 0xFF) - 128)


def _sqrt(x: Tensor, y: Tensor, ctx: OpContext) -> np.ndarray:
    """TFLite refuses inputs below the zero point at run time; here they give the zero point."""
    def one(v: int) -> int:
        if v <= x.zp0:
            return clamp8(y.zp0)
        root = im.sqrt_f32(f32(x.scale0) * f32(v - x.zp0))
        return clamp8(im.cvt_f2i_x86(root / f32(y.scale0)) + y.zp0)
    return im.byte_table(one)


def _rsqrt(x: Tensor, y: Tensor, ctx: OpContext) -> np.ndarray:
    """TFLite's fixed-point inverse square root; inputs at or below the zero point give 127
    (TFLite gives 127 at the zero point and refuses the inference below it)."""
    m, s = qm.quantize_multiplier(1.0 / float(f32(math.sqrt(float(f32(x.scale0))))
                                              * f32(y.scale0)))
    shift = 20

    def one(v: int) -> int:
        value = v - x.zp0
        if value <= 0:
            return 127
        inv, inv_shift = im.inv_sqrt_multiplier(value)
        data = im.mbqm(1, inv, inv_shift + shift)
        return clamp8(im.mbqm(data, m, s - shift) + y.zp0)
    return im.byte_table(one)


def _float_table(fn: Callable[[np.float32], np.float32]) -> Callable[..., np.ndarray]:
    def table(x: Tensor, y: Tensor, ctx: OpContext) -> np.ndarray:
        return im.lut_populate(x.scale0, x.zp0, y.scale0, y.zp0, fn)
    return table


def _log(x: Tensor, y: Tensor, ctx: OpContext) -> np.ndarray:
    lowest = f32(-128 - y.zp0) * f32(y.scale0)  # non-positive inputs give the output's minimum
    return im.lut_populate(x.scale0, x.zp0, y.scale0, y.zp0,
                           lambda v: lowest if v <= 0 else im.log_f32(v))


def elu_f32(v: np.float32) -> np.float32:
    return im.expm1_f32(v) if v < 0 else v


def gelu_f32(v: np.float32) -> np.float32:
    """TFLite's GeluTransform: 0.5 x erfc(-x / sqrt(2)) in float32."""
    return f32(0.5) * v * im.erfc_f32(v * f32(-M_SQRT1_2))


def gelu_tanh_f32(v: np.float32) -> np.float32:
    """TFLite's GeluTransformApproximate: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    inner = v + f32(0.044715) * v * v * v
    return f32(0.5) * v * (f32(1) + im.tanh_f32(f32(M_2_SQRTPI * M_SQRT1_2) * inner))


def _gelu(x: Tensor, y: Tensor, ctx: OpContext) -> np.ndarray:
    fn = gelu_tanh_f32 if ctx.option("approximate", False) else gelu_f32
    return im.lut_populate(x.scale0, x.zp0, y.scale0, y.zp0, fn)


def _leaky_relu(x: Tensor, y: Tensor, ctx: OpContext) -> np.ndarray:
    alpha = f32(ctx.option("alpha", 0.0))
    ctx.require(alpha >= 0, f"LEAKY_RELU alpha {alpha} < 0 (int8 kernel takes alpha >= 0)")
    ma, sa = qm.quantize_multiplier(float(f32(x.scale0) * alpha / f32(y.scale0)))
    mi, si = qm.quantize_multiplier(float(f32(x.scale0) / f32(y.scale0)))

    def one(v: int) -> int:
        d = v - x.zp0
        return clamp8(y.zp0 + (im.mbqm(d, mi, si) if d >= 0 else im.mbqm(d, ma, sa)))
    return im.byte_table(one)


def _relu_x(lo: float, hi: float) -> Callable[..., np.ndarray]:
    """TFLite's ReluX: rescale, then clamp to [lo, hi] quantized (roundf of a float32 ratio)."""
    def table(x: Tensor, y: Tensor, ctx: OpContext) -> np.ndarray:
        m, s = qm.quantize_multiplier(float(f32(x.scale0) / f32(y.scale0)))
        qlo = max(-128, y.zp0 + qm.round_half_away(float(f32(lo) / f32(y.scale0))))
        qhi = min(127, y.zp0 + qm.round_half_away(float(f32(hi) / f32(y.scale0))))
        return im.byte_table(lambda v: min(qhi, max(qlo, y.zp0 + im.mbqm(v - x.zp0, m, s))))
    return table


INT8_TABLES: dict[str, Callable[..., np.ndarray]] = {
    "ABS": _abs, "NEG": _neg, "SQRT": _sqrt, "RSQRT": _rsqrt, "EXP": _float_table(im.exp_f32),
    "LOG": _log, "ELU": _float_table(elu_f32), "GELU": _gelu, "LEAKY_RELU": _leaky_relu,
    "RELU_N1_TO_1": _relu_x(-1.0, 1.0), "RELU_0_TO_1": _relu_x(0.0, 1.0)}


def _lower_int8(ctx: OpContext) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    ctx.require_type(("int8",), x, y)
    table = INT8_TABLES[ctx.op.opcode](x, y, ctx)
    params = LutParams(size=x.size, table=f"{ctx.name}_table")
    return Layer(ctx.op, LUT, params, [ctx.const("table", "int8_t", table)],
                 [TensorArg(x.index), TensorArg(y.index)], [x.index], [y.index], inplace=True)


def _lower_s32(ctx: OpContext) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    for t in (x, y):
        ctx.require(t.dtype == "int32", f"tensor '{t.name}' is {t.dtype}, the op's type is int32")
    params = UnaryParams(size=x.size, op=UNARY[ctx.op.opcode])
    return Layer(ctx.op, UNARY_S32, params, [], [TensorArg(x.index), TensorArg(y.index)],
                 [x.index], [y.index], inplace=True)


# ---- int16 (16x8) ----

def _lower_lut16(ctx: OpContext) -> Layer:
    """EXP, LOG, RSQRT and GELU: LUTPopulate<int16_t> of the float32 function TFLite's Prepare
    passes it (LOG and RSQRT give fixed values at and below 0, as TFLite's do)."""
    y, op = ctx.output(0), ctx.op.opcode
    if op == "EXP":
        fn: Callable[[np.float32], np.float32] = im.exp_f32
    elif op == "LOG":
        lowest = f32(-32768 - y.zp0) * f32(y.scale0)
        fn = lambda v: lowest if v <= 0 else im.log_f32(v)  # noqa: E731
    elif op == "RSQRT":
        top = f32(32767) * f32(y.scale0)
        fn = lambda v: top if v <= 0 else f32(1) / im.sqrt_f32(v)  # noqa: E731
    else:
        fn = gelu_tanh_f32 if ctx.option("approximate", False) else gelu_f32
    return lut16_layer(ctx, fn)


def _lower_abs16(ctx: OpContext) -> Layer:
    """|x| rescaled where the scales differ (TFLite divides them in float), clamped."""
    x, y = ctx.input(0), ctx.output(0)
    require_int16(ctx, x, y)
    if f32(x.scale0) == f32(y.scale0):
        return rescale16_layer(ctx, x, y, None, (0, 0), absolute=True)
    m = qm.quantize_multiplier(float(f32(x.scale0) / f32(y.scale0)))
    return rescale16_layer(ctx, x, y, m, m, absolute=True)


def _lower_leaky_relu16(ctx: OpContext) -> Layer:
    """TFLite's QuantizeLeakyRelu: x times one multiplier at or above the zero point, alpha times
    it below (both ratios formed in float)."""
    x, y = ctx.input(0), ctx.output(0)
    require_int16(ctx, x, y)
    alpha = f32(ctx.option("alpha", 0.0))
    ctx.require(alpha >= 0, f"LEAKY_RELU alpha {alpha} < 0 (the int16 kernel takes alpha >= 0)")
    identity = qm.quantize_multiplier(float(f32(x.scale0) / f32(y.scale0)))
    slope = qm.quantize_multiplier(float(f32(x.scale0) * alpha / f32(y.scale0)))
    return rescale16_layer(ctx, x, y, identity, slope)


# ---- test models ----

def _generate(rng: np.random.Generator, qtype: str, opcode: str) -> GeneratedOp:
    import tensorflow as tf

    from tinydeploy.ops.binary import generated, keras_model
    from tinydeploy.tflite_writer import Op, T, build, pack, unpack

    h, w, c = int(rng.integers(2, 9)), int(rng.integers(2, 9)), int(rng.integers(1, 6))
    shape = (h, w, c)
    alpha = float(f32(rng.uniform(0.01, 0.6)))
    approximate = bool(rng.integers(0, 2))
    if (qtype == "int8" and opcode in ("ELU", "RELU_0_TO_1", "NEG")) or (
            qtype == "float32" and opcode == "RELU_0_TO_1"):
        # the converter keeps these in float or rewrites them (RELU_0_TO_1 as MINIMUM and
        # RELU): written directly
        if qtype == "float32":
            tensors = [T((1, *shape), "float32", name="in0"), T((1, *shape), "float32")]
        else:
            sx, sy = float(f32(rng.uniform(0.01, 0.08))), float(f32(rng.uniform(0.005, 0.05)))
            zx, zy = int(rng.integers(-40, 40)), int(rng.integers(-128, -60))
            if opcode == "NEG":  # LiteRT negates the raw value: one scale, zero point 0
                sy, zx, zy = sx, 0, 0
            tensors = [T((1, *shape), "int8", scale=[sx], zero_point=[zx], name="in0"),
                       T((1, *shape), "int8", scale=[sy], zero_point=[zy], name="out")]
        model = unpack(build(tensors, [Op(opcode, [0], [1])], [0], [1]))
        model.operatorCodes[0].version = 2 if opcode == "ELU" else 1
        return GeneratedOp(f"{opcode.lower()} {shape} {qtype} (written)", tflite=pack(model))
    # SQRT, RSQRT and LOG of positive values (TFLite refuses negative int8 SQRT and RSQRT
    # inputs, and float NaNs compare unequal)
    positive = {"SQRT": tf.abs, "RSQRT": tf.abs, "LOG": tf.abs}.get(opcode, lambda v: v)
    if qtype == "int8" and opcode in ("RSQRT", "LOG"):
        positive = {"RSQRT": lambda v: tf.abs(v) + 0.05, "LOG": lambda v: tf.abs(v) + 0.05}[opcode]
    fns = {"ABS": tf.abs, "NEG": tf.negative, "SQUARE": tf.square, "SQRT": tf.sqrt,
           "RSQRT": tf.math.rsqrt, "EXP": tf.exp, "LOG": tf.math.log, "ELU": tf.nn.elu,
           "GELU": lambda v: tf.nn.gelu(v, approximate=approximate),
           "LEAKY_RELU": lambda v: tf.nn.leaky_relu(v, alpha),
           "RELU_N1_TO_1": lambda v: tf.clip_by_value(v, -1.0, 1.0),
           "RELU_0_TO_1": lambda v: tf.clip_by_value(v, 0.0, 1.0),
           "FLOOR": tf.floor, "CEIL": tf.math.ceil, "ROUND": tf.round, "COS": tf.cos,
           "SIN": tf.sin}
    fn = fns[opcode]
    dtype = "int32" if qtype == "int32" else "float32"
    model = keras_model([shape], lambda v: fn(positive(v)), dtype)
    extra = {"GELU": f" approximate={approximate}", "LEAKY_RELU": f" alpha={alpha:.3f}"}
    gen = generated(f"{opcode.lower()} {shape}{extra.get(opcode, '')}", model, qtype, rng,
                    scale=1.0 if opcode == "EXP" else 2.0)
    if opcode == "ABS" and qtype == "int32" and gen.tflite is not None:
        # TensorFlow 2.21 marks int32 ABS version 5; LiteRT 2.3 registers ABS up to version 3,
        # whose kernel runs int32 the same way
        fixed = unpack(gen.tflite)
        for code in fixed.operatorCodes:
            code.version = min(code.version, 3)
        gen.tflite = pack(fixed)
    return gen


INT16 = {"EXP": _lower_lut16, "LOG": _lower_lut16, "RSQRT": _lower_lut16, "GELU": _lower_lut16,
         "ABS": _lower_abs16, "LEAKY_RELU": _lower_leaky_relu16}


def _spec(opcode: str, int8: bool, floats: bool, int32: bool, options: str | None = None
          ) -> OpSpec:
    lowerings: dict = {}
    kernels: tuple[Kernel, ...] = ()
    if int8:
        lowerings[("int8", None)] = _lower_int8
        kernels += (LUT,)
    if opcode in INT16:
        lowerings[("int16", None)] = INT16[opcode]
        kernels += (LUT16,) if INT16[opcode] is _lower_lut16 else (RESCALE16,)
    if floats:
        lowerings[("float32", None)] = lower_float
        kernels += (UNARY_F32, MATH_F32)
    if int32:
        lowerings[("int32", None)] = _lower_s32
        kernels += (UNARY_S32,)
    return OpSpec(opcode, lowerings, inputs=(1, 1), options=options,
                  infer_shape=same_shape_as_input, kernels=kernels,
                  generate=lambda rng, t: _generate(rng, t, opcode))


register(
    _spec("ABS", True, True, True),
    _spec("NEG", True, True, True),
    _spec("SQUARE", False, True, False),
    _spec("SQRT", True, True, False),
    _spec("RSQRT", True, True, False),
    _spec("EXP", True, True, False, "ExpOptions"),
    _spec("LOG", True, True, False),
    _spec("ELU", True, True, False),
    _spec("GELU", True, True, False, "GeluOptions"),
    _spec("LEAKY_RELU", True, True, False, "LeakyReluOptions"),
    _spec("RELU_N1_TO_1", True, True, False),
    _spec("RELU_0_TO_1", True, True, False),
    _spec("FLOOR", False, True, False),
    _spec("CEIL", False, True, False),
    _spec("ROUND", False, True, False),
    _spec("COS", False, True, False),
    _spec("SIN", False, True, False),
)
