"""EMBEDDING_LOOKUP, int32 ids (1-D) into a table [rows, ...] (constant or computed) of int8
(int8 out; embedding_lookup_s8.c) or float32 (float32 out; embedding_lookup_f32.c): each output row
is a copy of the table row its id names, as TFLite's EvalSimple copies it (no requantization).
TFLite stops with an error on an id outside [0, rows); the kernels cannot, so such an id yields a
row of the output's zero point (a real 0) and never a read outside the table."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinydeploy.ops import register
from tinydeploy.ops.base import (ConstArg, GeneratedOp, Kernel, Layer, OpContext, OpSpec, Params,
                                 TensorArg, cfield)


@dataclass
class EmbeddingParams(Params):
    C_NAME = "td_embedding_params"
    ids: int = cfield("int32_t", "ids to look up")
    rows: int = cfield("int32_t", "rows of the table")
    row_size: int = cfield("int32_t", "values per row")
    fill: int = cfield("int32_t", "the output value for an id outside the table")


EMBEDDING = Kernel("td_embedding_lookup_s8", EmbeddingParams,
                   ("const int32_t *ids", "const int8_t *table", "int8_t *out"))
EMBEDDING_F32 = Kernel("td_embedding_lookup_f32", EmbeddingParams,
                       ("const int32_t *ids", "const float *table", "float *out"))


def _infer(ctx: OpContext) -> list[tuple[int, ...]]:
    ids, table = ctx.input(0), ctx.input(1)
    ctx.require(len(ids.shape) == 1, f"ids have shape {list(ids.shape)}, 1-D is required")
    ctx.require(len(table.shape) >= 2, f"table has shape {list(table.shape)}, 2-D or more is "
                                       "required")
    return [(ids.shape[0], *table.shape[1:])]


def _lower(ctx: OpContext, dtype: str = "int8") -> Layer:
    ids, table, y = ctx.input(0), ctx.input(1), ctx.output(0)
    ctx.require(ids.dtype == "int32", f"ids are {ids.dtype}, int32 is required")
    ctx.require_type((dtype,), table, y)
    if dtype == "int8":
        ctx.require(len(table.scale) == 1, "a per-row quantized table (TFLite dequantizes those "
                                           "to float)")
    ctx.require(table.shape[0] >= 1, "the table has no rows")
    params = EmbeddingParams(ids=ids.shape[0], rows=table.shape[0],
                             row_size=math.prod(table.shape[1:]),
                             fill=y.zp0 if dtype == "int8" else 0)
    consts, reads = [], [ids.index]
    if table.is_constant:
        ctype = "int8_t" if dtype == "int8" else "float"
        consts.append(ctx.const("table", ctype, table.array().reshape(-1)))
        table_arg: TensorArg | ConstArg = ConstArg(f"{ctx.name}_table")
    else:
        table_arg = TensorArg(table.index)
        reads.append(table.index)
    return Layer(ctx.op, EMBEDDING if dtype == "int8" else EMBEDDING_F32, params, consts,
                 [TensorArg(ids.index), table_arg, TensorArg(y.index)], reads, [y.index])


def _generate(rng: np.random.Generator, qtype: str) -> GeneratedOp:
    from tinydeploy.tflite_writer import Op, T, build

    rows, n = int(rng.integers(1, 13)), int(rng.integers(1, 11))
    row_shape = tuple(int(rng.integers(1, 7)) for _ in range(int(rng.integers(1, 3))))
    constant = rng.random() < 0.6
    if qtype == "float32":
        data = rng.normal(0, 2, (rows, *row_shape)).astype(np.float32) if constant else None
        q: dict = {}
        dtype = "float32"
    else:
        q = dict(scale=[float(rng.uniform(0.01, 0.5))], zero_point=[int(rng.integers(-20, 21))])
        data = rng.integers(-128, 128, (rows, *row_shape)).astype(np.int8) if constant else None
        dtype = "int8"
    tensors = [T((n,), "int32", name="ids"),
               T((rows, *row_shape), dtype, data=data, name="table", **q),
               T((n, *row_shape), dtype, name="out", **q)]
    inputs = [0] if constant else [0, 1]
    return GeneratedOp(f"embedding_lookup ids={n} table={(rows, *row_shape)} constant={constant}",
                       tflite=build(tensors, [Op("EMBEDDING_LOOKUP", [0, 1], [2])], inputs, [2]))


register(OpSpec("EMBEDDING_LOOKUP", {("int8", None): _lower,
                                     ("float32", None): lambda ctx: _lower(ctx, "float32")},
                inputs=(2, 2), keyed_by=1, infer_shape=_infer, kernels=(EMBEDDING, EMBEDDING_F32),
                generate=_generate))
