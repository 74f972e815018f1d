"""SPLIT, SPLIT_V and UNPACK (split.c: one kernel call writes every output), and PACK (the
concatenation kernel, concat_s8.c, run on bytes), any type.

All four see their tensors as [outer, axis, inner] rows: an output (or input) owns a run of the
axis, so each copy is `outer` rows of its share in bytes. UNPACK is SPLIT into pieces of 1 with the
axis dropped; PACK is concatenation into a new axis."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinydeploy.ops import register
from tinydeploy.ops.base import (GeneratedOp, Kernel, Layer, OpContext, OpSpec, Params, TensorArg,
                                 TensorListArg, cfield)
from tinydeploy.ops.concat import CONCAT, ConcatParams
from tinydeploy.ops.movegen import lambda_model
from tinydeploy.ops.remap import BYTE_TYPES
from tinydeploy.qtype import qtype
from tinydeploy.tflite_reader import Tensor


@dataclass
class SplitParams(Params):
    C_NAME = "td_split_params"
    C_DOC = "The input as [outer, row]; output k takes sizes[k] bytes of each row, in order."
    outer: int = cfield("int32_t", "rows")
    row: int = cfield("int32_t", "input row length in bytes")
    n_outputs: int = cfield("int32_t")
    unit: int = cfield("int32_t", "1, 2 or 4: a divisor of every size (their alignment)")
    sizes: str | None = cfield("const int32_t *", "each output's share of a row, in bytes")


SPLIT = Kernel("td_split", SplitParams, ("const uint8_t *in", "uint8_t *const *outs"),
               "SPLIT, SPLIT_V and UNPACK, any type (tinydeploy/ops/split.py).")


def _axis(ctx: OpContext, axis: int, rank: int) -> int:
    ctx.require(-rank <= axis < rank, f"axis {axis} for rank {rank}")
    return axis % rank


def _elem(ctx: OpContext, t: Tensor) -> int:
    return qtype(t.dtype, f"{ctx.where}: tensor '{t.name}'").size


def _split_layer(ctx: OpContext, x: Tensor, axis: int, pieces: list[int]) -> Layer:
    """x cut along `axis` into runs of `pieces` elements, one per output, in order."""
    outs = [ctx.output(k) for k in range(len(ctx.op.outputs))]
    for y in outs:
        ctx.require(y.dtype == x.dtype, f"output '{y.name}' is {y.dtype}, the input {x.dtype}")
    elem = _elem(ctx, x)
    inner = math.prod(x.shape[axis + 1:]) * elem
    sizes = [n * inner for n in pieces]
    # every offset is a sum of sizes: their common alignment is every copy's
    params = SplitParams(outer=math.prod(x.shape[:axis]), row=sum(sizes), n_outputs=len(outs),
                         unit=math.gcd(4, *sizes), sizes=f"{ctx.name}_sizes")
    return Layer(ctx.op, SPLIT, params, [ctx.const("sizes", "int32_t", np.array(sizes))],
                 [TensorArg(x.index), TensorListArg(tuple(y.index for y in outs), "uint8_t *")],
                 [] if x.is_constant else [x.index], [y.index for y in outs])


# ---- SPLIT (inputs: axis, value) ----

def _split_plan(ctx: OpContext) -> tuple[int, list[int]]:
    x = ctx.input(1)
    ctx.require(ctx.input(0).dtype == "int32", "axis must be int32")
    axis_v = ctx.constant(0, "axis").reshape(-1)
    ctx.require(axis_v.size == 1, "axis must be one value")
    axis = _axis(ctx, int(axis_v[0]), len(x.shape))
    n = int(ctx.option("num_splits", 0))
    ctx.require(n >= 1 and n == len(ctx.op.outputs), f"num_splits {n} with "
                                                     f"{len(ctx.op.outputs)} outputs")
    ctx.require(x.shape[axis] % n == 0, f"axis {axis} of {list(x.shape)} does not split in {n}")
    return axis, [x.shape[axis] // n] * n


def _infer_split(ctx: OpContext) -> list[tuple[int, ...]]:
    x = ctx.input(1)
    axis, pieces = _split_plan(ctx)
    return [x.shape[:axis] + (p,) + x.shape[axis + 1:] for p in pieces]


def _lower_split(ctx: OpContext) -> Layer:
    axis, pieces = _split_plan(ctx)
    return _split_layer(ctx, ctx.input(1), axis, pieces)


# ---- SPLIT_V (inputs: value, size_splits, axis) ----

def _split_v_plan(ctx: OpContext) -> tuple[int, list[int]]:
    x = ctx.input(0)
    ctx.require(ctx.input(1).dtype in ("int32", "int64"), "size_splits must be int32 or int64")
    ctx.require(ctx.input(2).dtype == "int32", "axis must be int32")
    sizes = [int(v) for v in ctx.constant(1, "size_splits").reshape(-1)]
    axis_v = ctx.constant(2, "axis").reshape(-1)
    ctx.require(axis_v.size == 1, "axis must be one value")
    axis = _axis(ctx, int(axis_v[0]), len(x.shape))
    n = int(ctx.option("num_splits", 0))
    ctx.require(n == len(sizes) == len(ctx.op.outputs), f"num_splits {n}, {len(sizes)} sizes, "
                                                        f"{len(ctx.op.outputs)} outputs")
    unknown = [i for i, s in enumerate(sizes) if s == -1]
    ctx.require(len(unknown) <= 1 and all(s >= 0 or s == -1 for s in sizes),
                f"size_splits {sizes}")
    known = sum(s for s in sizes if s != -1)
    if unknown:
        ctx.require(known <= x.shape[axis], f"size_splits {sizes} exceed {x.shape[axis]}")
        sizes[unknown[0]] = x.shape[axis] - known
    ctx.require(sum(sizes) == x.shape[axis], f"size_splits {sizes} do not add up to "
                                             f"{x.shape[axis]}")
    return axis, sizes


def _infer_split_v(ctx: OpContext) -> list[tuple[int, ...]]:
    x = ctx.input(0)
    axis, pieces = _split_v_plan(ctx)
    return [x.shape[:axis] + (p,) + x.shape[axis + 1:] for p in pieces]


def _lower_split_v(ctx: OpContext) -> Layer:
    axis, pieces = _split_v_plan(ctx)
    return _split_layer(ctx, ctx.input(0), axis, pieces)


# ---- UNPACK ----

def _unpack_plan(ctx: OpContext) -> int:
    x = ctx.input(0)
    axis = _axis(ctx, int(ctx.option("axis", 0)), len(x.shape))
    num = int(ctx.option("num", 0))
    ctx.require(num == x.shape[axis] == len(ctx.op.outputs),
                f"num {num} with {len(ctx.op.outputs)} outputs along axis {axis} of "
                f"{list(x.shape)}")
    return axis


def _infer_unpack(ctx: OpContext) -> list[tuple[int, ...]]:
    x = ctx.input(0)
    axis = _unpack_plan(ctx)
    return [x.shape[:axis] + x.shape[axis + 1:]] * x.shape[axis]


def _lower_unpack(ctx: OpContext) -> Layer:
    x = ctx.input(0)
    axis = _unpack_plan(ctx)
    return _split_layer(ctx, x, axis, [1] * x.shape[axis])


# ---- PACK ----

def _pack_plan(ctx: OpContext) -> int:
    xs = [ctx.input(i) for i in range(len(ctx.op.inputs))]
    n = int(ctx.option("values_count", 0))
    ctx.require(n == len(xs), f"values_count {n} with {len(xs)} inputs")
    rank = len(xs[0].shape)
    axis = int(ctx.option("axis", 0))
    ctx.require(-rank - 1 <= axis <= rank, f"axis {axis} for rank {rank} inputs")
    for t in xs:
        ctx.require(t.shape == xs[0].shape and t.dtype == xs[0].dtype,
                    f"inputs {[list(t.shape) for t in xs]} ({xs[0].dtype}...) differ")
    return axis + rank + 1 if axis < 0 else axis


def _infer_pack(ctx: OpContext) -> list[tuple[int, ...]]:
    x = ctx.input(0)
    axis = _pack_plan(ctx)
    return [x.shape[:axis] + (len(ctx.op.inputs),) + x.shape[axis:]]


def _lower_pack(ctx: OpContext) -> Layer:
    xs = [ctx.input(i) for i in range(len(ctx.op.inputs))]
    y = ctx.output(0)
    axis = _pack_plan(ctx)
    ctx.require(y.dtype == xs[0].dtype, f"output {y.dtype}, inputs {xs[0].dtype}")
    inner = math.prod(xs[0].shape[axis:]) * _elem(ctx, y)
    params = ConcatParams(outer=math.prod(xs[0].shape[:axis]), inner_out=inner * len(xs),
                          n_inputs=len(xs), inner=f"{ctx.name}_inner")
    return Layer(ctx.op, CONCAT, params,
                 [ctx.const("inner", "int32_t", np.full(len(xs), inner, np.int64))],
                 [TensorListArg(tuple(t.index for t in xs)), TensorArg(y.index)],
                 [t.index for t in xs if not t.is_constant], [y.index])


# ---- test models ----

def _shape(rng: np.random.Generator, lo: int = 1, hi: int = 6) -> tuple[int, ...]:
    return (1,) + tuple(int(d) for d in rng.integers(lo, hi, int(rng.integers(1, 4))))


def _generate_split(rng: np.random.Generator, _type: str) -> GeneratedOp:
    import tensorflow as tf

    shape = list(_shape(rng))
    n = int(rng.integers(2, 4))
    axis = int(rng.integers(1, len(shape)))
    shape[axis] = n * int(rng.integers(1, 3))
    if rng.random() < 0.4:
        axis -= len(shape)
    return lambda_model(f"split {shape} in {n} along {axis}", [tuple(shape)],
                        lambda t: tf.split(t, n, axis=axis), rng)


def _generate_split_v(rng: np.random.Generator, _type: str) -> GeneratedOp:
    import tensorflow as tf

    shape = list(_shape(rng))
    axis = int(rng.integers(1, len(shape)))
    sizes = [int(s) for s in rng.integers(1, 4, int(rng.integers(2, 4)))]
    shape[axis] = sum(sizes)
    if rng.random() < 0.5:
        sizes[int(rng.integers(len(sizes)))] = -1
    if rng.random() < 0.4:
        axis -= len(shape)
    return lambda_model(f"split_v {shape} sizes={sizes} along {axis}", [tuple(shape)],
                        lambda t: tf.split(t, sizes, axis=axis), rng)


def _generate_unpack(rng: np.random.Generator, _type: str) -> GeneratedOp:
    import tensorflow as tf

    shape = _shape(rng, 1, 5)
    if len(shape) == 2:
        shape = shape + (int(rng.integers(1, 4)),)
    axis = int(rng.integers(1, len(shape)))
    if rng.random() < 0.4:
        axis -= len(shape)
    return lambda_model(f"unpack {shape} along {axis}", [shape],
                        lambda t: tf.unstack(t, axis=axis), rng)


def _generate_pack(rng: np.random.Generator, _type: str) -> GeneratedOp:
    import tensorflow as tf

    shape = _shape(rng)
    n = int(rng.integers(2, 4))
    rank = len(shape)
    axis = int(rng.integers(-rank - 1, rank + 1))
    return lambda_model(f"pack {n} x {shape} along {axis}", [shape] * n,
                        lambda *ts: tf.stack(list(ts), axis=axis), rng)


# the types LiteRT's kernels take: SPLIT, SPLIT_V and PACK no bool, UNPACK no int64
NOT_BOOL = tuple(t for t in BYTE_TYPES if t != "bool")
UNPACK_TYPES = tuple(t for t in BYTE_TYPES if t != "int64")

register(
    OpSpec("SPLIT", {(t, None): _lower_split for t in NOT_BOOL}, inputs=(2, 2),
           outputs=(1, 64), options="SplitOptions", keyed_by=1, infer_shape=_infer_split,
           kernels=(SPLIT,), generate=_generate_split),
    OpSpec("SPLIT_V", {(t, None): _lower_split_v for t in NOT_BOOL}, inputs=(3, 3),
           outputs=(1, 64), options="SplitVOptions", infer_shape=_infer_split_v,
           kernels=(SPLIT,), generate=_generate_split_v),
    OpSpec("UNPACK", {(t, None): _lower_unpack for t in UNPACK_TYPES}, inputs=(1, 1),
           outputs=(1, 64), options="UnpackOptions", infer_shape=_infer_unpack,
           kernels=(SPLIT,), generate=_generate_unpack),
    OpSpec("PACK", {(t, None): _lower_pack for t in NOT_BOOL}, inputs=(1, 64),
           options="PackOptions", infer_shape=_infer_pack, kernels=(CONCAT,),
           generate=_generate_pack),
)
