"""Element-wise binary arithmetic with 4-D broadcasting: SUB, MAXIMUM, MINIMUM,
SQUARED_DIFFERENCE, DIV and PRELU in int8, int32 and float32 as TFLite's reference kernels define
them, ADD_N (float32 and int32: TFLite has no int8 ADD_N kernel; its converter leaves the op
in float between DEQUANTIZE and QUANTIZE), and FLOOR_DIV and FLOOR_MOD in float32 and int32
(TFLite Micro's take float32 only; LiteRT's int8 and int16 ones ignore the quantization).
int16 (16x8): SUB (ADD's int16 kernel, add_s16.c, general or power-of-two path), MAXIMUM and
MINIMUM (raw comparisons); LiteRT has no int16 SQUARED_DIFFERENCE, DIV or PRELU kernel.

int8 SUB is ADD's kernel (td_add_s8) with the second input's rescaled table negated: TFLite's SUB
rescales both inputs exactly as ADD does (20-bit left shift, one table entry per int8 value) and
subtracts, and t1[a] + (-t2[b]) is t1[a] - t2[b] in int32. SQUARED_DIFFERENCE rescales the same
way with a 7-bit shift and squares the difference. int8 DIV (div_s8.c) runs TFLite's fixed-point
division, including what its reference does on x86 for quotients of small numerators (shift
counts past 31, taken modulo 32): a table holds the reciprocal of every divisor byte.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinydeploy import quantmath as qm
from tinydeploy.ops import intmath as im
from tinydeploy.ops import register
from tinydeploy.ops.base import (GeneratedOp, Kernel, Layer, OpContext, OpSpec, Params, Tensor,
                                 TensorArg, TensorListArg, broadcast_shape, cfield)
from tinydeploy.ops.elementwise import (ACTIVATIONS, ADD, ADD16, ARITH_F32, ARITH_S32, OPS,
                                        ArithParams, BinaryParams, _binary_layer, add_layer,
                                        lower_add_sub16)
from tinydeploy.ops.elementwise import _geometry as _int8_geometry

@dataclass
class DivParams(Params):
    C_NAME = "td_div_params"
    C_DOC = "int8 DIV: TFLite's fixed-point quotient per element, 4-D broadcasting."
    out_dims: list[int] = cfield("int32_t", count=4)
    in1_strides: list[int] = cfield("int32_t", count=4)
    in2_strides: list[int] = cfield("int32_t", count=4)
    input1_offset: int = cfield("int32_t")
    input2_offset: int = cfield("int32_t")
    output_offset: int = cfield("int32_t")
    output_multiplier: int = cfield("int32_t")
    output_shift: int = cfield("int32_t")
    act_min: int = cfield("int32_t")
    act_max: int = cfield("int32_t")
    recip: str | None = cfield("const int32_t *", "Q0.31 reciprocal of |divisor|, by byte")
    recip_shift: str | None = cfield("const int8_t *", "its bits above one, by divisor byte")


@dataclass
class PreluParams(Params):
    C_NAME = "td_prelu_params"
    C_DOC = "int8 PRELU: x (input 1) times alpha (input 2, broadcast) where x < 0."
    out_dims: list[int] = cfield("int32_t", count=4)
    in1_strides: list[int] = cfield("int32_t", count=4)
    in2_strides: list[int] = cfield("int32_t", count=4)
    input_offset: int = cfield("int32_t")
    alpha_offset: int = cfield("int32_t")
    output_offset: int = cfield("int32_t")
    multiplier_pos: int = cfield("int32_t")
    shift_pos: int = cfield("int32_t")
    multiplier_neg: int = cfield("int32_t")
    shift_neg: int = cfield("int32_t")


@dataclass
class AddNParams(Params):
    C_NAME = "td_add_n_params"
    size: int = cfield("int32_t")
    count: int = cfield("int32_t", "inputs summed")


_ARGS8 = ("const int8_t *in1", "const int8_t *in2", "int8_t *out")
MAXMIN_S8 = Kernel("td_maximum_minimum_s8", ArithParams, _ARGS8)
MAXMIN_S16 = Kernel("td_maximum_minimum_s16", ArithParams,
                    ("const int16_t *in1", "const int16_t *in2", "int16_t *out"))
SQDIFF_S8 = Kernel("td_squared_difference_s8", BinaryParams, _ARGS8)
DIV_S8 = Kernel("td_div_s8", DivParams, _ARGS8)
PRELU_S8 = Kernel("td_prelu_s8", PreluParams, _ARGS8)
PRELU_F32 = Kernel("td_prelu_f32", ArithParams, ("const float *in1", "const float *in2",
                                                 "float *out"))
ADD_N_F32 = Kernel("td_add_n_f32", AddNParams, ("const float *const *ins", "float *out"))
ADD_N_S32 = Kernel("td_add_n_s32", AddNParams, ("const int32_t *const *ins", "int32_t *out"))


# ---- geometry shared by the element-wise families ----

def strides4(t: Tensor) -> list[int]:
    """Element strides of `t` on the output's 4-D view (right-aligned), 0 where broadcast."""
    shape = [1] * (4 - len(t.shape)) + list(t.shape)
    st, acc = [0] * 4, 1
    for i in range(3, -1, -1):
        st[i] = acc if shape[i] != 1 else 0
        acc *= shape[i]
    return st


