"""AVERAGE_POOL_2D and MAX_POOL_2D, int8, NHWC batch 1 (avg_pool_s8.c, max_pool_s8.c).

TFLite's int8 pooling works on the stored values and never reads the scales or zero points (a
converter gives input and output the same ones); the average is over the valid (unpadded) cells of
each window, rounded half away from zero, clamped to the fused activation's range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydeploy import quantmath as qm
from tinydeploy.ops import register
from tinydeploy.ops.base import (GeneratedOp, Kernel, Layer, OpContext, OpSpec, Params, TensorArg,
                                 cfield, conv_out_size, hwc, pad_before)


@dataclass
class PoolParams(Params):
    C_NAME = "td_pool_params"
    in_h: int = cfield("int32_t")
    in_w: int = cfield("int32_t")
    c: int = cfield("int32_t")
    out_h: int = cfield("int32_t")
    out_w: int = cfield("int32_t")
    f_h: int = cfield("int32_t")
    f_w: int = cfield("int32_t")
    stride_h: int = cfield("int32_t")
    stride_w: int = cfield("int32_t")
    pad_h: int = cfield("int32_t")
    pad_w: int = cfield("int32_t")
    act_min: int = cfield("int32_t")
    act_max: int = cfield("int32_t")


_ARGS = ("const int8_t *in", "int8_t *out")
AVG = Kernel("td_avg_pool_s8", PoolParams, _ARGS)
MAX = Kernel("td_max_pool_s8", PoolParams, _ARGS)


def _window(ctx: OpContext) -> tuple[int, int, int, int, str]:
    fh, fw = ctx.option("filter_height", 0), ctx.option("filter_width", 0)
    sh, sw = ctx.option("stride_h", 0), ctx.option("stride_w", 0)
    pad = ctx.option("padding", "SAME")
    ctx.require(fh >= 1 and fw >= 1, f"filter {fh}x{fw} must be at least 1x1")
    ctx.require(sh >= 1 and sw >= 1, f"strides ({sh}, {sw}) must be at least 1")
    ctx.require(pad in ("SAME", "VALID"), f"padding {pad}")
    return fh, fw, sh, sw, pad


def _infer(ctx: OpContext) -> list[tuple[int, ...]]:
    x = ctx.input(0)
    ctx.require(len(x.shape) == 4, f"input has shape {list(x.shape)}, 4-D NHWC is required")
    fh, fw, sh, sw, pad = _window(ctx)
    out_h, out_w = conv_out_size(x.shape[1], fh, sh, 1, pad), conv_out_size(x.shape[2], fw, sw, 1, pad)
    ctx.require(out_h >= 1 and out_w >= 1, f"the {fh}x{fw} window does not fit the input")
    return [(x.shape[0], out_h, out_w, x.shape[3])]


def _lower(ctx: OpContext, kernel: Kernel) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    ctx.require_type(("int8",), x, y)
    in_h, in_w, c = hwc(ctx, x)
    out_h, out_w, _ = hwc(ctx, y)
    fh, fw, sh, sw, pad = _window(ctx)
    act_min, act_max = qm.activation_range(ctx.activation, y.scale0, y.zp0)
    params = PoolParams(in_h=in_h, in_w=in_w, c=c, out_h=out_h, out_w=out_w, f_h=fh, f_w=fw,
                        stride_h=sh, stride_w=sw, pad_h=pad_before(in_h, out_h, sh, fh, 1, pad),
                        pad_w=pad_before(in_w, out_w, sw, fw, 1, pad), act_min=act_min,
                        act_max=act_max)
    return Layer(ctx.op, kernel, params, [], [TensorArg(x.index), TensorArg(y.index)],
                 [x.index], [y.index])


def _generate(rng: np.random.Generator, kind: str) -> GeneratedOp:
    import keras

    L = keras.layers
    h, w, c = int(rng.integers(3, 14)), int(rng.integers(3, 14)), int(rng.integers(1, 9))
    p = (int(rng.integers(1, min(h, 4) + 1)), int(rng.integers(1, min(w, 4) + 1)))
    s = int(rng.integers(1, 3))
    pad = ["same", "valid"][int(rng.integers(2))]
    cls = L.AveragePooling2D if kind == "avg" else L.MaxPooling2D
    x = keras.Input((h, w, c), batch_size=1)
    scale = float(rng.uniform(0.5, 4.0))
    return GeneratedOp(f"{kind}pool hwc={(h, w, c)} pool={p} stride={s} pad={pad}",
                       keras.Model(x, cls(p, strides=s, padding=pad)(x)),
                       [rng.normal(0, scale, (32, h, w, c)).astype(np.float32)])


register(
    OpSpec("AVERAGE_POOL_2D", {("int8", None): lambda ctx: _lower(ctx, AVG)}, inputs=(1, 1),
           options="Pool2DOptions", infer_shape=_infer, kernels=(AVG,),
           generate=lambda rng, t: _generate(rng, "avg"),
           optimized={"int8": ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55")}),
    OpSpec("MAX_POOL_2D", {("int8", None): lambda ctx: _lower(ctx, MAX)}, inputs=(1, 1),
           options="Pool2DOptions", infer_shape=_infer, kernels=(MAX,),
           generate=lambda rng, t: _generate(rng, "max")),
)
