"""Comparisons (EQUAL, NOT_EQUAL, LESS, LESS_EQUAL, GREATER, GREATER_EQUAL) with a bool output, and
SELECT / SELECT_V2, all with 4-D broadcasting.

int8 comparisons rescale both inputs to a common scale first, as TFLite does: (q - zero point)
shifted left 8 bits times the input's own scale (a Q31 multiplier), then compare; each input's
rescaled value depends on its byte alone, so the compiler tabulates it (256 entries per input).
int32, float32 and bool (EQUAL and NOT_EQUAL) compare the values themselves. SELECT copies bits
(TFLite does not requantize: the converter gives x, y and the output one scale).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydeploy import quantmath as qm
from tinydeploy.ops import intmath as im
from tinydeploy.ops import register, register_constant
from tinydeploy.ops.base import (GeneratedOp, Kernel, Layer, OpContext, OpSpec, Params, Tensor,
                                 broadcast_shape, cfield)
from tinydeploy.ops.binary import (elementwise_layer, generated, infer_broadcast, keras_model,
                                   out_dims4, shapes, strides4)

COMPARISONS = {"EQUAL": 0, "NOT_EQUAL": 1, "LESS": 2, "LESS_EQUAL": 3, "GREATER": 4,
               "GREATER_EQUAL": 5}
for _name, _code in COMPARISONS.items():
    register_constant(f"TD_CMP_{_name}", _code, f"td_compare_params.op: {_name}")


@dataclass
class CompareParams(Params):
    C_NAME = "td_compare_params"
    C_DOC = "Comparisons with 4-D broadcasting; the output is bool (one byte, 0 or 1)."
    out_dims: list[int] = cfield("int32_t", count=4)
    in1_strides: list[int] = cfield("int32_t", count=4)
    in2_strides: list[int] = cfield("int32_t", count=4)
    op: int = cfield("int32_t", "TD_CMP_*")
    table1: str | None = cfield("const int32_t *", "int8: input 1 rescaled, by byte", default=None)
    table2: str | None = cfield("const int32_t *", default=None)


@dataclass
class SelectParams(Params):
    C_NAME = "td_select_params"
    C_DOC = "SELECT / SELECT_V2: condition, x and y broadcast over a 4-D output."
    out_dims: list[int] = cfield("int32_t", count=4)
    cond_strides: list[int] = cfield("int32_t", count=4)
    x_strides: list[int] = cfield("int32_t", count=4)
    y_strides: list[int] = cfield("int32_t", count=4)


COMPARE_S8 = Kernel("td_compare_s8", CompareParams,
                    ("const int8_t *in1", "const int8_t *in2", "uint8_t *out"))
COMPARE_S32 = Kernel("td_compare_s32", CompareParams,
                     ("const int32_t *in1", "const int32_t *in2", "uint8_t *out"))
COMPARE_F32 = Kernel("td_compare_f32", CompareParams,
                     ("const float *in1", "const float *in2", "uint8_t *out"))
COMPARE_B = Kernel("td_compare_b", CompareParams,
                   ("const uint8_t *in1", "const uint8_t *in2", "uint8_t *out"))
SELECT_8 = Kernel("td_select_8", SelectParams, ("const uint8_t *cond", "const uint8_t *x",
                                                "const uint8_t *y", "uint8_t *out"),
                  "SELECT of one-byte values (int8, uint8, bool)")
SELECT_32 = Kernel("td_select_32", SelectParams, ("const uint8_t *cond", "const uint32_t *x",
                                                  "const uint32_t *y", "uint32_t *out"),
                   "SELECT of four-byte values (int32, float32)")


def rescale_table(t: Tensor) -> np.ndarray:
    """An int8 comparison input rescaled as TFLite's ComparisonWithScaling does it: ((q - zp) <<
    8) times the tensor's scale, a Q31 multiplier with a right shift."""
    m, s = qm.quantize_multiplier(float(np.float32(t.scale0)))
    return im.byte_table(lambda v: im.rdbpot(im.srdhm(im.i32((v - t.zp0) * 256), m), -s))