def out_dims4(ctx: OpContext, y: Tensor) -> list[int]:
    """The output's shape as 4 dimensions (4-D broadcasting at most)."""
    ctx.require(len(y.shape) <= 4, f"{len(y.shape)}-D element-wise operation (4-D at most)")
    return [1] * (4 - len(y.shape)) + list(y.shape)


def infer_broadcast(ctx: OpContext) -> list[tuple[int, ...]]:
    """The output shape of a two-input element-wise op."""
    return [broadcast_shape(ctx, ctx.input(0).shape, ctx.input(1).shape)]


def operand_args(ctx: OpContext, tensors: list[Tensor]) -> tuple[list, list[int]]:
    """Kernel arguments for element-wise operands (activations, or constants read in flash)
    and the tensors the layer reads."""
    args, reads = [], []
    for t in tensors:
        args.append(TensorArg(t.index))
        if not t.is_constant:
            reads.append(t.index)
    return args, reads


def elementwise_layer(ctx: OpContext, kernel: Kernel, params: Params, ins: list[Tensor],
                      y: Tensor, consts: list | None = None) -> Layer:
    """One kernel call over broadcast operands; in place over the first input where it has the
    output's size and type and is not a constant."""
    args, reads = operand_args(ctx, ins)
    x = ins[0]
    inplace = (not x.is_constant and x.size == y.size and x.dtype == y.dtype)
    return Layer(ctx.op, kernel, params, consts or [], args + [TensorArg(y.index)], reads,
                 [y.index], inplace=inplace)


def _same_types(ctx: OpContext, dtype: str, *tensors: Tensor) -> None:
    for t in tensors:
        ctx.require(t.dtype == dtype, f"tensor '{t.name}' is {t.dtype}, the op's type is {dtype}")


# ---- int32 and float32 ----

def lower_arith(ctx: OpContext, dtype: str) -> Layer:
    """int32 or float32 ADD, MUL, SUB, DIV (with their fused activation), MAXIMUM, MINIMUM and
    SQUARED_DIFFERENCE in one broadcasting kernel per type, in TFLite's arithmetic order."""
    a, b, y = ctx.input(0), ctx.input(1), ctx.output(0)
    _same_types(ctx, dtype, a, b, y)
    act = ctx.activation if ctx.op.opcode in ("ADD", "MUL", "SUB", "DIV") else "NONE"
    ctx.require(act in ACTIVATIONS, f"fused activation {act}")
    params = ArithParams(out_dims=out_dims4(ctx, y), in1_strides=strides4(a),
                         in2_strides=strides4(b), op=OPS[ctx.op.opcode],
                         activation=ACTIVATIONS[act])
    kernel = ARITH_S32 if dtype == "int32" else ARITH_F32
    return elementwise_layer(ctx, kernel, params, [a, b], y)


# ---- int8 ----

def _lower_sub_s8(ctx: OpContext) -> Layer:
    a, b, y, _ = _int8_geometry(ctx)
    q = qm.add_params(a.scale0, b.scale0, y.scale0)
    ctx.require(q["output_shift"] <= 0, "output scale too small for TFLite's int8 SUB (its "
                                        "rescale needs a multiplier below one)")
    return add_layer(ctx, second_sign=-1)


