"""CUMSUM over one constant axis (negative too), exclusive and reverse, in float32, int32 and int64
(cumsum.c), as TFLite's reference CumSum: each line along the axis summed in order from 0 (from
its end where reverse), the sum before the element written where exclusive. int32 and int64 sums
wrap as they do on TFLite's x86. LiteRT has no int8 kernel (TFLite Micro's rescales like ADD; not
compiled here) and TFLite none for int16.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinydeploy.ops import register
from tinydeploy.ops.base import (GeneratedOp, Kernel, Layer, OpContext, OpSpec, Params, TensorArg,
                                 cfield, same_shape_as_input)


@dataclass
class CumsumParams(Params):
    C_NAME = "td_cumsum_params"
    C_DOC = "CUMSUM along the middle dimension of [outer, depth, inner]."
    outer: int = cfield("int32_t")
    depth: int = cfield("int32_t")
    inner: int = cfield("int32_t")
    exclusive: int = cfield("int32_t", "1: each output is the sum of the elements before it")
    reverse: int = cfield("int32_t", "1: sums run from the end of the axis")


KERNELS = {"float32": Kernel("td_cumsum_f32", CumsumParams, ("const float *in", "float *out")),
           "int32": Kernel("td_cumsum_s32", CumsumParams, ("const int32_t *in", "int32_t *out")),
           "int64": Kernel("td_cumsum_s64", CumsumParams, ("const int64_t *in", "int64_t *out"))}


def _axis(ctx: OpContext) -> int:
    """TFLite's axis: one int32 value, negative ones counted from the end."""
    rank = len(ctx.input(0).shape)
    ctx.require(ctx.input(1).dtype == "int32", f"axis is {ctx.input(1).dtype}, int32 is required")
    values = ctx.constant(1, "axis").reshape(-1)
    ctx.require(values.size == 1, f"axis has {values.size} values, 1 is required")
    axis = int(values[0])
    ctx.require(rank >= 1 and -rank <= axis < rank, f"axis {axis} for rank {rank}")
    return axis % rank


def _infer(ctx: OpContext) -> list[tuple[int, ...]]:
    _axis(ctx)
    return same_shape_as_input(ctx)


def _lower(ctx: OpContext, dtype: str) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    for t in (x, y):
        ctx.require(t.dtype == dtype, f"tensor '{t.name}' is {t.dtype}, the op's type is {dtype}")
    axis = _axis(ctx)
    params = CumsumParams(outer=math.prod(x.shape[:axis]), depth=x.shape[axis],
                          inner=math.prod(x.shape[axis + 1:]),
                          exclusive=int(bool(ctx.option("exclusive", False))),
                          reverse=int(bool(ctx.option("reverse", False))))
    # not in place: an exclusive sum writes an element's output before it reads its input
    return Layer(ctx.op, KERNELS[dtype], params, [], [TensorArg(x.index), TensorArg(y.index)],
                 [x.index], [y.index])


def _generate(rng: np.random.Generator, qtype: str) -> GeneratedOp:
    """tf.math.cumsum of a rank 2 to 4 input (batch 1) along any axis, negative ones too, with
    exclusive and reverse drawn."""
    import tensorflow as tf

    from tinydeploy.ops.binary import generated, keras_model

    rank = int(rng.integers(1, 4))
    shape = tuple(int(rng.integers(1, 7)) for _ in range(rank))
    axis = int(rng.integers(-rank - 1, rank + 1))
    exclusive, reverse = bool(rng.integers(2)), bool(rng.integers(2))
    dtype = qtype if qtype in ("int32", "int64") else "float32"
    model = keras_model([shape], lambda v: tf.math.cumsum(v, axis=axis, exclusive=exclusive,
                                                          reverse=reverse), dtype)
    return generated(f"cumsum {(1, *shape)} axis={axis} exclusive={exclusive} "
                     f"reverse={reverse}", model, qtype, rng)


register(
    OpSpec("CUMSUM", {(t, None): (lambda ctx, t=t: _lower(ctx, t)) for t in KERNELS},
           inputs=(2, 2), options="CumsumOptions", infer_shape=_infer,
           kernels=tuple(KERNELS.values()), generate=_generate),
)
