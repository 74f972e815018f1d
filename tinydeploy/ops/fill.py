"""FILL and ZEROS_LIKE (fill.c: one element repeated over the output), and SHAPE (the input's
static shape, written by the remap kernel from a constant). FILL's value may be computed at run
time; its dims must be constant (the output's size is fixed at compile time). ZEROS_LIKE takes
what LiteRT's takes: int32, int64 and float32."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydeploy.ops import register
from tinydeploy.ops.base import (ConstArg, GeneratedOp, Kernel, Layer, OpContext, OpSpec, Params,
                                 TensorArg, cfield, same_shape_as_input)
from tinydeploy.ops.movegen import lambda_model, single_op
from tinydeploy.ops.remap import BYTE_TYPES, REMAP, const_remap_layer
from tinydeploy.qtype import qtype
from tinydeploy.tflite_reader import TENSOR_TYPES


@dataclass
class FillParams(Params):
    C_NAME = "td_fill_params"
    C_DOC = "The output: `count` copies of one element of `elem` bytes."
    count: int = cfield("int32_t")
    elem: int = cfield("int32_t")


FILL = Kernel("td_fill", FillParams, ("const uint8_t *value", "uint8_t *out"),
              "FILL and ZEROS_LIKE, any type (tinydeploy/ops/fill.py).")
ZEROS_LIKE_TYPES = ("int32", "int64", "float32")


def _dims(ctx: OpContext) -> list[int]:
    d = ctx.input(0)
    ctx.require(d.dtype in ("int32", "int64") and len(d.shape) == 1,
                f"dims must be a 1-D int32 or int64 tensor, is {list(d.shape)} {d.dtype}")
    dims = [int(v) for v in ctx.constant(0, "dims")]
    ctx.require(all(v >= 0 for v in dims), f"dims {dims}")
    return dims


def _infer_fill(ctx: OpContext) -> list[tuple[int, ...]]:
    ctx.require(ctx.input(1).size == 1 and len(ctx.input(1).shape) == 0,
                "the value must be a scalar")
    return [tuple(_dims(ctx))]


def _lower_fill(ctx: OpContext) -> Layer:
    value, y = ctx.input(1), ctx.output(0)
    ctx.require(value.dtype == y.dtype, f"value {value.dtype}, output {y.dtype}")
    params = FillParams(count=y.size, elem=qtype(y.dtype, ctx.where).size)
    return Layer(ctx.op, FILL, params, [], [TensorArg(value.index), TensorArg(y.index)],
                 [] if value.is_constant else [value.index], [y.index])


def _lower_zeros_like(ctx: OpContext) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    ctx.require(x.dtype == y.dtype, f"input {x.dtype}, output {y.dtype}")
    elem = qtype(y.dtype, ctx.where).size
    params = FillParams(count=y.size, elem=elem)
    return Layer(ctx.op, FILL, params, [ctx.const("zero", "uint8_t", np.zeros(elem, np.uint8))],
                 [ConstArg(f"{ctx.name}_zero"), TensorArg(y.index)], [], [y.index])


def _shape_type(ctx: OpContext) -> str:
    out = TENSOR_TYPES.get(int(ctx.option("out_type", 2)), "?")
    ctx.require(out in ("int32", "int64"), f"SHAPE's out_type {out}")
    return out


def _infer_shape(ctx: OpContext) -> list[tuple[int, ...]]:
    _shape_type(ctx)
    return [(len(ctx.input(0).shape),)]


def _lower_shape(ctx: OpContext) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    ctx.require(y.dtype == _shape_type(ctx), f"output {y.dtype}, out_type {_shape_type(ctx)}")
    return const_remap_layer(ctx, np.array(x.shape, np.int64), y)


def _generate_fill(rng: np.random.Generator, _type: str) -> GeneratedOp:
    import tensorflow as tf

    shape = (1, int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    dims = [int(d) for d in rng.integers(1, 5, int(rng.integers(1, 4)))]
    pick = tuple(int(rng.integers(0, d)) for d in shape)
    return lambda_model(f"fill {dims} with x{list(pick)}", [shape],
                        lambda t: tf.fill(dims, t[pick]), rng)


def _generate_zeros_like(rng: np.random.Generator, _type: str) -> GeneratedOp:
    dtype = str(rng.choice(ZEROS_LIKE_TYPES))
    shape = tuple(int(d) for d in rng.integers(1, 5, int(rng.integers(1, 4))))
    return GeneratedOp(f"zeros_like {shape} {dtype}", tflite=single_op(
        "ZEROS_LIKE", [(shape, dtype, None)], [(shape, dtype)]))


def _generate_shape(rng: np.random.Generator, qtype_name: str) -> GeneratedOp:
    dtype = qtype_name if qtype_name in ("int8", "int16") else "int8"
    out, code = [("int32", 2), ("int64", 4)][int(rng.integers(2))]
    shape = tuple(int(d) for d in rng.integers(1, 6, int(rng.integers(1, 5))))
    return GeneratedOp(f"shape {shape} {dtype} -> {out}", tflite=single_op(
        "SHAPE", [(shape, dtype, None)], [((len(shape),), out)], "ShapeOptions", outType=code))


register(
    OpSpec("FILL", {(t, None): _lower_fill for t in BYTE_TYPES}, inputs=(2, 2),
           options="FillOptions", keyed_by=1, infer_shape=_infer_fill, kernels=(FILL,),
           generate=_generate_fill),
    OpSpec("ZEROS_LIKE", {(t, None): _lower_zeros_like for t in ZEROS_LIKE_TYPES}, inputs=(1, 1),
           options="ZerosLikeOptions", infer_shape=same_shape_as_input, kernels=(FILL,),
           generate=_generate_zeros_like),
    OpSpec("SHAPE", {(t, None): _lower_shape for t in BYTE_TYPES}, inputs=(1, 1),
           options="ShapeOptions", infer_shape=_infer_shape, kernels=(REMAP,),
           generate=_generate_shape),
)