def _lower_maxmin(ctx: OpContext) -> Layer:
    """TFLite compares the raw int8 or int16 values (it requires no common scale; the converter
    gives the inputs the output's)."""
    a, b, y = ctx.input(0), ctx.input(1), ctx.output(0)
    ctx.require_type((a.dtype,) if a.dtype in ("int8", "int16") else ("int8",), a, b, y)
    params = ArithParams(out_dims=out_dims4(ctx, y), in1_strides=strides4(a),
                         in2_strides=strides4(b), op=OPS[ctx.op.opcode])
    return elementwise_layer(ctx, MAXMIN_S8 if a.dtype == "int8" else MAXMIN_S16, params, [a, b], y)


def _lower_sqdiff_s8(ctx: OpContext) -> Layer:
    a, b, y, geo = _int8_geometry(ctx)
    left_shift = 7
    s1, s2, so = (float(np.float32(t.scale0)) for t in (a, b, y))
    twice = float(np.float32(2) * np.float32(max(s1, s2)))
    m1, sh1 = qm.quantize_multiplier(s1 / twice)
    m2, sh2 = qm.quantize_multiplier(s2 / twice)
    mo, sho = qm.quantize_multiplier(twice * twice / float(np.float32(1 << 2 * left_shift)
                                                           * np.float32(so)))
    ctx.require(sho <= 0, "output scale too small for TFLite's int8 SQUARED_DIFFERENCE (its "
                          "rescale needs a multiplier below one)")
    t1 = qm.add_input_table(a.zp0, left_shift, m1, sh1)
    t2 = qm.add_input_table(b.zp0, left_shift, m2, sh2)
    params = BinaryParams(**geo, left_shift=left_shift,  # type: ignore[arg-type]
                          output_multiplier=mo, output_shift=sho,
                          table1=f"{ctx.name}_table1", table2=f"{ctx.name}_table2")
    consts = [ctx.const("table1", "int32_t", t1), ctx.const("table2", "int32_t", t2)]
    return _binary_layer(ctx, SQDIFF_S8, a, b, y, params, consts)


def _lower_div_s8(ctx: OpContext) -> Layer:
    a, b, y, geo = _int8_geometry(ctx)
    real = float(np.float32(a.scale0) / (np.float32(b.scale0) * np.float32(y.scale0)))
    m, s = qm.quantize_multiplier(real)
    # the quotient's final shift is s - (bits of the divisor above one) - (headroom of the
    # numerator): it must stay a right shift, and one of at most 62 bits (x86's 64-bit mask)
    ctx.require(-24 <= s <= 23, f"DIV's rescale {real:.3g} (input 1 scale over the product of "
                                "input 2's and the output's) is outside the int8 kernel's range")
    recip, shift = np.zeros(256, np.int64), np.zeros(256, np.int64)
    for v in range(-128, 128):
        d = abs(v - b.zp0)
        if d:
            recip[v & 0xFF], shift[v & 0xFF] = im.reciprocal(d)
    act = qm.activation_range(ctx.activation, y.scale0, y.zp0)
    params = DivParams(out_dims=geo["out_dims"], in1_strides=geo["in1_strides"],
                       in2_strides=geo["in2_strides"], input1_offset=-a.zp0,
                       input2_offset=-b.zp0, output_offset=y.zp0, output_multiplier=m,
                       output_shift=s, act_min=act[0], act_max=act[1],
                       recip=f"{ctx.name}_recip", recip_shift=f"{ctx.name}_rshift")
    consts = [ctx.const("recip", "int32_t", recip), ctx.const("rshift", "int8_t", shift)]
    return elementwise_layer(ctx, DIV_S8, params, [a, b], y, consts)


