"""ARG_MAX and ARG_MIN, int8 or float32 input, int32 or int64 output, over one constant axis
(negative too) (arg_minmax_s8.c, arg_minmax_f32.c). As TFLite's reference ArgMinMax: the first
index wins a tie (the comparison is strict), and int8 compares the stored values (a positive scale
keeps their order). float32 starts from the lowest (largest) float with index 0, as LiteRT's
general path does, so a NaN never wins nor blocks a later value; along the last axis LiteRT takes
a vectorized path whose answer for rows holding a NaN depends on the row's length (measured: the
same for 2, 3, 12, 16, 17 and 33 values, not always for 4 to 9). TFLite has no int16 kernel (its
ArgMinMax takes float32, uint8, int8, int32 and bool; the converter refuses 16x8 models with the
op)."""

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
ARG_F32_I32 = Kernel("td_arg_minmax_f32_i32", ArgMinMaxParams, ("const float *in", "int32_t *out"))
ARG_F32_I64 = Kernel("td_arg_minmax_f32_i64", ArgMinMaxParams, ("const float *in", "int64_t *out"))
_KERNELS = {("int8", "int32"): ARG_I32, ("int8", "int64"): ARG_I64,
            ("float32", "int32"): ARG_F32_I32, ("float32", "int64"): ARG_F32_I64}


def constant_axis(ctx: OpContext, dtypes: tuple[str, ...] = ("int32", "int64")) -> int:
    """Input 1 as TFLite's one-value axis of input 0 (negative ones counted from the end), in
    0..rank-1; its type one of `dtypes`."""
    rank = len(ctx.input(0).shape)
    a = ctx.input(1)
    ctx.require(a.dtype in dtypes, f"axis is {a.dtype}, {' or '.join(dtypes)} is required")
    values = ctx.constant(1, "axis").reshape(-1)
    ctx.require(values.size == 1, f"axis has {values.size} values, 1 is required")
    axis = int(values[0])
    ctx.require(rank >= 1 and -rank <= axis < rank, f"axis {axis} for rank {rank}")
    return axis % rank


def _infer(ctx: OpContext) -> list[tuple[int, ...]]:
    shape = ctx.input(0).shape
    axis = constant_axis(ctx)
    return [tuple(d for i, d in enumerate(shape) if i != axis)]


def _lower(ctx: OpContext, is_max: bool, dtype: str = "int8") -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    ctx.require_type((dtype,), x)
    ctx.require(y.dtype in ("int32", "int64"), f"output is {y.dtype}, int32 or int64 is required")
    want = ctx.option("output_type")
    ctx.require(want is None or _OUTPUT_TYPES.get(want) == y.dtype,
                f"output_type {want} does not match the output tensor's {y.dtype}")
    axis = constant_axis(ctx)
    ctx.require(x.shape[axis] >= 1, f"axis {axis} of {list(x.shape)} is empty")
    params = ArgMinMaxParams(outer=math.prod(x.shape[:axis]), axis_size=x.shape[axis],
                             inner=math.prod(x.shape[axis + 1:]), is_max=int(is_max))
    kernel = _KERNELS[(dtype, y.dtype)]
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


def _lowerings(is_max: bool) -> dict:
    return {("int8", None): lambda ctx: _lower(ctx, is_max),
            ("float32", None): lambda ctx: _lower(ctx, is_max, "float32")}


register(
    OpSpec("ARG_MAX", _lowerings(True), inputs=(2, 2), options="ArgMaxOptions",
           infer_shape=_infer, kernels=tuple(_KERNELS.values()),
           generate=lambda rng, t: _generate(rng, True)),
    OpSpec("ARG_MIN", _lowerings(False), inputs=(2, 2), options="ArgMinOptions",
           infer_shape=_infer, kernels=tuple(_KERNELS.values()),
           generate=lambda rng, t: _generate(rng, False)),
)