def _lower_compare(ctx: OpContext, dtype: str) -> Layer:
    a, b, y = ctx.input(0), ctx.input(1), ctx.output(0)
    ctx.require(b.dtype == dtype, f"inputs of two types ({a.dtype}, {b.dtype})")
    ctx.require(y.dtype == "bool", f"output '{y.name}' is {y.dtype}, comparisons give bool")
    dims, s1, s2, op = out_dims4(ctx, y), strides4(a), strides4(b), COMPARISONS[ctx.op.opcode]
    if dtype != "int8":
        kernel = {"int32": COMPARE_S32, "float32": COMPARE_F32, "bool": COMPARE_B}[dtype]
        params = CompareParams(out_dims=dims, in1_strides=s1, in2_strides=s2, op=op)
        return elementwise_layer(ctx, kernel, params, [a, b], y)
    ctx.require_type(("int8",), a, b)
    for t in (a, b):
        ctx.require(np.float32(t.scale0) < 1, f"tensor '{t.name}' has scale {t.scale0:g}: TFLite's "
                                              "int8 comparison rescale needs a scale below 1")
    params = CompareParams(out_dims=dims, in1_strides=s1, in2_strides=s2, op=op,
                           table1=f"{ctx.name}_table1", table2=f"{ctx.name}_table2")
    consts = [ctx.const("table1", "int32_t", rescale_table(a)),
              ctx.const("table2", "int32_t", rescale_table(b))]
    return elementwise_layer(ctx, COMPARE_S8, params, [a, b], y, consts)


def _infer_select(ctx: OpContext) -> list[tuple[int, ...]]:
    c, x, y = ctx.input(0), ctx.input(1), ctx.input(2)
    if ctx.op.opcode == "SELECT_V2":
        return [broadcast_shape(ctx, broadcast_shape(ctx, c.shape, x.shape), y.shape)]
    ctx.require(tuple(x.shape) == tuple(y.shape), f"SELECT of shapes {list(x.shape)} and "
                                                  f"{list(y.shape)}")
    ctx.require(tuple(c.shape) == tuple(x.shape) or len(c.shape) == 0 or (
        len(c.shape) == 1 and len(x.shape) > 0 and c.shape[0] == x.shape[0]),
        f"SELECT's condition {list(c.shape)} is neither x's shape {list(x.shape)}, a scalar nor "
        "a vector along x's first dimension")
    return [x.shape]


def _lower_select(ctx: OpContext) -> Layer:
    c, x, yin, out = ctx.input(0), ctx.input(1), ctx.input(2), ctx.output(0)
    ctx.require(c.dtype == "bool", f"condition '{c.name}' is {c.dtype}, SELECT takes bool")
    ctx.require(x.dtype == yin.dtype == out.dtype, f"SELECT of {x.dtype} and {yin.dtype} into "
                                                   f"{out.dtype}")
    dims = out_dims4(ctx, out)
    cond = strides4(c)
    if ctx.op.opcode == "SELECT" and len(c.shape) == 1 and len(x.shape) > 1:
        # a vector condition runs along x's first dimension, not its last
        axis = 4 - len(x.shape)
        cond = [1 if i == axis and c.shape[0] > 1 else 0 for i in range(4)]
    params = SelectParams(out_dims=dims, cond_strides=cond, x_strides=strides4(x),
                          y_strides=strides4(yin))
    kernel = SELECT_32 if x.dtype in ("int32", "float32") else SELECT_8
    return elementwise_layer(ctx, kernel, params, [c, x, yin], out)


# ---- test models ----