def _lower_prelu(ctx: OpContext) -> Layer:
    x, alpha, y = ctx.input(0), ctx.input(1), ctx.output(0)
    ctx.require(tuple(y.shape) == tuple(x.shape), "PRELU's alpha must broadcast to the "
                                                  "input's shape")
    geo = ArithParams(out_dims=out_dims4(ctx, y), in1_strides=strides4(x),
                      in2_strides=strides4(alpha))
    if x.dtype == "float32":
        _same_types(ctx, "float32", alpha, y)
        return elementwise_layer(ctx, PRELU_F32, geo, [x, alpha], y)
    ctx.require_type(("int8",), x, alpha, y)
    sx, sa, sy = (np.float32(t.scale0) for t in (x, alpha, y))
    m1, sh1 = qm.quantize_multiplier(float(sx / sy))
    m2, sh2 = qm.quantize_multiplier(float(sx * sa / sy))
    params = PreluParams(out_dims=geo.out_dims, in1_strides=geo.in1_strides,
                         in2_strides=geo.in2_strides, input_offset=-x.zp0,
                         alpha_offset=-alpha.zp0, output_offset=y.zp0, multiplier_pos=m1,
                         shift_pos=sh1, multiplier_neg=m2, shift_neg=sh2)
    return elementwise_layer(ctx, PRELU_S8, params, [x, alpha], y)


def _infer_prelu(ctx: OpContext) -> list[tuple[int, ...]]:
    return [broadcast_shape(ctx, ctx.input(0).shape, ctx.input(1).shape)]


def _infer_add_n(ctx: OpContext) -> list[tuple[int, ...]]:
    xs = [ctx.input(i) for i in range(len(ctx.op.inputs))]
    ctx.require(all(tuple(t.shape) == tuple(xs[0].shape) for t in xs),
                f"ADD_N inputs of different shapes {[list(t.shape) for t in xs]}")
    return [xs[0].shape]


def _lower_add_n(ctx: OpContext, dtype: str) -> Layer:
    """TFLite sums from 0 in input order (one thread; its threaded split starts at 4 inputs
    with several threads, which the reference interpreter does not use)."""
    xs = [ctx.input(i) for i in range(len(ctx.op.inputs))]
    y = ctx.output(0)
    _same_types(ctx, dtype, y, *xs)
    ctype = "const float *" if dtype == "float32" else "const int32_t *"
    return Layer(ctx.op, ADD_N_F32 if dtype == "float32" else ADD_N_S32,
                 AddNParams(size=y.size, count=len(xs)), [],
                 [TensorListArg(tuple(t.index for t in xs), ctype), TensorArg(y.index)],
                 [t.index for t in xs if not t.is_constant], [y.index])


# ---- test models ----

def shapes(rng: np.random.Generator) -> tuple[tuple[int, ...], tuple[int, ...], str]:
    """Two broadcast-compatible shapes (without the batch) and a description: same shape, the
    second broadcast along some axes, the first broadcast, or a lower-rank second input (seeds
    0 to 4 give all five)."""
    kind = ["same", "channel", "row", "first", "rank"][int(rng.random() * 5)]
    h, w, c = int(rng.integers(2, 7)), int(rng.integers(2, 7)), int(rng.integers(1, 6))
    full = (h, w, c)
    if kind == "same":
        return full, full, kind
    if kind == "channel":
        return full, (1, 1, c), kind
    if kind == "row":
        return full, (1, w, 1), kind
    if kind == "first":
        return (h, 1, c), full, kind
    return full, (c,), kind


def keras_model(inputs: list[tuple[int, ...]], fn: Callable[..., Any], dtype: str = "float32"
                ) -> Any:
    """A Keras model with batch-1 inputs named in0, in1, ... (the calibrator's order) whose
    output is fn(inputs) inside a Lambda layer; for bool inputs (which Keras cannot trace) a
    tf.Module with the same signature."""
    import keras

    if dtype == "bool":
        return _BoolModel(inputs, fn)

    ins = [keras.Input(s, batch_size=1, name=f"in{i}", dtype=dtype) for i, s in enumerate(inputs)]
    out = keras.layers.Lambda(lambda t: fn(*t) if isinstance(t, (list, tuple)) else fn(t))(
        ins if len(ins) > 1 else ins[0])
    return keras.Model(ins if len(ins) > 1 else ins[0], out)


class _BoolModel:
    """A TensorFlow function of bool inputs, converted without quantization."""

    def __init__(self, inputs: list[tuple[int, ...]], fn: Callable[..., Any]) -> None:
        import tensorflow as tf

        specs = [tf.TensorSpec((1, *s), tf.bool, name=f"in{i}") for i, s in enumerate(inputs)]
        self.module = tf.Module()
        self.module.f = tf.function(lambda *xs: fn(*xs), input_signature=specs)

    def convert(self) -> bytes:
        import tensorflow as tf

        cf = self.module.f.get_concrete_function()
        return bytes(tf.lite.TFLiteConverter.from_concrete_functions([cf], self.module).convert())


