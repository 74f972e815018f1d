"""PAD and PADV2, int8, up to 4 dimensions (pad_s8.c): the output filled with the pad value (the
output's zero point, or PADV2's constant), then the input copied in."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydeploy.ops import register
from tinydeploy.ops.base import (GeneratedOp, Kernel, Layer, OpContext, OpSpec, Params, TensorArg,
                                 cfield)


@dataclass
class PadParams(Params):
    C_NAME = "td_pad_params"
    in_dims: list[int] = cfield("int32_t", count=4)
    out_dims: list[int] = cfield("int32_t", count=4)
    before: list[int] = cfield("int32_t", count=4)
    pad_value: int = cfield("int8_t")


PAD = Kernel("td_pad_s8", PadParams, ("const int8_t *in", "int8_t *out"))


def _paddings(ctx: OpContext) -> np.ndarray:
    x = ctx.input(0)
    pads = ctx.constant(1, "paddings").astype(np.int64)
    ctx.require(pads.size == 2 * len(x.shape), f"paddings of shape {list(pads.shape)} for a "
                                               f"rank-{len(x.shape)} input")
    pads = pads.reshape(-1, 2)
    ctx.require(bool((pads >= 0).all()), f"negative paddings {pads.tolist()}")
    return pads


def _infer(ctx: OpContext) -> list[tuple[int, ...]]:
    x = ctx.input(0)
    pads = _paddings(ctx)
    return [tuple(int(d + p0 + p1) for d, (p0, p1) in zip(x.shape, pads))]


def _lower(ctx: OpContext) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    ctx.require_type(("int8",), x, y)
    pv = ctx.optional_input(2)
    if pv is not None:
        ctx.require(pv.is_constant and pv.size == 1, "the pad value must be one constant")
        pad_value = int(pv.array().reshape(-1)[0])
    else:
        pad_value = y.zp0
    pw = _paddings(ctx)
    rank = len(x.shape)
    ctx.require(rank <= 4, "padding of more than 4 dimensions")
    params = PadParams(in_dims=[1] * (4 - rank) + list(x.shape),
                       out_dims=[1] * (4 - rank) + list(y.shape),
                       before=[0] * (4 - rank) + [int(v) for v in pw[:, 0]], pad_value=pad_value)
    return Layer(ctx.op, PAD, params, [], [TensorArg(x.index), TensorArg(y.index)], [x.index],
                 [y.index])


def _generate(rng: np.random.Generator, _type: str) -> GeneratedOp:
    import keras

    L = keras.layers
    h, w, c = int(rng.integers(3, 14)), int(rng.integers(3, 14)), int(rng.integers(1, 9))
    pads = ((int(rng.integers(0, 3)), int(rng.integers(0, 3))),
            (int(rng.integers(0, 3)), int(rng.integers(0, 3))))
    x = keras.Input((h, w, c), batch_size=1)
    y = L.ZeroPadding2D(pads)(L.Conv2D(c, 1)(x))  # an int8 producer with its own scale
    scale = float(rng.uniform(0.5, 4.0))
    return GeneratedOp(f"pad hwc={(h, w, c)} pads={pads}", keras.Model(x, y),
                       [rng.normal(0, scale, (32, h, w, c)).astype(np.float32)])


register(
    OpSpec("PAD", {("int8", None): _lower}, inputs=(2, 2), options="PadOptions",
           infer_shape=_infer, kernels=(PAD,), generate=_generate),
    OpSpec("PADV2", {("int8", None): _lower}, inputs=(2, 3), options="PadV2Options",
           infer_shape=_infer, kernels=(PAD,)),
)
