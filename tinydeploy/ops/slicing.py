"""STRIDED_SLICE and SLICE, any type (remap.c): each output coordinate is a start plus a multiple
of a stride along its input axis, so each axis is one table of offsets.

STRIDED_SLICE follows LiteRT's kernel step by step: the ellipsis and new-axis masks are expanded
into an effective input shape first (BuildStridedSliceParams), the output shape is computed as its
Prepare does (ResizeOutputTensor, `offset` included: there the end tensor holds sizes), and the
elements read are those of its reference loop (StartForAxis/EndForAxis). Where the two could
disagree (a shrunk axis whose index is past the end, an `offset` size past the input) the node is
refused rather than leaving part of the output unwritten.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydeploy.ops import register
from tinydeploy.ops.base import GeneratedOp, Layer, OpContext, OpSpec
from tinydeploy.ops.movegen import lambda_model
from tinydeploy.ops.remap import BYTE_TYPES, REMAP, remap_layer, row_major_strides

INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1
MAX_SLICE_RANK = 8  # the engine's limit; TFLite's strided slice takes up to 31 indices


def _bit(mask: int, i: int) -> bool:
    return bool((mask >> i) & 1) if 0 <= i < 32 else False


@dataclass
class _Slice:
    """The effective (mask-expanded) view of one STRIDED_SLICE node."""

    shape: list[int]      # effective input shape (new axes are 1)
    starts: list[int]
    stops: list[int]
    strides: list[int]
    begin_mask: int
    end_mask: int
    shrink_mask: int
    offset: bool


def _effective(ctx: OpContext, with_indices: bool) -> _Slice:
    """LiteRT's BuildStridedSliceParams: masks applied, ellipsis expanded, new axes inserted."""
    x = ctx.input(0)
    begin, end, strides = (ctx.constant(i, w) for i, w in ((1, "begin"), (2, "end"),
                                                            (3, "strides")))
    for t, w in ((1, "begin"), (2, "end"), (3, "strides")):
        ctx.require(ctx.input(t).dtype == "int32" and len(ctx.input(t).shape) == 1,
                    f"{w} must be a 1-D int32 tensor")
    begin, end, strides = (a.reshape(-1).astype(np.int64) for a in (begin, end, strides))
    count = len(begin)
    ctx.require(len(end) == count and len(strides) >= count,
                f"begin, end and strides hold {len(begin)}, {len(end)} and {len(strides)} values")
    ctx.require(count <= 31, "more than 31 slice indices")
    ellipsis, new_axis = int(ctx.option("ellipsis_mask", 0)), int(ctx.option("new_axis_mask", 0))
    rank = len(x.shape)
    added = sum(1 for i in range(count) if not _bit(ellipsis, i) and _bit(new_axis, i))
    eff = rank + added
    ctx.require(eff <= MAX_SLICE_RANK, f"a slice over {eff} effective dimensions "
                                       f"({MAX_SLICE_RANK} at most)")
    eff_ellipsis = eff_new = 0
    ellipsis_start, expanded = eff, 0
    i = 0
    while i < eff:
        if _bit(ellipsis, i):
            ellipsis_start = i
            ellipsis_end = max(i + 1, min(i + 1 + added + rank - count, eff))
            expanded = ellipsis_end - ellipsis_start - 1
            while i < ellipsis_end:
                eff_ellipsis |= 1 << i
                i += 1
            continue
        if _bit(new_axis, i - expanded):
            eff_new |= 1 << i
        i += 1
    s = _Slice([0] * eff, [0] * eff, [0] * eff, [1] * eff, 0, 0, 0,
               bool(ctx.option("offset", False)))
    added_ellipsis = added_axes = 0

    def input_dim(k: int) -> int:
        ctx.require(0 <= k < rank, "the masks address more dimensions than the input has")
        return int(x.shape[k])

    for i in range(eff):
        if _bit(eff_ellipsis, i):
            added_ellipsis = max(0, i - ellipsis_start)
            s.begin_mask |= 1 << i
            s.end_mask |= 1 << i
            s.shape[i] = input_dim(i - added_axes)
        elif _bit(eff_new, i):
            s.stops[i] = 1
            s.shape[i] = 1
            added_axes += 1
        elif i >= count + expanded:
            s.begin_mask |= 1 << i
            s.end_mask |= 1 << i
            s.shape[i] = input_dim(i - added_axes)
        else:
            orig = i - added_ellipsis
            ctx.require(0 <= orig < count, "the masks address more indices than begin holds")
            if with_indices:
                s.starts[i], s.stops[i] = int(begin[orig]), int(end[orig])
            s.strides[i] = int(strides[orig])
            for name, field in (("begin_mask", "begin_mask"), ("end_mask", "end_mask"),
                                ("shrink_axis_mask", "shrink_mask")):
                if _bit(int(ctx.option(name, 0)), orig):
                    setattr(s, field, getattr(s, field) | 1 << i)
            s.shape[i] = input_dim(i - added_axes)
    for v in s.starts + s.stops + s.strides:
        ctx.require(INT32_MIN < v <= INT32_MAX, f"slice index {v} outside int32")
    return s