def generated(description: str, model: Any, qtype: str, rng: np.random.Generator,
              scale: float = 2.0) -> GeneratedOp:
    """int8 and int16 (16x8): a Keras model and representative data (opgen quantizes it);
    float32 and int32: the converted model as it is, unquantized."""
    if qtype in ("int8", "int16"):
        reps = [rng.normal(0, scale, (32, *[int(d) for d in i.shape[1:]])).astype(np.float32)
                for i in model.inputs]
        return GeneratedOp(f"{description} {qtype}", model, reps)
    import tensorflow as tf

    from tinydeploy.captured_output import captured_output

    with captured_output():
        data = model.convert() if isinstance(model, _BoolModel) else \
            bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return GeneratedOp(f"{description} {qtype}", tflite=data)


def _generate(rng: np.random.Generator, qtype: str, opcode: str) -> GeneratedOp:
    import tensorflow as tf

    s1, s2, kind = shapes(rng)
    act_draw = rng.random()
    dtype = "int32" if qtype == "int32" else "float32"
    # fused activations where the converter fuses them (float and int8 SUB and DIV)
    act = ["none", "relu", "relu6"][int(act_draw * 3)] \
        if opcode in ("SUB", "DIV") and qtype != "int32" else "none"
    fused = {"none": lambda v: v, "relu": tf.nn.relu, "relu6": tf.nn.relu6}[act]
    div = {"int8": lambda a, b: a / (tf.abs(b) + 1.0),  # divisors never at the zero point
           "int16": lambda a, b: a / (tf.abs(b) + 1.0),
           "float32": tf.math.truediv,
           "int32": lambda a, b: tf.raw_ops.Div(x=a, y=b)}[qtype]
    fns = {"SUB": lambda a, b: fused(a - b), "MAXIMUM": tf.maximum, "MINIMUM": tf.minimum,
           "SQUARED_DIFFERENCE": tf.math.squared_difference,
           "DIV": lambda a, b: fused(div(a, b))}
    model = keras_model([s1, s2], fns[opcode], dtype)
    return generated(f"{opcode.lower()} {s1} {s2} ({kind}) act={act}", model, qtype, rng)


def _generate_prelu(rng: np.random.Generator, qtype: str) -> GeneratedOp:
    import keras

    h, w, c = int(rng.integers(2, 7)), int(rng.integers(2, 7)), int(rng.integers(1, 6))
    shared = [None, [1, 2], [1], [3]][int(rng.integers(0, 4))]
    x = keras.Input((h, w, c), batch_size=1, name="in0")
    layer = keras.layers.PReLU(shared_axes=shared)
    model = keras.Model(x, layer(x))
    layer.set_weights([rng.uniform(-0.5, 1.0, layer.get_weights()[0].shape).astype(np.float32)])
    return generated(f"prelu {(h, w, c)} shared_axes={shared}", model, qtype, rng)


def _generate_add_n(rng: np.random.Generator, qtype: str) -> GeneratedOp:
    import tensorflow as tf

    n = int(rng.integers(2, 5))
    shape = (int(rng.integers(2, 6)), int(rng.integers(2, 6)), int(rng.integers(1, 5)))
    dtype = "int32" if qtype == "int32" else "float32"
    model = keras_model([shape] * n, lambda *t: tf.math.add_n(list(t)), dtype)
    return generated(f"add_n {n} x {shape}", model, qtype, rng)


