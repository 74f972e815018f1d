"""BROADCAST_ARGS: the shape two shapes broadcast to, int32 or int64 (broadcast_args.c). Where both
shapes are constants the compiler computes it and the layer writes it (as SHAPE's does); where one
is computed at run time (a SHAPE's output, a model input) the kernel does TFLite's reference
BroadcastArgs: from the last dimension back, a missing dimension counts as 1, a 1 takes the other
shape's value, otherwise the first shape's. TFLite reads each value as an int (int64 values are
truncated to 32 bits) and aborts where neither is 1 and they differ; the compiler refuses such
constant shapes, the kernel gives the first shape's value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydeploy.ops import register
from tinydeploy.ops.base import (GeneratedOp, Kernel, Layer, OpContext, OpSpec, Params, TensorArg,
                                 cfield)
from tinydeploy.ops.binary import operand_args
from tinydeploy.ops.remap import REMAP, const_remap_layer


@dataclass
class BroadcastArgsParams(Params):
    C_NAME = "td_broadcast_args_params"
    C_DOC = "BROADCAST_ARGS of two 1-D shapes, aligned at their last dimension."
    len1: int = cfield("int32_t", "dimensions in shape 1")
    len2: int = cfield("int32_t", "dimensions in shape 2")
    out_len: int = cfield("int32_t", "the larger of the two")


KERNELS = {"int32": Kernel("td_broadcast_args_s32", BroadcastArgsParams,
                           ("const int32_t *s1", "const int32_t *s2", "int32_t *out")),
           "int64": Kernel("td_broadcast_args_s64", BroadcastArgsParams,
                           ("const int64_t *s1", "const int64_t *s2", "int64_t *out"))}


def _check(ctx: OpContext) -> tuple[str, int, int]:
    """The type and the two shapes' lengths, after TFLite Prepare's checks."""
    a, b, y = ctx.input(0), ctx.input(1), ctx.output(0)
    ctx.require(a.dtype in KERNELS, f"shape 1 is {a.dtype}, int32 or int64 is required")
    for t in (b, y):
        ctx.require(t.dtype == a.dtype, f"tensor '{t.name}' is {t.dtype}, the op's type is "
                                        f"{a.dtype}")
    for t in (a, b):
        ctx.require(len(t.shape) == 1, f"tensor '{t.name}' has shape {list(t.shape)}, a 1-D "
                                       "shape is required")
    return a.dtype, a.shape[0], b.shape[0]


def _infer(ctx: OpContext) -> list[tuple[int, ...]]:
    _, len1, len2 = _check(ctx)
    return [(max(len1, len2),)]


def _broadcast(ctx: OpContext, s1: list[int], s2: list[int]) -> list[int]:
    """TFLite's BroadcastArgs on constant shapes (values truncated to int as it reads them)."""
    n = max(len(s1), len(s2))
    out = []
    for i in range(n):
        a = int(np.int64(s1[len(s1) - 1 - i]).astype(np.int32)) if i < len(s1) else 1
        b = int(np.int64(s2[len(s2) - 1 - i]).astype(np.int32)) if i < len(s2) else 1
        ctx.require(a == 1 or b == 1 or a == b, f"shapes {s1} and {s2} do not broadcast")
        out.append(b if a == 1 else a)
    return out[::-1]


def _lower(ctx: OpContext) -> Layer:
    dtype, len1, len2 = _check(ctx)
    a, b, y = ctx.input(0), ctx.input(1), ctx.output(0)
    if a.is_constant and b.is_constant:
        shape = _broadcast(ctx, [int(v) for v in a.array()], [int(v) for v in b.array()])
        return const_remap_layer(ctx, np.array(shape, np.int64), y)
    args, reads = operand_args(ctx, [a, b])
    params = BroadcastArgsParams(len1=len1, len2=len2, out_len=max(len1, len2))
    return Layer(ctx.op, KERNELS[dtype], params, [], args + [TensorArg(y.index)], reads,
                 [y.index])


def _generate(rng: np.random.Generator, qtype: str) -> GeneratedOp:
    """SHAPE of the model's input broadcast with a constant shape (as a converted
    tf.broadcast_dynamic_shape gives it), so the kernel runs on a shape computed at run time:
    the constant is longer or shorter than the input's rank, its 1s meet the input's sizes and
    its sizes meet the input's 1s."""
    from tinydeploy.ops.movegen import tensor
    from tinydeploy.tflite_writer import Op, build

    dtype = ["int32", "int64"][int(rng.integers(2))]
    x_shape = tuple(int(d) for d in rng.integers(1, 4, int(rng.integers(1, 5))))
    other = [int(rng.integers(1, 4)) if d == 1 else int(rng.choice([1, d])) for d in x_shape]
    other = [int(d) for d in rng.integers(1, 4, int(rng.integers(0, 3)))] + other
    if rng.random() < 0.4:
        other = other[int(rng.integers(1, len(other) + 1)):]
    x_type = qtype if qtype in ("int8", "int16", "float32") else "float32"
    out_len = max(len(x_shape), len(other))
    tensors = [tensor(x_shape, x_type), tensor((len(x_shape),), dtype),
               tensor((len(other),), dtype, np.array(other)), tensor((out_len,), dtype)]
    ops = [Op("SHAPE", [0], [1], "ShapeOptions", {"outType": {"int32": 2, "int64": 4}[dtype]}),
           Op("BROADCAST_ARGS", [1, 2], [3])]
    return GeneratedOp(f"broadcast_args shape{list(x_shape)} with {other} {dtype}",
                       tflite=build(tensors, ops, [0], [3]))


register(
    OpSpec("BROADCAST_ARGS", {(t, None): _lower for t in KERNELS}, inputs=(2, 2),
           infer_shape=_infer, kernels=(*KERNELS.values(), REMAP), generate=_generate),
)