def _clamp(v: int, lo: int, hi: int) -> int:
    return hi if v > hi else lo if v < lo else v


def _start(s: _Slice, axis: int) -> int:
    size, stride, start = s.shape[axis], s.strides[axis], s.starts[axis]
    if start < 0:
        start += size
    start = _clamp(start, 0, size) if stride > 0 else _clamp(start, -1, size - 1)
    if _bit(s.begin_mask, axis):
        start = 0 if stride > 0 else size - 1
    return start


def _stop(s: _Slice, axis: int, start: int) -> int:
    size, stride = s.shape[axis], s.strides[axis]
    if _bit(s.shrink_mask, axis):
        return start if start >= size else start + 1
    end = s.stops[axis] + (start if s.offset else 0)
    if end < 0:
        end += size
    end = _clamp(end, 0, size) if stride > 0 else _clamp(end, -1, size - 1)
    if _bit(s.end_mask, axis):
        end = size if stride > 0 else -1
    return end


def _infer_strided(ctx: OpContext) -> list[tuple[int, ...]]:
    """LiteRT's ResizeOutputTensor."""
    s = _effective(ctx, not ctx.option("offset", False))
    end = ctx.constant(2, "end").reshape(-1).astype(np.int64)
    out = []
    for i in range(len(s.shape) - 1, -1, -1):
        stride = s.strides[i]
        ctx.require(stride != 0, "a stride of 0")
        if _bit(s.shrink_mask, i):
            continue
        if s.offset:
            ctx.require(i < len(end), "offset slice: the end tensor is shorter than the view")
            dim = int(end[i])
        else:
            b = _start(s, i)
            dim = _stop(s, i, b) - b
        if (dim < 0) != (stride < 0):
            dim = 0
        elif stride < 0:
            dim = (dim + 1) // stride + 1  # both negative: Python's floor is C's truncation
        else:
            dim = 0 if dim == 0 else (dim - 1) // stride + 1
        ctx.require(0 <= dim <= INT32_MAX, f"output dimension {dim} at axis {i}")
        out.append(dim)
    return [tuple(reversed(out))]


def _lower_strided(ctx: OpContext) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    ctx.require(x.dtype == y.dtype, f"input {x.dtype}, output {y.dtype}")
    s = _effective(ctx, True)
    in_strides = row_major_strides(s.shape)
    tables, kept = [], []
    for axis in range(len(s.shape)):
        start = _start(s, axis)
        stop = _stop(s, axis, start)
        step = s.strides[axis]
        idx = np.arange(start, stop, step, dtype=np.int64)
        if _bit(s.shrink_mask, axis):
            ctx.require(len(idx) == 1, f"axis {axis} is shrunk at an index past its end")
        else:
            kept.append(len(idx))
        tables.append(idx * in_strides[axis])
    ctx.require(tuple(kept) == tuple(y.shape), f"the slice reads {kept} elements per axis, its "
                                               f"output shape is {list(y.shape)}")
    return remap_layer(ctx, x, y, tables)


