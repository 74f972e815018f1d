"""TRANSPOSE, REVERSE_V2, BROADCAST_TO and MIRROR_PAD, any type (remap.c: each is a table of
source offsets per output axis), and EXPAND_DIMS, an alias like RESHAPE (no code, no copy).

The constant operands (perm, axes, shape, paddings) are compiled into the tables; a node whose
operand is computed at run time is refused."""

from __future__ import annotations

import numpy as np

from tinydeploy.ops import register
from tinydeploy.ops.base import GeneratedOp, Layer, OpContext, OpSpec
from tinydeploy.ops.movegen import lambda_model, single_op
from tinydeploy.ops.remap import BYTE_TYPES, REMAP, remap_layer, row_major_strides
from tinydeploy.ops.reshape import ANY, _alias

MIRROR_MODES = {0: "REFLECT", 1: "SYMMETRIC"}


def _ints(ctx: OpContext, i: int, what: str, types: tuple[str, ...] = ("int32", "int64"),
          rank1: bool = True) -> list[int]:
    t = ctx.input(i)
    ctx.require(t.dtype in types, f"{what} is {t.dtype}; {' or '.join(types)} is required")
    ctx.require(not rank1 or len(t.shape) <= 1, f"{what} must be 1-D, is {list(t.shape)}")
    return [int(v) for v in ctx.constant(i, what).reshape(-1)]


# ---- TRANSPOSE ----

def _perm(ctx: OpContext) -> list[int]:
    rank = len(ctx.input(0).shape)
    perm = _ints(ctx, 1, "perm")
    ctx.require(rank <= 6, f"a transpose of {rank} dimensions (6 at most, as TFLite)")
    ctx.require(sorted(perm) == list(range(rank)), f"perm {perm} is not a permutation of the "
                                                   f"{rank} input dimensions")
    return perm


def _infer_transpose(ctx: OpContext) -> list[tuple[int, ...]]:
    x = ctx.input(0)
    return [tuple(x.shape[p] for p in _perm(ctx))]


def _lower_transpose(ctx: OpContext) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    st = row_major_strides(x.shape)
    return remap_layer(ctx, x, y, [np.arange(x.shape[p]) * st[p] for p in _perm(ctx)])


def _generate_transpose(rng: np.random.Generator, _type: str) -> GeneratedOp:
    import tensorflow as tf

    rank = int(rng.integers(3, 6))
    shape = (1,) + tuple(int(d) for d in rng.integers(2, 6, rank - 1))
    moved = [i for i in range(rank) if shape[i] > 1]
    for _ in range(100):  # the dimensions above 1 must change order, or it is a reshape
        perm = [0] + [int(p) + 1 for p in rng.permutation(rank - 1)]
        if rng.random() < 0.3:  # the batch (of 1) moves too
            perm = [int(p) for p in rng.permutation(rank)]
        if [p for p in perm if p in moved] != moved:
            break
    return lambda_model(f"transpose {shape} perm={perm}", [shape],
                        lambda t: tf.transpose(t, perm), rng)


# ---- REVERSE_V2 ----

def _axes(ctx: OpContext) -> list[int]:
    rank = len(ctx.input(0).shape)
    axes = _ints(ctx, 1, "axis", ("int32",))
    ctx.require(len(axes) >= 1 and all(-rank <= a < rank for a in axes),
                f"axes {axes} for rank {rank}")
    norm = sorted({a % rank for a in axes})
    ctx.require(len(norm) == len(axes) and norm == list(range(norm[0], norm[-1] + 1)),
                f"axes {axes}: TFLite reverses distinct, contiguous axes only")
    return norm


def _infer_reverse(ctx: OpContext) -> list[tuple[int, ...]]:
    _axes(ctx)
    return [ctx.input(0).shape]


def _lower_reverse(ctx: OpContext) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    axes = _axes(ctx)
    st = row_major_strides(x.shape)
    return remap_layer(ctx, x, y, [(np.arange(d)[::-1] if i in axes else np.arange(d)) * s
                                   for i, (d, s) in enumerate(zip(x.shape, st))])


