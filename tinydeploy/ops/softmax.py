"""SOFTMAX, int8 in, int8 out with scale 1/256 and zero point -128, over the last dimension
(softmax_s8.c): TFLite's reference fixed-point exp and reciprocal."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydeploy import quantmath as qm
from tinydeploy.ops import register
from tinydeploy.ops.base import (GeneratedOp, Kernel, Layer, OpContext, OpSpec, Params, TensorArg,
                                 cfield, same_shape_as_input)


@dataclass
class SoftmaxParams(Params):
    C_NAME = "td_softmax_params"
    outer: int = cfield("int32_t", "rows")
    depth: int = cfield("int32_t", "values per row (the last dimension)")
    input_multiplier: int = cfield("int32_t")
    input_left_shift: int = cfield("int32_t")
    diff_min: int = cfield("int32_t")


SOFTMAX = Kernel("td_softmax_s8", SoftmaxParams, ("const int8_t *in", "int8_t *out"))


def _lower(ctx: OpContext) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    ctx.require_type(("int8",), x, y)
    ctx.require(y.zp0 == -128 and np.float32(y.scale0) == np.float32(1 / 256),
                "int8 softmax output must have scale 1/256 and zero point -128")
    ctx.require(len(x.shape) >= 1 and x.shape[-1] >= 1, f"input shape {list(x.shape)}")
    mult, left, diff_min = qm.softmax_params(ctx.option("beta", 1.0), x.scale0)
    depth = x.shape[-1]
    params = SoftmaxParams(outer=x.size // depth, depth=depth, input_multiplier=mult,
                           input_left_shift=left, diff_min=diff_min)
    return Layer(ctx.op, SOFTMAX, params, [], [TensorArg(x.index), TensorArg(y.index)],
                 [x.index], [y.index])


def _generate(rng: np.random.Generator, _type: str) -> GeneratedOp:
    import keras

    L = keras.layers
    h, w, c = int(rng.integers(3, 14)), int(rng.integers(3, 14)), int(rng.integers(1, 9))
    x = keras.Input((h, w, c), batch_size=1)
    beta = float(rng.uniform(0.5, 4.0))
    units = int(rng.integers(2, 30))
    y = L.Softmax()(L.Dense(units)(L.Reshape((h * w * c,))(x)) * beta)
    scale = float(rng.uniform(0.5, 4.0))
    return GeneratedOp(f"softmax units={units} beta={beta:.2f}", keras.Model(x, y),
                       [rng.normal(0, scale, (32, h, w, c)).astype(np.float32)])


register(OpSpec("SOFTMAX", {("int8", None): _lower}, inputs=(1, 1), options="SoftmaxOptions",
                infer_shape=same_shape_as_input, kernels=(SOFTMAX,), generate=_generate))