def _generate_compare(rng: np.random.Generator, qtype: str, opcode: str) -> GeneratedOp:
    import tensorflow as tf

    from tinydeploy.tflite_writer import Op, T, build

    fn = {"EQUAL": tf.math.equal, "NOT_EQUAL": tf.math.not_equal, "LESS": tf.math.less,
          "LESS_EQUAL": tf.math.less_equal, "GREATER": tf.math.greater,
          "GREATER_EQUAL": tf.math.greater_equal}[opcode]
    s1, s2, kind = shapes(rng)
    if qtype == "int8" and opcode == "NOT_EQUAL":
        # the converter keeps NOT_EQUAL in float: written directly, the second input on the
        # first's scale half the time
        scales = [float(np.float32(rng.uniform(0.01, 0.1))) for _ in range(2)]
        zps = [int(rng.integers(-60, 60)) for _ in range(2)]
        if rng.random() < 0.5:
            scales[1], zps[1] = scales[0], zps[0]
        tensors = [T((1, *s1), "int8", scale=[scales[0]], zero_point=[zps[0]], name="in0"),
                   T((1, *s2), "int8", scale=[scales[1]], zero_point=[zps[1]], name="in1"),
                   T((1, *np.broadcast_shapes(s1, s2)), "bool", name="out")]
        data = build(tensors, [Op("NOT_EQUAL", [0, 1], [2])], [0, 1], [2])
        return GeneratedOp(f"not_equal {s1} {s2} ({kind}) scales {scales} zero points {zps} "
                           "int8 (written)", tflite=data)
    if qtype == "int8" and opcode == "EQUAL":
        # equal values must occur: compare x with max(x, y), which often is x (MAXIMUM keeps
        # its input's scale)
        model = keras_model([s1, s2], lambda a, b: fn(a, tf.maximum(a, b)))
    else:
        model = keras_model([s1, s2], fn, qtype if qtype not in ("int8", "int16") else "float32")
    return generated(f"{opcode.lower()} {s1} {s2} ({kind})", model, qtype, rng)


def _generate_select(rng: np.random.Generator, qtype: str, opcode: str) -> GeneratedOp:
    import tensorflow as tf

    h, w, c = int(rng.integers(2, 7)), int(rng.integers(2, 7)), int(rng.integers(1, 6))
    dtype = qtype if qtype in ("int32", "bool") else "float32"
    if opcode == "SELECT":
        s1 = s2 = (h, w, c)
    else:
        s1, s2 = [((h, w, c), (1, 1, c)), ((h, 1, c), (1, w, 1)), ((h, w, c), (c,))][
            int(rng.integers(0, 3))]
    if dtype == "bool":
        def fn(a, b):
            return tf.where(a, b, tf.math.logical_not(b))
    else:
        def fn(a, b):
            return tf.where(a > b, a, b)
    model = keras_model([s1, s2], fn, dtype)
    return generated(f"{opcode.lower()} {s1} {s2}", model, qtype, rng)


def _compare_spec(opcode: str) -> OpSpec:
    types = ("int8", "int32", "float32") + (("bool",) if opcode in ("EQUAL", "NOT_EQUAL") else ())
    return OpSpec(opcode, {(t, None): (lambda ctx, t=t: _lower_compare(ctx, t)) for t in types},
                  inputs=(2, 2), infer_shape=infer_broadcast,
                  kernels=(COMPARE_S8, COMPARE_S32, COMPARE_F32, COMPARE_B),
                  generate=lambda rng, t: _generate_compare(rng, t, opcode))


SELECT_TYPES = ("int8", "int32", "float32", "bool")
register(
    *[_compare_spec(op) for op in COMPARISONS],
    OpSpec("SELECT", {(t, None): _lower_select for t in SELECT_TYPES}, inputs=(3, 3), keyed_by=1,
           infer_shape=_infer_select, kernels=(SELECT_8, SELECT_32),
           generate=lambda rng, t: _generate_select(rng, t, "SELECT")),
    OpSpec("SELECT_V2", {(t, None): _lower_select for t in SELECT_TYPES}, inputs=(3, 3),
           keyed_by=1, infer_shape=_infer_select, kernels=(SELECT_8, SELECT_32),
           generate=lambda rng, t: _generate_select(rng, t, "SELECT_V2")),
)