def _generate_reverse(rng: np.random.Generator, _type: str) -> GeneratedOp:
    import tensorflow as tf

    rank = int(rng.integers(2, 5))
    shape = (1,) + tuple(int(d) for d in rng.integers(2, 7, rank - 1))
    first = int(rng.integers(1, rank))
    last = int(rng.integers(first, rank))
    axes = [a - rank if rng.random() < 0.4 else a for a in range(first, last + 1)]
    return lambda_model(f"reverse {shape} axes={axes}", [shape],
                        lambda t: tf.reverse(t, axes), rng)


# ---- BROADCAST_TO ----

def _infer_broadcast(ctx: OpContext) -> list[tuple[int, ...]]:
    x = ctx.input(0)
    shape = _ints(ctx, 1, "shape")
    ctx.require(len(shape) <= 8 and len(x.shape) <= len(shape),
                f"broadcast of {list(x.shape)} to {shape} (8 dimensions at most)")
    pad = [1] * (len(shape) - len(x.shape)) + list(x.shape)
    ctx.require(all(d >= 0 for d in shape) and all(a == b or a == 1 for a, b in zip(pad, shape)),
                f"{list(x.shape)} does not broadcast to {shape}")
    return [tuple(shape)]


def _lower_broadcast(ctx: OpContext) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    shape = list(y.shape)
    pad = [1] * (len(shape) - len(x.shape)) + list(x.shape)
    st = row_major_strides(pad)
    return remap_layer(ctx, x, y, [np.arange(n) * s if d == n else np.zeros(n, np.int64)
                                   for n, d, s in zip(shape, pad, st)])


def _generate_broadcast(rng: np.random.Generator, _type: str) -> GeneratedOp:
    import tensorflow as tf

    rank = int(rng.integers(2, 6))
    target = [1] + [int(d) for d in rng.integers(1, 6, rank - 1)]
    drop = int(rng.integers(0, min(2, rank - 2) + 1))  # leading dimensions the input lacks
    src = (1,) + tuple(d if rng.random() < 0.5 else 1 for d in target[1 + drop:])
    return lambda_model(f"broadcast_to {src} -> {target}", [src],
                        lambda t: tf.broadcast_to(t, target), rng)


# ---- MIRROR_PAD ----

def _mirror(ctx: OpContext) -> tuple[np.ndarray, str]:
    x = ctx.input(0)
    p = ctx.input(1)
    ctx.require(p.dtype in ("int32", "int64") and len(p.shape) == 2 and
                p.shape == (len(x.shape), 2), f"paddings of shape {list(p.shape)} for a "
                                              f"rank-{len(x.shape)} input")
    pads = ctx.constant(1, "paddings").astype(np.int64)
    mode = MIRROR_MODES.get(int(ctx.option("mode", 0)))
    ctx.require(mode is not None, f"mirror pad mode {ctx.option('mode')}")
    ctx.require(bool((pads >= 0).all()), f"negative paddings {pads.tolist()}")
    return pads, str(mode)


def _infer_mirror(ctx: OpContext) -> list[tuple[int, ...]]:
    x = ctx.input(0)
    pads, _ = _mirror(ctx)
    return [tuple(int(d + a + b) for d, (a, b) in zip(x.shape, pads))]


def mirror_index(out: int, before: int, size: int, offset: int) -> int:
    """LiteRT's GetInputDimension: the input index of padded index `out` (offset 1 for REFLECT,
    which leaves the edge out, 0 for SYMMETRIC, which repeats it)."""
    if out < before:
        original = before + offset - 1
        return original - min(out, original - offset)
    out -= before
    if out >= size:
        out -= size
        original = size - (1 + offset)
        return original - min(out, original)
    return out


