"""The one copy kernel most data-movement operators lower to (remap.c): every output element is
input bytes at an offset that is a sum of one term per output dimension,

    out[o0, ..., on] = in[base + T0[o0] + T1[o1] + ... + Tn[on]],

with each table Td computed at compile time. Slices, strided slices, reversals, transposes,
broadcasts, mirror padding, depth/space rearrangements and BATCH_TO_SPACE_ND are all of that form
(their index arithmetic is separable per output dimension), so each is only its tables, and the
kernel is one odometer over byte rows: type-agnostic, it moves int8, int16, int32, float32 or bool
alike. Tables cost 4 bytes per output coordinate in flash (a 1x32x32x3 transpose: 67 entries).

`remap_layer` simplifies before it emits: dimensions of size 1 fold into the base, and a
contiguous innermost run (over one or more dimensions) becomes the row the kernel copies at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinydeploy.ops import register_constant
from tinydeploy.ops.base import (ConstArg, Kernel, Layer, OpContext, Params, TensorArg, cfield)
from tinydeploy.qtype import qtype
from tinydeploy.tflite_reader import Tensor

MAX_RANK = 8
INNER_MIN = 16  # a shorter innermost output dimension gives the inner loop to the longest one
register_constant("TD_REMAP_MAX_RANK", MAX_RANK, "dimensions td_remap iterates over at most")

# Every type the byte-moving kernels take (bool is one byte, 0 or 1, as TFLite stores it).
BYTE_TYPES = ("int8", "int16", "int32", "float32", "bool", "uint8", "int64")


@dataclass
class RemapParams(Params):
    C_NAME = "td_remap_params"
    C_DOC = ("A gather by per-dimension offset tables: the row_bytes at out + i0 * out_strides[0] "
             "+ ... come from in + base + tables_0[i0] + ... + tables_n-1[in-1], all in bytes; "
             "the last dimension is the inner loop.")
    rank: int = cfield("int32_t", "dimensions iterated (0: one row)")
    dims: list[int] = cfield("int32_t", "extents, in loop order", count=MAX_RANK)
    out_strides: list[int] = cfield("int32_t", "output bytes per step of each dimension",
                                    count=MAX_RANK)
    base: int = cfield("int32_t", "byte offset added to every source")
    row_bytes: int = cfield("int32_t", "bytes copied per output position")
    unit: int = cfield("int32_t", "1, 2 or 4: every offset and row_bytes is a multiple of it")
    tables: str | None = cfield("const int32_t *", "dims[0] + ... + dims[rank-1] byte offsets, "
                                                   "one table per dimension back to back")


REMAP = Kernel("td_remap", RemapParams, ("const uint8_t *in", "uint8_t *out"),
               "Type-agnostic strided/permuted/mirrored copy (tinydeploy/ops/remap.py).")


def row_major_strides(shape: tuple[int, ...] | list[int]) -> list[int]:
    """Element strides of a row-major array of `shape`."""
    out, acc = [0] * len(shape), 1
    for i in range(len(shape) - 1, -1, -1):
        out[i] = acc
        acc *= int(shape[i])
    return out


def _linear(t: np.ndarray) -> int | None:
    """The step of an arithmetic table of two or more entries, or None."""
    if len(t) < 2:
        return None
    d = np.diff(t)
    return int(d[0]) if bool((d == d[0]).all()) else None


def simplify(tables: list[np.ndarray]) -> tuple[list[np.ndarray], int, int]:
    """(tables, base, row) in elements: size-1 dimensions folded into `base`, and trailing
    dimensions that run contiguously made the row the kernel copies at once (its length in
    elements). Other dimensions keep their own tables: merging two would cost their product in
    flash instead of their sum."""
    base = 0
    kept = []
    for t in tables:
        if len(t) == 1:
            base += int(t[0])
        else:
            kept.append(np.asarray(t, np.int64))
    row = 1
    while kept and _linear(kept[-1]) == row:
        last = kept.pop()
        base += int(last[0])
        row *= len(last)
    return kept, base, row


def remap_layer(ctx: OpContext, x: Tensor, y: Tensor, tables: list[np.ndarray]) -> Layer:
    """y = x gathered through tables of element offsets into x: one table per dimension of a
    row-major view of y (y's own shape, or one that splits or adds dimensions of 1)."""
    ctx.require(x.dtype == y.dtype, f"input {x.dtype} and output {y.dtype} differ")
    elem = qtype(x.dtype, f"{ctx.where}: tensor '{x.name}'").size
    ctx.require(math.prod(len(t) for t in tables) == y.size,
                "internal: the tables do not cover the output")
    if y.size == 0:
        params = RemapParams(rank=1, dims=[0] * MAX_RANK, out_strides=[0] * MAX_RANK, base=0,
                             row_bytes=0, unit=1, tables=None)
        return Layer(ctx.op, REMAP, params, [], [TensorArg(x.index), TensorArg(y.index)],
                     [x.index], [y.index])
    for t in tables:  # every source inside the input: checked once here, never in the kernel
        ctx.require(len(t) == 0 or (int(np.min(t)) >= 0), "internal: a negative offset")
    top = sum(int(np.max(t)) for t in tables)
    ctx.require(top < x.size, "internal: an offset past the input")
    dims_tables, base, row = simplify(tables)
    ctx.require(len(dims_tables) <= MAX_RANK, f"a copy over {len(dims_tables)} dimensions after "
                                              f"folding (td_remap takes {MAX_RANK})")
    flat = (np.concatenate(dims_tables) if dims_tables else np.zeros(0, np.int64)) * elem
    row_bytes, base_bytes = row * elem, base * elem
    ctx.require(int(flat.max(initial=0)) + base_bytes + row_bytes <= x.nbytes,
                "internal: a row past the input")
    unit = math.gcd(4, row_bytes, base_bytes, *[int(v) for v in np.unique(flat % 4)])
    dims = [len(t) for t in dims_tables]
    out_strides = [s * row_bytes for s in row_major_strides(dims)]
    order = list(range(len(dims)))
    if dims and dims[-1] < INNER_MIN and max(dims) > dims[-1]:
        # the odometer costs more than a row: loop innermost over the longest dimension instead,
        # writing the output at its stride (an NCHW-to-NHWC transpose: over width, not channels)
        longest = max(order, key=lambda d: (dims[d], d))
        order = [d for d in order if d != longest] + [longest]
    tables_in_order = [dims_tables[d] * elem for d in order]
    flat = np.concatenate(tables_in_order) if tables_in_order else np.zeros(0, np.int64)
    consts = [ctx.const("tables", "int32_t", flat)] if len(flat) else []
    pad = [0] * (MAX_RANK - len(dims))
    params = RemapParams(rank=len(dims), dims=[dims[d] for d in order] + pad,
                         out_strides=[out_strides[d] for d in order] + pad,
                         base=base_bytes, row_bytes=row_bytes, unit=unit,
                         tables=f"{ctx.name}_tables" if len(flat) else None)
    src = TensorArg(x.index)
    return Layer(ctx.op, REMAP, params, consts, [src, TensorArg(y.index)],
                 [] if x.is_constant else [x.index], [y.index])


def const_remap_layer(ctx: OpContext, values: np.ndarray, y: Tensor) -> Layer:
    """y = constant values (written by the kernel at every run: SHAPE's output)."""
    raw = np.frombuffer(np.ascontiguousarray(values, y.dtype).tobytes(), np.uint8)
    ctx.require(raw.size == y.nbytes, "internal: constant values do not fill the output")
    params = RemapParams(rank=0, dims=[0] * MAX_RANK, out_strides=[0] * MAX_RANK, base=0,
                         row_bytes=y.nbytes,
                         unit=math.gcd(4, y.nbytes), tables=None)
    return Layer(ctx.op, REMAP, params, [ctx.const("values", "uint8_t", raw)],
                 [ConstArg(f"{ctx.name}_values"), TensorArg(y.index)], [], [y.index])
