"""GATHER (axis, batch_dims) and GATHER_ND, any type, with int16, int32 or int64 indices that may
be computed at run time (gather.c, gather_nd.c): an embedding lookup has constant params and
run-time indices, a channel shuffle the reverse.

Where LiteRT fails the invocation (a negative index, or one past the axis; for GATHER_ND a slice
whose flat offset falls outside params, which is the only bound it checks) there is no output to
match: the kernels write zeros there instead of reading outside the tensor."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinydeploy.ops import register
from tinydeploy.ops.base import (GeneratedOp, Kernel, Layer, OpContext, OpSpec, Params, TensorArg,
                                 cfield)
from tinydeploy.ops.movegen import lambda_model
from tinydeploy.ops.remap import BYTE_TYPES
from tinydeploy.qtype import qtype
from tinydeploy.tflite_reader import Tensor

INDEX_TYPES = {"int16": 2, "int32": 4, "int64": 8}


@dataclass
class GatherParams(Params):
    C_NAME = "td_gather_params"
    C_DOC = ("params as [batch, outer, axis, inner], indices as [batch, coords]: out[b, o, i] = "
             "params[b, o, indices[b, i]] (inner_bytes each).")
    batch: int = cfield("int32_t")
    outer: int = cfield("int32_t")
    coords: int = cfield("int32_t", "indices per batch")
    axis_size: int = cfield("int32_t")
    inner_bytes: int = cfield("int32_t")
    index_bytes: int = cfield("int32_t", "2, 4 or 8: int16, int32 or int64 indices")
    unit: int = cfield("int32_t", "1, 2 or 4: alignment of inner_bytes")


@dataclass
class GatherNdParams(Params):
    C_NAME = "td_gather_nd_params"
    C_DOC = ("Each of n_slices index tuples (depth values) selects the slice at flat element "
             "offset sum(index[j] * counts[j]) of params.")
    n_slices: int = cfield("int32_t")
    depth: int = cfield("int32_t", "values per index tuple")
    slice_elems: int = cfield("int32_t")
    total_elems: int = cfield("int32_t", "elements of params")
    elem: int = cfield("int32_t", "element size in bytes")
    index_bytes: int = cfield("int32_t", "2, 4 or 8: int16, int32 or int64 indices")
    unit: int = cfield("int32_t", "1, 2 or 4: alignment of a slice")
    counts: str | None = cfield("const int32_t *", "elements per step of each indexed dimension")


GATHER = Kernel("td_gather", GatherParams,
                ("const uint8_t *params", "const void *indices", "uint8_t *out"),
                "GATHER, any type (tinydeploy/ops/gather.py).")
GATHER_ND = Kernel("td_gather_nd", GatherNdParams,
                   ("const uint8_t *params", "const void *indices", "uint8_t *out"),
                   "GATHER_ND, any type (tinydeploy/ops/gather.py).")


def _index_type(ctx: OpContext, t: Tensor) -> int:
    ctx.require(t.dtype in INDEX_TYPES, f"indices are {t.dtype}; int16, int32 or int64 required")
    return INDEX_TYPES[t.dtype]


def _gather_plan(ctx: OpContext) -> tuple[int, int]:
    """(axis, batch_dims), both made non-negative and checked as LiteRT's Prepare does."""
    x, idx = ctx.input(0), ctx.input(1)
    _index_type(ctx, idx)
    axis, batch_dims = int(ctx.option("axis", 0)), int(ctx.option("batch_dims", 0))
    if axis < 0:
        axis += len(x.shape)
    ctx.require(0 <= axis < len(x.shape), f"axis {ctx.option('axis', 0)} for rank "
                                          f"{len(x.shape)}")
    if batch_dims < 0:
        batch_dims += len(idx.shape)
    ctx.require(0 <= batch_dims <= axis and batch_dims < len(x.shape) and
                batch_dims <= len(idx.shape), f"batch_dims {ctx.option('batch_dims', 0)} with "
                                              f"axis {axis}")
    ctx.require(x.shape[:batch_dims] == idx.shape[:batch_dims],
                f"batch dimensions of params {list(x.shape)} and indices {list(idx.shape)} "
                "differ")
    return axis, batch_dims


def _infer_gather(ctx: OpContext) -> list[tuple[int, ...]]:
    x, idx = ctx.input(0), ctx.input(1)
    axis, bd = _gather_plan(ctx)
    return [x.shape[:axis] + idx.shape[bd:] + x.shape[axis + 1:]]


