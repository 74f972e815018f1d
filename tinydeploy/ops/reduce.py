"""MEAN over any constant axes: int8 and int16 (16x8 models) over up to 4 dimensions (mean_s8.c,
mean_s16.c), float32 over up to 6 (reduce_f32.c, with the other float reductions).

Integer types, as TensorFlow 2.21's QuantizedMeanOrSum: the int32 sum of each output's N values,
with the 1/N of the mean folded into the requantization multiplier, so each output is one
td_mbqm(sum(x) - N * zp_in) + zp_out, clamped. float32, as reference_ops::Mean: each output's
values summed from 0 in the input's row-major order, then divided by (float)N."""

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
MEAN_S16 = Kernel("td_mean_s16", MeanParams, ("const int16_t *in", "int16_t *out"))


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


def _lower(ctx: OpContext, dtype: str = "int8") -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    ctx.require_type((dtype,), x, y)
    rank = len(x.shape)
    ctx.require(rank <= 4, "MEAN over more than 4 dimensions")
    axes = _axes(ctx)
    dims = [1] * (4 - rank) + list(x.shape)
    reduce = [0] * 4
    for a in axes:
        reduce[a + 4 - rank] = 1
    count = math.prod(x.shape[a] for a in axes)
    if dtype == "int8":
        ctx.require(1 <= count < 2 ** 23, f"a mean over {count} values (the int32 sum holds 2^23)")
        multiplier, shift = qm.mean_multiplier(x.scale0, y.scale0, count)
    else:
        ctx.require(x.zp0 == 0 and y.zp0 == 0, "int16 MEAN needs zero points 0 (TFLite checks)")
        ctx.require(count >= 1, "a mean over no values")
        multiplier, shift = qm.mean_multiplier(x.scale0, y.scale0, count)
        # |sum| <= 2^15 N, shifted left inside td_mbqm where the shift is positive
        ctx.require(count << (15 + max(shift, 0)) < 2 ** 31,
                    f"a mean over {count} values with shift {shift} (the int32 sum overflows)")
    params = MeanParams(dims=dims, reduce=reduce, count=count, input_zero_point=x.zp0,
                        output_zero_point=y.zp0, multiplier=multiplier, shift=shift)
    return Layer(ctx.op, MEAN if dtype == "int8" else MEAN_S16, params, [],
                 [TensorArg(x.index), TensorArg(y.index)], [x.index], [y.index])


def _lower_f32(ctx: OpContext) -> Layer:
    from tinydeploy.ops.reductions import lower_f32  # reductions.py imports this module

    return lower_f32(ctx, "mean")


def _generate(rng: np.random.Generator, qtype: str) -> GeneratedOp:
    """int8: a 1x1 convolution in front, so that the mean's input and output scales differ; 16x8
    and float: the mean alone (the converter leaves the 16x8 scales different by itself)."""
    import keras
    import tensorflow as tf

    L = keras.layers
    h, w, c = int(rng.integers(3, 14)), int(rng.integers(3, 14)), int(rng.integers(1, 9))
    x = keras.Input((h, w, c), batch_size=1)
    keep = bool(rng.integers(2))
    axis = [(1, 2), (1,), (2,), (3,), (1, 2, 3), "global"][int(rng.integers(6))]
    if qtype != "int8" and axis != "global" and rng.random() < 0.5:
        axis = tuple(a - 4 for a in axis)  # negative axes
    t = L.Conv2D(c, 1)(x) if qtype == "int8" else x
    if axis == "global":  # Keras' global average pooling, which converts to MEAN
        y = L.GlobalAveragePooling2D(keepdims=keep)(t)
    else:
        y = L.Lambda(lambda v: tf.reduce_mean(v, axis=axis, keepdims=keep))(t)
    scale = float(rng.uniform(0.5, 4.0))
    return GeneratedOp(f"mean hwc={(h, w, c)} axis={axis} keep={keep}", keras.Model(x, y),
                       [rng.normal(0, scale, (32, h, w, c)).astype(np.float32)])


register(OpSpec("MEAN", {("int8", None): _lower, ("int16", None): lambda c: _lower(c, "int16"),
                         ("float32", None): _lower_f32},
                inputs=(2, 2), options="ReducerOptions", infer_shape=_infer,
                kernels=(MEAN, MEAN_S16), generate=_generate))
