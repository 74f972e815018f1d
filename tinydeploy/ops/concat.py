"""CONCATENATION (concat_s8.c): row-wise copies of bytes, so one kernel serves every type. int8
inputs must share the output's scale and zero point (TFLite's int8 rule); int16 (16x8) inputs need
zero point 0 and are copied as they are, whatever their scales (as TFLite's int16 kernel does; the
converter puts a QUANTIZE in front of an input whose scale differs); float32, int32 and bool are
copied."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinydeploy.ops import register
from tinydeploy.ops.base import (GeneratedOp, Kernel, Layer, OpContext, OpSpec, Params, TensorArg,
                                 TensorListArg, cfield)
from tinydeploy.qtype import qtype


@dataclass
class ConcatParams(Params):
    C_NAME = "td_concat_params"
    outer: int = cfield("int32_t", "outer repeats")
    inner_out: int = cfield("int32_t", "output row length in bytes")
    n_inputs: int = cfield("int32_t")
    inner: str | None = cfield("const int32_t *", "each input's row length in bytes")


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
    dtype = xs[0].dtype
    ctx.require_type((dtype,) if dtype in TYPES else ("int8",), y, *xs)
    for t in xs:
        ctx.require(not t.is_constant, "a constant input to concatenation")
        if dtype == "int8":
            ctx.require_same_quantization(t, y, "int8 concatenation")
        if dtype == "int16":
            ctx.require(t.zp0 == 0 and y.zp0 == 0, "int16 concatenation needs zero points 0")
    ctx.require(ctx.activation == "NONE", "fused activation on concatenation")
    axis = _axis(ctx, len(y.shape))
    size = qtype(dtype).size
    inner = [math.prod(t.shape[axis:]) * size for t in xs]
    params = ConcatParams(outer=math.prod(y.shape[:axis]), inner_out=sum(inner),
                          n_inputs=len(xs), inner=f"{ctx.name}_inner")
    return Layer(ctx.op, CONCAT, params, [ctx.const("inner", "int32_t", np.array(inner, np.int64))],
                 [TensorListArg(tuple(t.index for t in xs)), TensorArg(y.index)],
                 [t.index for t in xs], [y.index])


def _generate(rng: np.random.Generator, qtype_name: str) -> GeneratedOp:
    import keras

    L = keras.layers
    side = 14 if qtype_name == "int8" else 9  # 16x8 and float32 models fit a 16 KB Cortex-M0 too
    h, w, c = int(rng.integers(3, side)), int(rng.integers(3, side)), int(rng.integers(1, 9))
    x = keras.Input((h, w, c), batch_size=1)
    if qtype_name == "int8":
        a = L.Conv2D(int(rng.integers(1, 5)), 1)(x)
        b = L.Conv2D(int(rng.integers(1, 5)), 1)(x)
        scale = float(rng.uniform(0.5, 4.0))
        return GeneratedOp(f"concat hwc={(h, w, c)}", keras.Model(x, L.Concatenate()([a, b])),
                           [rng.normal(0, scale, (32, h, w, c)).astype(np.float32)])
    # int16 and float32: two inputs (in 16x8 each with its own scale, so the converter
    # requantizes one to the output's) joined along a random axis, negative half the time
    axis = int(rng.integers(1, 4))
    other = [h, w, c]
    other[axis - 1] = int(rng.integers(1, 5))
    ins = [keras.Input((h, w, c), batch_size=1, name="in0"),
           keras.Input(tuple(other), batch_size=1, name="in1")]
    written = axis - 4 if rng.random() < 0.5 else axis
    reps = [rng.normal(0, float(rng.uniform(0.5, 4.0)), (32, *[int(d) for d in i.shape[1:]]))
            .astype(np.float32) for i in ins]
    return GeneratedOp(f"concat {(h, w, c)} {tuple(other)} axis={written} {qtype_name}",
                       keras.Model(ins, L.Concatenate(axis=written)(ins)), reps)


TYPES = ("int8", "int16", "float32", "int32", "bool")
register(OpSpec("CONCATENATION", {(t, None): _lower for t in TYPES}, inputs=(1, 64),
                options="ConcatenationOptions", infer_shape=_infer, kernels=(CONCAT,),
                generate=_generate))
