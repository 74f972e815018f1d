"""CONCATENATION, int8 inputs sharing the output's scale and zero point (concat_s8.c): row-wise
copies. Where TFLite's inputs differ in quantization it requantizes; that path is refused here."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinydeploy.ops import register
from tinydeploy.ops.base import (GeneratedOp, Kernel, Layer, OpContext, OpSpec, Params, TensorArg,
                                 TensorListArg, cfield)


@dataclass
class ConcatParams(Params):
    C_NAME = "td_concat_params"
    outer: int = cfield("int32_t", "outer repeats")
    inner_out: int = cfield("int32_t", "output row length in elements")
    n_inputs: int = cfield("int32_t")
    inner: str | None = cfield("const int32_t *", "each input's row length")


CONCAT = Kernel("td_concat_s8", ConcatParams, ("const int8_t *const *ins", "int8_t *out"))


def _axis(ctx: OpContext, rank: int) -> int:
    axis = ctx.option("axis", 0)
    ctx.require(-rank <= axis < rank, f"axis {axis} for rank {rank}")
    return axis % rank


def _infer(ctx: OpContext) -> list[tuple[int, ...]]:
    xs = [ctx.input(i) for i in range(len(ctx.op.inputs))]
    rank = len(xs[0].shape)
    axis = _axis(ctx, rank)
    for t in xs:
        ctx.require(len(t.shape) == rank and all(
            d == e for i, (d, e) in enumerate(zip(t.shape, xs[0].shape)) if i != axis),
            f"inputs {[list(t.shape) for t in xs]} do not concatenate along axis {axis}")
    out = list(xs[0].shape)
    out[axis] = sum(t.shape[axis] for t in xs)
    return [tuple(out)]


def _lower(ctx: OpContext) -> Layer:
    xs = [ctx.input(i) for i in range(len(ctx.op.inputs))]
    y = ctx.output(0)
    ctx.require_type(("int8",), y, *xs)
    for t in xs:
        ctx.require(not t.is_constant, "a constant input to concatenation")
        ctx.require_same_quantization(t, y, "int8 concatenation")
    ctx.require(ctx.activation == "NONE", "fused activation on concatenation")
    axis = _axis(ctx, len(y.shape))
    inner = [math.prod(t.shape[axis:]) for t in xs]
    params = ConcatParams(outer=math.prod(y.shape[:axis]), inner_out=sum(inner),
                          n_inputs=len(xs), inner=f"{ctx.name}_inner")
    return Layer(ctx.op, CONCAT, params, [ctx.const("inner", "int32_t", np.array(inner, np.int64))],
                 [TensorListArg(tuple(t.index for t in xs)), TensorArg(y.index)],
                 [t.index for t in xs], [y.index])


def _generate(rng: np.random.Generator, _type: str) -> GeneratedOp:
    import keras

    L = keras.layers
    h, w, c = int(rng.integers(3, 14)), int(rng.integers(3, 14)), int(rng.integers(1, 9))
    x = keras.Input((h, w, c), batch_size=1)
    a = L.Conv2D(int(rng.integers(1, 5)), 1)(x)
    b = L.Conv2D(int(rng.integers(1, 5)), 1)(x)
    scale = float(rng.uniform(0.5, 4.0))
    return GeneratedOp(f"concat hwc={(h, w, c)}", keras.Model(x, L.Concatenate()([a, b])),
                       [rng.normal(0, scale, (32, h, w, c)).astype(np.float32)])


register(OpSpec("CONCATENATION", {("int8", None): _lower}, inputs=(1, 64),
                options="ConcatenationOptions", infer_shape=_infer, kernels=(CONCAT,),
                generate=_generate))
