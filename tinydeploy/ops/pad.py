"""PAD and PADV2 on int8 (pad_s8.c), int16, float32 and int32 (pad_wide.c), up to 4 dimensions: the
output filled with the pad value (the output's zero point, 0 for float32 and int32, or PADV2's
constant, which TFLite requires to share the output's quantization), then the input copied in."""

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
    pad_value: int = cfield("int32_t", "the pad value (its bits for float32)")


PAD = Kernel("td_pad_s8", PadParams, ("const int8_t *in", "int8_t *out"))
PAD16 = Kernel("td_pad_16", PadParams, ("const int16_t *in", "int16_t *out"))
PAD32 = Kernel("td_pad_32", PadParams, ("const uint32_t *in", "uint32_t *out"),
               "PAD of four-byte elements (float32, int32): the pad value as a bit pattern")
KERNELS = {"int8": PAD, "int16": PAD16, "float32": PAD32, "int32": PAD32}


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
    ctx.require_type((x.dtype,) if x.dtype in KERNELS else ("int8",), x, y)
    pv = ctx.optional_input(2)
    if pv is not None:
        ctx.require(pv.is_constant and pv.size == 1, "the pad value must be one constant")
        ctx.require(pv.dtype == x.dtype, f"pad value of type {pv.dtype} for a {x.dtype} input")
        value = pv.array().reshape(-1)[:1]
        if x.dtype in ("int8", "int16"):
            ctx.require_same_quantization(pv, y, "PADV2's pad value")
        pad_value = int(value.astype(np.float32).view(np.int32)[0] if x.dtype == "float32"
                        else value[0])
    else:
        pad_value = y.zp0 if x.dtype in ("int8", "int16") else 0
    pw = _paddings(ctx)
    rank = len(x.shape)
    ctx.require(rank <= 4, "padding of more than 4 dimensions")
    params = PadParams(in_dims=[1] * (4 - rank) + list(x.shape),
                       out_dims=[1] * (4 - rank) + list(y.shape),
                       before=[0] * (4 - rank) + [int(v) for v in pw[:, 0]], pad_value=pad_value)
    return Layer(ctx.op, KERNELS[x.dtype], params, [], [TensorArg(x.index), TensorArg(y.index)],
                 [x.index], [y.index])


def _generate(rng: np.random.Generator, qtype: str) -> GeneratedOp:
    import keras

    L = keras.layers
    side = 14 if qtype == "int8" else 9  # 16x8 and float32 models fit a 16 KB Cortex-M0 too
    h, w, c = int(rng.integers(3, side)), int(rng.integers(3, side)), int(rng.integers(1, 9))
    pads = ((int(rng.integers(0, 3)), int(rng.integers(0, 3))),
            (int(rng.integers(0, 3)), int(rng.integers(0, 3))))
    x = keras.Input((h, w, c), batch_size=1)
    # int8: an int8 producer with its own scale first; int16 and float32 pad the input itself
    y = L.ZeroPadding2D(pads)(L.Conv2D(c, 1)(x) if qtype == "int8" else x)
    scale = float(rng.uniform(0.5, 4.0))
    what = f"pad hwc={(h, w, c)} pads={pads}" + ("" if qtype == "int8" else f" {qtype}")
    return GeneratedOp(what, keras.Model(x, y),
                       [rng.normal(0, scale, (32, h, w, c)).astype(np.float32)])


TYPES = ("int8", "int16", "float32", "int32")
register(
    OpSpec("PAD", {(t, None): _lower for t in TYPES}, inputs=(2, 2), options="PadOptions",
           infer_shape=_infer, kernels=(PAD, PAD16, PAD32), generate=_generate),
    OpSpec("PADV2", {(t, None): _lower for t in TYPES}, inputs=(2, 3), options="PadV2Options",
           infer_shape=_infer, kernels=(PAD, PAD16, PAD32)),
)
