"""ARG_MAX and ARG_MIN, int8 input, int32 or int64 output, over one constant axis (negative too)
(arg_minmax_s8.c). As TFLite's reference ArgMinMax: the first index wins a tie (the comparison is
strict), and the stored values are compared (a positive scale keeps their order)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinydeploy.ops import register
from tinydeploy.ops.base import (GeneratedOp, Kernel, Layer, OpContext, OpSpec, Params, TensorArg,
                                 cfield)


@dataclass
class ArgMinMaxParams(Params):
    C_NAME = "td_arg_minmax_params"
    C_DOC = "ARG_MAX and ARG_MIN over the middle dimension of [outer, axis_size, inner]."
    outer: int = cfield("int32_t")
    axis_size: int = cfield("int32_t")
    inner: int = cfield("int32_t")
    is_max: int = cfield("int32_t", "1: ARG_MAX, 0: ARG_MIN")


_OUTPUT_TYPES = {2: "int32", 4: "int64"}  # the schema's TensorType codes
ARG_I32 = Kernel("td_arg_minmax_s8_i32", ArgMinMaxParams, ("const int8_t *in", "int32_t *out"))
ARG_I64 = Kernel("td_arg_minmax_s8_i64", ArgMinMaxParams, ("const int8_t *in", "int64_t *out"))


def _axis(ctx: OpContext) -> int:
    rank = len(ctx.input(0).shape)
    a = ctx.input(1)
    ctx.require(a.dtype in ("int32", "int64"), f"axis is {a.dtype}, int32 or int64 is required")
    values = ctx.constant(1, "axis").reshape(-1)
    ctx.require(values.size == 1, f"axis has {values.size} values, 1 is required")
    axis = int(values[0])
    ctx.require(rank >= 1 and -rank <= axis < rank, f"axis {axis} for rank {rank}")
    return axis % rank


def _infer(ctx: OpContext) -> list[tuple[int, ...]]:
    shape = ctx.input(0).shape
    axis = _axis(ctx)
    return [tuple(d for i, d in enumerate(shape) if i != axis)]


def _lower(ctx: OpContext, is_max: bool) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    ctx.require_type(("int8",), x)
    ctx.require(y.dtype in ("int32", "int64"), f"output is {y.dtype}, int32 or int64 is required")
    want = ctx.option("output_type")
    ctx.require(want is None or _OUTPUT_TYPES.get(want) == y.dtype,
                f"output_type {want} does not match the output tensor's {y.dtype}")
    axis = _axis(ctx)
    ctx.require(x.shape[axis] >= 1, f"axis {axis} of {list(x.shape)} is empty")
    params = ArgMinMaxParams(outer=math.prod(x.shape[:axis]), axis_size=x.shape[axis],
                             inner=math.prod(x.shape[axis + 1:]), is_max=int(is_max))
    kernel = ARG_I32 if y.dtype == "int32" else ARG_I64
    return Layer(ctx.op, kernel, params, [], [TensorArg(x.index), TensorArg(y.index)], [x.index],
                 [y.index])


def _generate(rng: np.random.Generator, is_max: bool) -> GeneratedOp:
    import keras
    import tensorflow as tf

    L = keras.layers
    rank = int(rng.integers(2, 5))
    shape = tuple(int(rng.integers(1, 8)) for _ in range(rank - 1))
    axis = int(rng.integers(-rank, rank))
    out = [tf.int32, tf.int64][int(rng.integers(2))]
    fn = tf.argmax if is_max else tf.argmin
    x = keras.Input(shape, batch_size=1)
    y = L.Lambda(lambda t: fn(t, axis=axis, output_type=out))(x)
    scale = float(rng.uniform(0.5, 4.0))
    return GeneratedOp(f"arg_{'max' if is_max else 'min'} shape={(1, *shape)} axis={axis} "
                       f"out={out.name}", keras.Model(x, y),
                       [rng.normal(0, scale, (32, *shape)).astype(np.float32)])


register(
    OpSpec("ARG_MAX", {("int8", None): lambda ctx: _lower(ctx, True)}, inputs=(2, 2),
           options="ArgMaxOptions", infer_shape=_infer, kernels=(ARG_I32, ARG_I64),
           generate=lambda rng, t: _generate(rng, True)),
    OpSpec("ARG_MIN", {("int8", None): lambda ctx: _lower(ctx, False)}, inputs=(2, 2),
           options="ArgMinOptions", infer_shape=_infer, kernels=(ARG_I32, ARG_I64),
           generate=lambda rng, t: _generate(rng, False)),
)