def _lower_gather(ctx: OpContext) -> Layer:
    x, idx, y = ctx.input(0), ctx.input(1), ctx.output(0)
    ctx.require(x.dtype == y.dtype, f"params {x.dtype}, output {y.dtype}")
    axis, bd = _gather_plan(ctx)
    elem = qtype(x.dtype, f"{ctx.where}: tensor '{x.name}'").size
    if idx.is_constant:  # LiteRT would fail every invocation: refuse at compile time
        values = idx.array().astype(np.int64)
        ctx.require(values.size == 0 or (values.min() >= 0 and values.max() < x.shape[axis]),
                    f"constant indices outside [0, {x.shape[axis]})")
    inner = math.prod(x.shape[axis + 1:]) * elem
    params = GatherParams(batch=math.prod(x.shape[:bd]), outer=math.prod(x.shape[bd:axis]),
                          coords=math.prod(idx.shape[bd:]), axis_size=x.shape[axis],
                          inner_bytes=inner, index_bytes=INDEX_TYPES[idx.dtype],
                          unit=math.gcd(4, inner))
    return Layer(ctx.op, GATHER, params, [], [TensorArg(x.index), TensorArg(idx.index),
                                              TensorArg(y.index)],
                 [t.index for t in (x, idx) if not t.is_constant], [y.index])


def _nd_plan(ctx: OpContext) -> int:
    x, idx = ctx.input(0), ctx.input(1)
    _index_type(ctx, idx)
    ctx.require(len(x.shape) >= 1 and len(idx.shape) >= 1, "params and indices must be at "
                                                           "least vectors")
    depth = idx.shape[-1]
    ctx.require(depth <= len(x.shape), f"index tuples of {depth} for params of rank "
                                       f"{len(x.shape)}")
    return depth


def _infer_gather_nd(ctx: OpContext) -> list[tuple[int, ...]]:
    x, idx = ctx.input(0), ctx.input(1)
    depth = _nd_plan(ctx)
    return [idx.shape[:-1] + x.shape[depth:]]


def _lower_gather_nd(ctx: OpContext) -> Layer:
    x, idx, y = ctx.input(0), ctx.input(1), ctx.output(0)
    ctx.require(x.dtype == y.dtype, f"params {x.dtype}, output {y.dtype}")
    depth = _nd_plan(ctx)
    ctx.require(x.size > 0, "empty params")
    elem = qtype(x.dtype, f"{ctx.where}: tensor '{x.name}'").size
    slice_elems = math.prod(x.shape[depth:])
    counts = [math.prod(x.shape[j + 1:]) for j in range(depth)]
    if idx.is_constant:
        values = idx.array().astype(np.int64).reshape(-1, depth) if depth else None
        if values is not None and values.size:
            pos = values @ np.array(counts, np.int64)
            ctx.require(bool((values >= 0).all()) and bool((pos + slice_elems <= x.size).all()),
                        "constant indices outside params")
    params = GatherNdParams(n_slices=math.prod(idx.shape[:-1]), depth=depth,
                            slice_elems=slice_elems, total_elems=x.size, elem=elem,
                            index_bytes=INDEX_TYPES[idx.dtype],
                            unit=math.gcd(4, slice_elems * elem), counts=f"{ctx.name}_counts")
    return Layer(ctx.op, GATHER_ND, params,
                 [ctx.const("counts", "int32_t", np.array(counts or [0], np.int64))],
                 [TensorArg(x.index), TensorArg(idx.index), TensorArg(y.index)],
                 [t.index for t in (x, idx) if not t.is_constant], [y.index])


def _generate_gather(rng: np.random.Generator, _type: str) -> GeneratedOp:
    import tensorflow as tf

    shape = (1,) + tuple(int(d) for d in rng.integers(2, 6, int(rng.integers(1, 4))))
    rank = len(shape)
    axis = int(rng.integers(1, rank))
    batch_dims = int(rng.integers(0, 2)) if axis >= 1 else 0
    idx_shape = (1,) * batch_dims + tuple(int(d) for d in rng.integers(1, 4,
                                                                       int(rng.integers(0, 3))))
    indices = rng.integers(0, shape[axis], idx_shape).astype(np.int32)
    a = axis - rank if rng.random() < 0.4 else axis
    return lambda_model(f"gather {shape} axis={a} batch_dims={batch_dims} "
                        f"indices={indices.tolist()}", [shape],
                        lambda t: tf.gather(t, indices, axis=a, batch_dims=batch_dims), rng)


def _generate_gather_nd(rng: np.random.Generator, _type: str) -> GeneratedOp:
    import tensorflow as tf

    shape = (1,) + tuple(int(d) for d in rng.integers(2, 6, int(rng.integers(1, 4))))
    depth = int(rng.integers(1, len(shape) + 1))
    lead = tuple(int(d) for d in rng.integers(1, 4, int(rng.integers(1, 3))))
    indices = np.stack([rng.integers(0, d, lead) for d in shape[:depth]], -1).astype(np.int32)
    return lambda_model(f"gather_nd {shape} indices={indices.tolist()}", [shape],
                        lambda t: tf.gather_nd(t, indices), rng)


register(
    OpSpec("GATHER", {(t, None): _lower_gather for t in BYTE_TYPES}, inputs=(2, 2),
           options="GatherOptions", infer_shape=_infer_gather, kernels=(GATHER,),
           generate=_generate_gather),
    OpSpec("GATHER_ND", {(t, None): _lower_gather_nd for t in BYTE_TYPES}, inputs=(2, 2),
           options="GatherNdOptions", infer_shape=_infer_gather_nd, kernels=(GATHER_ND,),
           generate=_generate_gather_nd),
)