def _lower_mirror(ctx: OpContext) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    pads, mode = _mirror(ctx)
    if x.dtype in ("int8", "int16", "uint8"):
        ctx.require_same_quantization(x, y, "MIRROR_PAD")
    offset = 1 if mode == "REFLECT" else 0
    st = row_major_strides(x.shape)
    tables = []
    for (before, _), size, s, n in zip(pads, x.shape, st, y.shape):
        idx = [mirror_index(o, int(before), int(size), offset) for o in range(n)]
        ctx.require(all(0 <= i < size for i in idx),
                    f"{mode} padding of {pads.tolist()} reaches past an input of "
                    f"{list(x.shape)} ({'size - 1' if offset else 'size'} at most per side)")
        tables.append(np.array(idx, np.int64) * s)
    return remap_layer(ctx, x, y, tables)


def _generate_mirror(rng: np.random.Generator, _type: str) -> GeneratedOp:
    import tensorflow as tf

    mode = str(rng.choice(["REFLECT", "SYMMETRIC"]))
    rank = int(rng.integers(2, 5))
    shape = (1,) + tuple(int(d) for d in rng.integers(2, 7, rank - 1))
    limit = 0 if mode == "REFLECT" else 1
    pads = [[0, 0]] + [[int(rng.integers(0, d + limit)), int(rng.integers(0, d + limit))]
                       for d in shape[1:]]
    return lambda_model(f"mirror_pad {mode} {shape} {pads}", [shape],
                        lambda t: tf.pad(t, pads, mode=mode), rng)


# ---- EXPAND_DIMS ----

def _infer_expand(ctx: OpContext) -> list[tuple[int, ...]]:
    x = ctx.input(0)
    axis = _ints(ctx, 1, "axis", rank1=False)
    ctx.require(len(axis) == 1, f"axis holds {len(axis)} values, one is required")
    rank = len(x.shape)
    a = axis[0]
    ctx.require(-rank - 1 <= a <= rank, f"axis {a} for rank {rank}")
    a = a + rank + 1 if a < 0 else a
    return [tuple(x.shape[:a]) + (1,) + tuple(x.shape[a:])]


def _generate_expand(rng: np.random.Generator, qtype: str) -> GeneratedOp:
    rank = int(rng.integers(1, 5))
    shape = tuple(int(d) for d in rng.integers(1, 6, rank))
    axis = int(rng.integers(-rank - 1, rank + 1))
    a = axis + rank + 1 if axis < 0 else axis
    out = shape[:a] + (1,) + shape[a:]
    data = qtype if qtype in ("int8", "int16") else "int8"
    return GeneratedOp(f"expand_dims {shape} axis={axis}", tflite=single_op(
        "EXPAND_DIMS", [(shape, data, None), ((), "int32", np.array(axis, np.int32))],
        [(out, data)]))


register(
    OpSpec("TRANSPOSE", {(t, None): _lower_transpose for t in BYTE_TYPES}, inputs=(2, 2),
           options="TransposeOptions", infer_shape=_infer_transpose, kernels=(REMAP,),
           generate=_generate_transpose),
    OpSpec("REVERSE_V2", {(t, None): _lower_reverse for t in BYTE_TYPES}, inputs=(2, 2),
           options="ReverseV2Options", infer_shape=_infer_reverse, kernels=(REMAP,),
           generate=_generate_reverse),
    OpSpec("BROADCAST_TO", {(t, None): _lower_broadcast for t in BYTE_TYPES}, inputs=(2, 2),
           options="BroadcastToOptions", infer_shape=_infer_broadcast, kernels=(REMAP,),
           generate=_generate_broadcast),
    OpSpec("MIRROR_PAD", {(t, None): _lower_mirror for t in BYTE_TYPES}, inputs=(2, 2),
           options="MirrorPadOptions", infer_shape=_infer_mirror, kernels=(REMAP,),
           generate=_generate_mirror),
    OpSpec("EXPAND_DIMS", {(t, None): _alias for t in ANY}, inputs=(2, 2),
           options="ExpandDimsOptions", infer_shape=_infer_expand, generate=_generate_expand),
)
