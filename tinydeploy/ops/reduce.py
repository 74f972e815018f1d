"""MEAN, int8, over any axes of up to 4 dimensions (mean_s8.c). As TensorFlow 2.21 does it, the
1/N of the mean is folded into the requantization multiplier, so each output is one
td_mbqm(sum(x) - N * zp_in) + zp_out."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinydeploy import quantmath as qm
from tinydeploy.ops import register
from tinydeploy.ops.base import (GeneratedOp, Kernel, Layer, OpContext, OpSpec, Params, TensorArg,
                                 cfield)


@dataclass
class MeanParams(Params):
    C_NAME = "td_mean_params"
    C_DOC = "MEAN over any of 4 dimensions (reduce[d] != 0 marks a reduced dimension)."
    dims: list[int] = cfield("int32_t", count=4)
    reduce: list[int] = cfield("int32_t", count=4)
    count: int = cfield("int32_t")
    input_zero_point: int = cfield("int32_t")
    output_zero_point: int = cfield("int32_t")
    multiplier: int = cfield("int32_t")
    shift: int = cfield("int32_t")


MEAN = Kernel("td_mean_s8", MeanParams, ("const int8_t *in", "int8_t *out"))


def _axes(ctx: OpContext) -> list[int]:
    x = ctx.input(0)
    rank = len(x.shape)
    axes = [int(a) for a in ctx.constant(1, "axes").reshape(-1)]
    ctx.require(all(-rank <= a < rank for a in axes), f"axes {axes} for rank {rank}")
    return sorted({a % rank for a in axes})


def _infer(ctx: OpContext) -> list[tuple[int, ...]]:
    x = ctx.input(0)
    axes = _axes(ctx)
    if ctx.option("keep_dims", False):
        return [tuple(1 if i in axes else d for i, d in enumerate(x.shape))]
    return [tuple(d for i, d in enumerate(x.shape) if i not in axes)]


def _lower(ctx: OpContext) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    ctx.require_type(("int8",), x, y)
    rank = len(x.shape)
    ctx.require(rank <= 4, "MEAN over more than 4 dimensions")
    axes = _axes(ctx)
    dims = [1] * (4 - rank) + list(x.shape)
    reduce = [0] * 4
    for a in axes:
        reduce[a + 4 - rank] = 1
    count = math.prod(x.shape[a] for a in axes)
    ctx.require(1 <= count < 2 ** 23, f"a mean over {count} values (the int32 sum holds 2^23)")
    multiplier, shift = qm.mean_multiplier(x.scale0, y.scale0, count)
    params = MeanParams(dims=dims, reduce=reduce, count=count, input_zero_point=x.zp0,
                        output_zero_point=y.zp0, multiplier=multiplier, shift=shift)
    return Layer(ctx.op, MEAN, params, [], [TensorArg(x.index), TensorArg(y.index)], [x.index],
                 [y.index])


def _generate(rng: np.random.Generator, _type: str) -> GeneratedOp:
    import keras
    import tensorflow as tf

    L = keras.layers
    h, w, c = int(rng.integers(3, 14)), int(rng.integers(3, 14)), int(rng.integers(1, 9))
    x = keras.Input((h, w, c), batch_size=1)
    keep = bool(rng.integers(2))
    axis = [(1, 2), (1,), (2,), (3,), (1, 2, 3), "global"][int(rng.integers(6))]
    if axis == "global":  # Keras' global average pooling, which converts to MEAN
        y = L.GlobalAveragePooling2D(keepdims=keep)(L.Conv2D(c, 1)(x))
    else:
        y = L.Lambda(lambda t: tf.reduce_mean(t, axis=axis, keepdims=keep))(L.Conv2D(c, 1)(x))
    scale = float(rng.uniform(0.5, 4.0))
    return GeneratedOp(f"mean hwc={(h, w, c)} axis={axis} keep={keep}", keras.Model(x, y),
                       [rng.normal(0, scale, (32, h, w, c)).astype(np.float32)])


register(OpSpec("MEAN", {("int8", None): _lower}, inputs=(2, 2), options="ReducerOptions",
                infer_shape=_infer, kernels=(MEAN,), generate=_generate))
