"""AVERAGE_POOL_2D and MAX_POOL_2D, int8, int16 (16x8 models) and float32, and L2_POOL_2D, float32
only as in TFLite, NHWC batch 1 (avg_pool_*.c, max_pool_*.c, l2_pool_f32.c).

TFLite's integer pooling works on the stored values and never reads the scales or zero points (a
converter gives input and output the same ones); the average is over the valid (unpadded) cells of
each window (an int32 sum), rounded half away from zero, clamped to the fused activation's range.
int16 is the int8 arithmetic on wider values. float32, as reference_ops: the window's valid cells
summed row by row from 0, divided by their count, or their maximum (std::max, so a NaN input never
wins), or the square root of their squares' sum divided by their count (L2), then clamped to
the activation's range (std::min/std::max order: NaN passes through).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydeploy import quantmath as qm
from tinydeploy.ops import register
from tinydeploy.ops.binary import ACTIVATIONS
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


@dataclass
class PoolF32Params(Params):
    C_NAME = "td_pool_f32_params"
    C_DOC = ("AVERAGE_POOL_2D, MAX_POOL_2D and L2_POOL_2D on float32: the window geometry and "
             "activation.")
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
    activation: int = cfield("int32_t", "TD_ACT_*")


_ARGS = ("const int8_t *in", "int8_t *out")
AVG = Kernel("td_avg_pool_s8", PoolParams, _ARGS)
MAX = Kernel("td_max_pool_s8", PoolParams, _ARGS)
_ARGS16 = ("const int16_t *in", "int16_t *out")
AVG_S16 = Kernel("td_avg_pool_s16", PoolParams, _ARGS16)
MAX_S16 = Kernel("td_max_pool_s16", PoolParams, _ARGS16)
_ARGS_F32 = ("const float *in", "float *out")
AVG_F32 = Kernel("td_avg_pool_f32", PoolF32Params, _ARGS_F32)
MAX_F32 = Kernel("td_max_pool_f32", PoolF32Params, _ARGS_F32)
L2_F32 = Kernel("td_l2_pool_f32", PoolF32Params, _ARGS_F32)


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


def _geometry(ctx: OpContext, dtype: str) -> dict[str, int]:
    """The window geometry every kernel takes, after checking the two tensors' type."""
    x, y = ctx.input(0), ctx.output(0)
    ctx.require_type((dtype,), x, y)
    in_h, in_w, c = hwc(ctx, x)
    out_h, out_w, _ = hwc(ctx, y)
    fh, fw, sh, sw, pad = _window(ctx)
    return dict(in_h=in_h, in_w=in_w, c=c, out_h=out_h, out_w=out_w, f_h=fh, f_w=fw,
                stride_h=sh, stride_w=sw, pad_h=pad_before(in_h, out_h, sh, fh, 1, pad),
                pad_w=pad_before(in_w, out_w, sw, fw, 1, pad))


def _layer(ctx: OpContext, kernel: Kernel, params: Params) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    return Layer(ctx.op, kernel, params, [], [TensorArg(x.index), TensorArg(y.index)],
                 [x.index], [y.index])


def _lower(ctx: OpContext, kernel: Kernel) -> Layer:
    geo = _geometry(ctx, "int8")
    y = ctx.output(0)
    act_min, act_max = qm.activation_range(ctx.activation, y.scale0, y.zp0)
    return _layer(ctx, kernel, PoolParams(**geo, act_min=act_min, act_max=act_max))


def _lower_s16(ctx: OpContext, kernel: Kernel) -> Layer:
    """int16: TFLite's int16 reference pooling, the int8 arithmetic on int16 values. The average's
    int32 sum holds any window of up to 2^16 cells."""
    geo = _geometry(ctx, "int16")
    ctx.require(geo["f_h"] * geo["f_w"] <= 1 << 16,
                f"a {geo['f_h']}x{geo['f_w']} window (the int32 sum of int16 values holds 2^16)")
    y = ctx.output(0)
    act_min, act_max = qm.activation_range(ctx.activation, y.scale0, y.zp0, -32768, 32767)
    return _layer(ctx, kernel, PoolParams(**geo, act_min=act_min, act_max=act_max))


def _lower_f32(ctx: OpContext, kernel: Kernel) -> Layer:
    geo = _geometry(ctx, "float32")
    act = ctx.activation
    ctx.require(act in ACTIVATIONS, f"fused activation {act}")
    return _layer(ctx, kernel, PoolF32Params(**geo, activation=ACTIVATIONS[act]))