def _slice_begin_size(ctx: OpContext) -> tuple[list[int], list[int]]:
    """SLICE's begin and size (a size of -1: to the end), checked as LiteRT's Prepare does."""
    x = ctx.input(0)
    rank = len(x.shape)
    begin = [int(v) for v in ctx.constant(1, "begin").reshape(-1)]
    size = [int(v) for v in ctx.constant(2, "size").reshape(-1)]
    for t, w in ((1, "begin"), (2, "size")):
        ctx.require(ctx.input(t).dtype in ("int32", "int64"), f"{w} must be int32 or int64")
    ctx.require(len(begin) == rank and len(size) == rank,
                f"begin {begin} and size {size} for a rank-{rank} input")
    ctx.require(rank <= 5, "SLICE of more than 5 dimensions")
    out = []
    for b, n, d in zip(begin, size, x.shape):
        if n < 0:
            ctx.require(n == -1, f"size {n} (only -1 means 'to the end')")
            n = d - b
        ctx.require(b >= 0 and n >= 0 and b + n <= d,
                    f"begin {begin} and size {size} do not fit the input {list(x.shape)}")
        out.append(n)
    return begin, out


def _infer_slice(ctx: OpContext) -> list[tuple[int, ...]]:
    return [tuple(_slice_begin_size(ctx)[1])]


def _lower_slice(ctx: OpContext) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    begin, size = _slice_begin_size(ctx)
    st = row_major_strides(x.shape)
    return remap_layer(ctx, x, y, [(b + np.arange(n)) * s for b, n, s in zip(begin, size, st)])


def _random_slice(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple:
    """begin, end, strides and masks for tf.strided_slice over all dimensions but the batch."""
    begin, end, strides = [0], [1], [1]
    for d in shape[1:]:
        stride = int(rng.choice([1, 1, 2, 3, -1, -2]))
        b = int(rng.integers(-d, d))
        e = int(rng.integers(-d - 1, d + 1))
        begin.append(b)
        end.append(e)
        strides.append(stride)
    n = len(shape)
    masks = {k: int(rng.integers(0, 1 << n)) & ~1 for k in ("begin_mask", "end_mask")}
    masks["shrink_axis_mask"] = int(rng.integers(0, 1 << n)) & ~1 if rng.random() < 0.4 else 0
    return begin, end, strides, masks


def _generate_strided(rng: np.random.Generator, _type: str) -> GeneratedOp:
    import tensorflow as tf

    for _ in range(100):
        shape = (1,) + tuple(int(d) for d in rng.integers(2, 8, int(rng.integers(2, 4))))
        begin, end, strides, masks = _random_slice(rng, shape)
        probe = tf.strided_slice(np.zeros(shape, np.float32), begin, end, strides, **masks)
        if 0 < int(np.prod(probe.shape)) and len(probe.shape) >= 1:
            break

    def fn(t):  # type: ignore[no-untyped-def]
        return tf.strided_slice(t, begin, end, strides, **masks)

    return lambda_model(f"strided_slice {shape} {begin}:{end}:{strides} {masks}", [shape], fn,
                        rng)


def _generate_slice(rng: np.random.Generator, _type: str) -> GeneratedOp:
    import tensorflow as tf

    shape = (1,) + tuple(int(d) for d in rng.integers(2, 9, int(rng.integers(1, 4))))
    begin = [0] + [int(rng.integers(0, d)) for d in shape[1:]]
    size = [1] + [int(rng.integers(1, d - b + 1)) if rng.random() < 0.7 else -1
                  for b, d in zip(begin[1:], shape[1:])]
    return lambda_model(f"slice {shape} begin={begin} size={size}", [shape],
                        lambda t: tf.slice(t, begin, size), rng)


register(
    OpSpec("STRIDED_SLICE", {(t, None): _lower_strided for t in BYTE_TYPES}, inputs=(4, 4),
           options="StridedSliceOptions", infer_shape=_infer_strided, kernels=(REMAP,),
           generate=_generate_strided),
    OpSpec("SLICE", {(t, None): _lower_slice for t in BYTE_TYPES}, inputs=(3, 3),
           options="SliceOptions", infer_shape=_infer_slice, kernels=(REMAP,),
           generate=_generate_slice),
)
