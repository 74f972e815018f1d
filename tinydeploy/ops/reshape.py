"""RESHAPE and SQUEEZE: no code and no copy; the output aliases the input's storage (the memory
plan gives both one buffer). Any type: only the bytes' interpretation changes."""

from __future__ import annotations

import math

from tinydeploy.ops import register
from tinydeploy.ops.base import Layer, OpContext, OpSpec

ANY = ("int8", "int16", "float32", "int32", "uint8", "bool", "int64")


def _infer_reshape(ctx: OpContext) -> list[tuple[int, ...]]:
    x = ctx.input(0)
    shape_t = ctx.optional_input(1)
    if shape_t is not None and shape_t.is_constant and shape_t.dtype in ("int32", "int64"):
        new = [int(v) for v in shape_t.array().reshape(-1)]
    elif ctx.option("new_shape") is not None:
        new = list(ctx.option("new_shape"))
    else:
        y = ctx.output(0)
        ctx.require(y.size == x.size, f"output holds {y.size} values, the input {x.size}")
        return [y.shape]
    unknown = [i for i, d in enumerate(new) if d == -1]
    ctx.require(len(unknown) <= 1 and all(d >= 0 or d == -1 for d in new),
                f"new shape {new} is not a shape")
    known = math.prod(d for d in new if d != -1)
    if unknown:
        ctx.require(known > 0 and x.size % known == 0,
                    f"new shape {new} does not divide {x.size} values")
        new[unknown[0]] = x.size // known
    ctx.require(math.prod(new) == x.size, f"new shape {new} holds {math.prod(new)} values, the "
                                          f"input {list(x.shape)} {x.size}")
    return [tuple(new)]


def _infer_squeeze(ctx: OpContext) -> list[tuple[int, ...]]:
    x = ctx.input(0)
    dims = ctx.option("squeeze_dims") or []
    rank = len(x.shape)
    ctx.require(all(-rank <= d < rank for d in dims), f"squeeze_dims {dims} for rank {rank}")
    drop = {d % rank for d in dims} if dims else {i for i, d in enumerate(x.shape) if d == 1}
    ctx.require(all(x.shape[d] == 1 for d in drop), f"squeezes a dimension of {list(x.shape)} "
                                                    "that is not 1")
    return [tuple(d for i, d in enumerate(x.shape) if i not in drop)]


def _alias(ctx: OpContext) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    ctx.require(x.dtype == y.dtype and x.size == y.size,
                f"reshape from {list(x.shape)} {x.dtype} to {list(y.shape)} {y.dtype}")
    ctx.require(not x.is_constant, "reshape of a constant tensor (fold it in the converter)")
    ctx.require(not x.is_variable and not y.is_variable, "reshape of a variable (state) tensor")
    ctx.require(x.dtype not in ("int8", "int16") or (
        x.zp0 == y.zp0 and (len(x.scale) == 0) == (len(y.scale) == 0)),
        "input and output quantization differ: a reshape cannot requantize")
    return Layer(ctx.op, None, inputs=[x.index], outputs=[y.index], alias=True)


register(
    OpSpec("RESHAPE", {(t, None): _alias for t in ANY}, inputs=(1, 2), options="ReshapeOptions",
           infer_shape=_infer_reshape),
    OpSpec("SQUEEZE", {(t, None): _alias for t in ANY}, inputs=(1, 1), options="SqueezeOptions",
           infer_shape=_infer_squeeze),
)