def _lowerings(k8: Kernel, k16: Kernel, kf: Kernel) -> dict:
    return {("int8", None): lambda ctx: _lower(ctx, k8),
            ("int16", None): lambda ctx: _lower_s16(ctx, k16),
            ("float32", None): lambda ctx: _lower_f32(ctx, kf)}


def _generate_l2(rng: np.random.Generator, qtype: str) -> GeneratedOp:
    """L2_POOL_2D, which no Keras layer converts to: written directly, with a fused activation
    (RELU_N1_TO_1 and RELU6 bound the non-negative result from above)."""
    from tinydeploy.tflite_writer import Op, T, build

    h, w, c = int(rng.integers(3, 14)), int(rng.integers(3, 14)), int(rng.integers(1, 9))
    fh, fw = int(rng.integers(1, min(h, 4) + 1)), int(rng.integers(1, min(w, 4) + 1))
    sh, sw = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    pad = ["SAME", "VALID"][int(rng.integers(2))]
    act = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"][int(rng.integers(4))]
    out_h, out_w = conv_out_size(h, fh, sh, 1, pad), conv_out_size(w, fw, sw, 1, pad)
    options = {"padding": {"SAME": 0, "VALID": 1}[pad], "strideH": sh, "strideW": sw,
               "filterHeight": fh, "filterWidth": fw,
               "fusedActivationFunction": {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2,
                                           "RELU6": 3}[act]}
    tensors = [T((1, h, w, c), "float32", name="in0"), T((1, out_h, out_w, c), "float32")]
    data = build(tensors, [Op("L2_POOL_2D", [0], [1], "Pool2DOptions", options)], [0], [1])
    return GeneratedOp(f"l2pool hwc={(h, w, c)} pool={(fh, fw)} stride={(sh, sw)} pad={pad} "
                       f"act={act} {qtype}", tflite=data)


def _generate(rng: np.random.Generator, kind: str, qtype: str) -> GeneratedOp:
    """A Keras pooling layer; for 16x8 and float models also a fused activation (the converter
    folds a following ReLU, ReLU6 or clip to [-1, 1] into the pooling node)."""
    import keras
    import tensorflow as tf

    L = keras.layers
    h, w, c = int(rng.integers(3, 14)), int(rng.integers(3, 14)), int(rng.integers(1, 9))
    p = (int(rng.integers(1, min(h, 4) + 1)), int(rng.integers(1, min(w, 4) + 1)))
    s = int(rng.integers(1, 3))
    pad = ["same", "valid"][int(rng.integers(2))]
    cls = L.AveragePooling2D if kind == "avg" else L.MaxPooling2D
    x = keras.Input((h, w, c), batch_size=1)
    scale = float(rng.uniform(0.5, 4.0))
    y = cls(p, strides=s, padding=pad)(x)
    act = "none" if qtype == "int8" else ["none", "relu", "relu6", "relu_n1"][int(rng.integers(4))]
    if act == "relu":
        y = L.ReLU()(y)
    elif act == "relu6":
        y = L.ReLU(6.0)(y)
    elif act == "relu_n1":
        y = L.Lambda(lambda t: tf.clip_by_value(t, -1.0, 1.0))(y)
    return GeneratedOp(f"{kind}pool hwc={(h, w, c)} pool={p} stride={s} pad={pad}"
                       + (f" act={act}" if qtype != "int8" else ""), keras.Model(x, y),
                       [rng.normal(0, scale, (32, h, w, c)).astype(np.float32)])


register(
    OpSpec("AVERAGE_POOL_2D", _lowerings(AVG, AVG_S16, AVG_F32), inputs=(1, 1),
           options="Pool2DOptions", infer_shape=_infer, kernels=(AVG, AVG_S16, AVG_F32),
           generate=lambda rng, t: _generate(rng, "avg", t),
           optimized={"int8": ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55")}),
    OpSpec("MAX_POOL_2D", _lowerings(MAX, MAX_S16, MAX_F32), inputs=(1, 1),
           options="Pool2DOptions", infer_shape=_infer, kernels=(MAX, MAX_S16, MAX_F32),
           generate=lambda rng, t: _generate(rng, "max", t)),
    OpSpec("L2_POOL_2D", {("float32", None): lambda ctx: _lower_f32(ctx, L2_F32)}, inputs=(1, 1),
           options="Pool2DOptions", infer_shape=_infer, kernels=(L2_F32,),
           generate=_generate_l2),
)