def _generate_floor(rng: np.random.Generator, qtype: str, opcode: str) -> GeneratedOp:
    """FLOOR_DIV or FLOOR_MOD of two inputs, or of one input by a constant divisor of small
    values of both signs (random int32 inputs span the whole range: small divisors give varied
    quotients). Divisors are never 0, which TFLite refuses at run time."""
    import tensorflow as tf

    from tinydeploy.tflite_writer import Op, T, build

    fn = tf.math.floordiv if opcode == "FLOOR_DIV" else tf.math.floormod
    dtype = "int32" if qtype == "int32" else "float32"
    s1, s2, kind = shapes(rng)
    if rng.random() < 0.5:
        return generated(f"{opcode.lower()} {s1} {s2} ({kind})",
                         keras_model([s1, s2], fn, dtype), qtype, rng)
    # a constant operand (Keras cannot trace one into this op): written directly
    s1 = tuple(max(a, b) for a, b in zip(s1, s2)) if len(s2) == len(s1) else s1
    d_shape = (1, *s2) if len(s2) == len(s1) else s2
    magnitude = rng.integers(1, 9, d_shape) if dtype == "int32" else rng.uniform(0.25, 3, d_shape)
    divisor = (magnitude * rng.choice([-1, 1], d_shape)).astype(dtype)
    tensors = [T((1, *s1), dtype, name="in0"), T(d_shape, dtype, data=divisor),
               T((1, *s1), dtype)]
    return GeneratedOp(f"{opcode.lower()} {s1} by constant {d_shape} ({kind}) {qtype}",
                       tflite=build(tensors, [Op(opcode, [0, 1], [2])], [0], [2]))


def _floor_spec(opcode: str) -> OpSpec:
    return OpSpec(opcode, {("int32", None): lambda ctx: lower_arith(ctx, "int32"),
                           ("float32", None): lambda ctx: lower_arith(ctx, "float32")},
                  inputs=(2, 2), infer_shape=infer_broadcast, kernels=(ARITH_S32, ARITH_F32),
                  generate=lambda rng, t: _generate_floor(rng, t, opcode))


def _spec(opcode: str, types: tuple[str, ...], options: str | None) -> OpSpec:
    lowerings = {("int32", None): lambda ctx: lower_arith(ctx, "int32"),
                 ("float32", None): lambda ctx: lower_arith(ctx, "float32")}
    int8 = {"SUB": _lower_sub_s8, "MAXIMUM": _lower_maxmin, "MINIMUM": _lower_maxmin,
            "SQUARED_DIFFERENCE": _lower_sqdiff_s8, "DIV": _lower_div_s8}[opcode]
    lowerings[("int8", None)] = int8
    kernels = {"SUB": (ADD,), "MAXIMUM": (MAXMIN_S8,), "MINIMUM": (MAXMIN_S8,),
               "SQUARED_DIFFERENCE": (SQDIFF_S8,), "DIV": (DIV_S8,)}[opcode]
    int16 = {"SUB": (lambda ctx: lower_add_sub16(ctx, subtract=True), ADD16),
             "MAXIMUM": (_lower_maxmin, MAXMIN_S16), "MINIMUM": (_lower_maxmin, MAXMIN_S16)}
    if opcode in int16:  # LiteRT has no int16 SQUARED_DIFFERENCE or DIV
        lowerings[("int16", None)], kernel16 = int16[opcode]
        kernels += (kernel16,)
    return OpSpec(opcode, {k: v for k, v in lowerings.items() if k[0] in types}, inputs=(2, 2),
                  options=options, infer_shape=infer_broadcast,
                  kernels=kernels + (ARITH_S32, ARITH_F32),
                  generate=lambda rng, t: _generate(rng, t, opcode))


ALL = ("int8", "int16", "int32", "float32")
register(
    _spec("SUB", ALL, "SubOptions"),
    _spec("MAXIMUM", ALL, None),
    _spec("MINIMUM", ALL, None),
    _spec("SQUARED_DIFFERENCE", ALL, None),
    _spec("DIV", ALL, "DivOptions"),
    OpSpec("PRELU", {("int8", None): _lower_prelu, ("float32", None): _lower_prelu},
           inputs=(2, 2), infer_shape=_infer_prelu, kernels=(PRELU_S8, PRELU_F32),
           generate=_generate_prelu),
    OpSpec("ADD_N", {("float32", None): lambda ctx: _lower_add_n(ctx, "float32"),
                     ("int32", None): lambda ctx: _lower_add_n(ctx, "int32")},
           inputs=(2, 64), infer_shape=_infer_add_n, kernels=(ADD_N_F32, ADD_N_S32),
           generate=_generate_add_n),
    _floor_spec("FLOOR_DIV"),
    _floor_spec("FLOOR_MOD"),
)
