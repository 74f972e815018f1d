"""TRANSPOSE_CONV, int8 activations with per-channel (or per-tensor) int8 weights [out_c, kh, kw,
in_c] and an optional int32 bias, SAME or VALID padding, any strides (transpose_conv_s8.c); 16x8
(int64 bias, transpose_conv_s16.c) and float32 (transpose_conv_f32.c) likewise.

TFLite's reference kernel scatters: every input value adds its products into an int32 scratch the
size of the output, then each sum gets the bias and is requantized. This kernel gathers instead:
each output pixel sums the same products, those of the taps whose input position lands on it
((out + pad - k) divisible by the stride, inside the input), in a scratch of one int32 per output
channel rather than one per output value. The sums are equal because integer addition does not
depend on the order, and the compiler proves no partial sum leaves int32 (where the reference's
would, its wrap-around is undefined anyway). The input offset is folded into one constant per tap
and output channel (offset * the tap's weight sum), so the inner loop is a plain int8 dot product
(SMLAD on cores with the DSP extension).

16x8 sums in int64 as the reference's scratch does, then adds the bias and requantizes with the
int64 MultiplyByQuantizedMultiplier. float32 gathers each output's products in the order the
reference's scatter adds them (input rows, columns, channels), then adds the bias and clamps.

The padding is TFLite's: ComputePaddingHeightWidth run on the output size as if it were a
convolution's input, which for VALID is 0 and for SAME centres the windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydeploy import quantmath as qm
from tinydeploy.ops import register, wide
from tinydeploy.ops.base import (SCRATCH, ConstArg, ConstArray, GeneratedOp, Kernel, Layer,
                                 OpContext, OpSpec, Params, TensorArg, cfield)


@dataclass
class TransposeConvParams(Params):
    C_NAME = "td_transpose_conv_params"
    C_DOC = ("TRANSPOSE_CONV, NHWC: weights [out_c, k_h, k_w, in_c]; output (oy, ox) reads input "
             "row (oy + pad_h - ky) / stride_h where that divides, likewise columns.")
    batches: int = cfield("int32_t")
    in_h: int = cfield("int32_t")
    in_w: int = cfield("int32_t")
    in_c: int = cfield("int32_t")
    out_h: int = cfield("int32_t")
    out_w: int = cfield("int32_t")
    out_c: int = cfield("int32_t")
    k_h: int = cfield("int32_t")
    k_w: int = cfield("int32_t")
    stride_h: int = cfield("int32_t")
    stride_w: int = cfield("int32_t")
    pad_h: int = cfield("int32_t")
    pad_w: int = cfield("int32_t")
    input_offset: int = cfield("int32_t")
    output_offset: int = cfield("int32_t")
    act_min: int = cfield("int32_t")
    act_max: int = cfield("int32_t")
    mult: str | None = cfield("const int32_t *", "per output channel")
    shift: str | None = cfield("const int32_t *")
    bias: str | None = cfield("const int32_t *", "per output channel (0 without a bias)")
    tap_offset: str | None = cfield("const int32_t *", "[k_h][k_w][out_c]: input offset * the "
                                                       "tap's weight sum")


TRANSPOSE_CONV = Kernel("td_transpose_conv_s8", TransposeConvParams,
                        ("const int8_t *in", "const int8_t *w", "int8_t *out", "int8_t *scratch"),
                        "weights [k_h][k_w][out_c][in_c]; scratch: one int32 per output channel")


@dataclass
class TransposeConvRefParams(Params):
    C_NAME = "td_transpose_conv_ref_params"
    C_DOC = ("TRANSPOSE_CONV in 16x8 and float32, NHWC: weights [out_c, k_h, k_w, in_c] as TFLite "
             "stores them.")
    batches: int = cfield("int32_t")
    in_h: int = cfield("int32_t")
    in_w: int = cfield("int32_t")
    in_c: int = cfield("int32_t")
    out_h: int = cfield("int32_t")
    out_w: int = cfield("int32_t")
    out_c: int = cfield("int32_t")
    k_h: int = cfield("int32_t")
    k_w: int = cfield("int32_t")
    stride_h: int = cfield("int32_t")
    stride_w: int = cfield("int32_t")
    pad_h: int = cfield("int32_t")
    pad_w: int = cfield("int32_t")
    act_min: int = cfield("int32_t", "int16 output clamp")
    act_max: int = cfield("int32_t")
    activation: int = cfield("int32_t", "float32: TD_ACT_*")
    mult: str | None = cfield("const int32_t *", "16x8: per output channel")
    shift: str | None = cfield("const int32_t *")


TRANSPOSE_CONV_S16 = Kernel("td_transpose_conv_s16", TransposeConvRefParams,
                            ("const int16_t *in", "const int8_t *w", "const int64_t *bias",
                             "int16_t *out"))
TRANSPOSE_CONV_F32 = Kernel("td_transpose_conv_f32", TransposeConvRefParams,
                            ("const float *in", "const float *w", "const float *bias",
                             "float *out"))


def _c_div(a: int, b: int) -> int:
    """C's integer division, truncating toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def tflite_padding(padding: str, size: int, k: int, stride: int) -> int:
    """TFLite's ComputePaddingHeightWidth for one dimension (dilation 1): the padding before."""
    out = _c_div(size + stride - 1 if padding == "SAME" else size + stride - k, stride)
    return max(0, (out - 1) * stride + k - size) // 2


def _options(ctx: OpContext) -> tuple[int, int, str]:
    sh, sw = ctx.option("stride_h", 0), ctx.option("stride_w", 0)
    pad = ctx.option("padding", "SAME")
    ctx.require(sh >= 1 and sw >= 1, f"strides ({sh}, {sw}) must be at least 1")
    ctx.require(pad in ("SAME", "VALID"), f"padding {pad}")
    return sh, sw, pad


def _infer(ctx: OpContext) -> list[tuple[int, ...]]:
    shape_t, w, x = ctx.input(0), ctx.input(1), ctx.input(2)
    ctx.require(shape_t.dtype == "int32", f"output shape is {shape_t.dtype}, int32 is required")
    out = [int(v) for v in ctx.constant(0, "the output shape").reshape(-1)]
    ctx.require(len(out) == 4 and all(d >= 1 for d in out), f"output shape {out} is not 4-D")
    ctx.require(len(x.shape) == 4, f"input has shape {list(x.shape)}, 4-D NHWC is required")
    ctx.require(len(w.shape) == 4 and min(w.shape) >= 1,
                f"weights have shape {list(w.shape)}, [out_c, kh, kw, in_c] is required")
    ctx.require(w.shape[3] == x.shape[3], f"weights take {w.shape[3]} input channels, the input "
                                          f"has {x.shape[3]}")
    ctx.require(out[0] == x.shape[0] and out[3] == w.shape[0],
                f"output shape {out} does not match the input batch {x.shape[0]} and "
                f"{w.shape[0]} filters")
    b = ctx.optional_input(3)
    if b is not None:
        ctx.require(b.size == w.shape[0], f"bias has {b.size} values for {w.shape[0]} filters")
    _options(ctx)
    return [tuple(out)]


def _check_geometry(ctx: OpContext) -> tuple[int, int, str]:
    """LiteRT's Prepare: the input must be what a convolution of the output's size would give.
    Returns the strides and padding."""
    w, x, y = ctx.input(1), ctx.input(2), ctx.output(0)
    _, k_h, k_w, _ = w.shape
    _, in_h, in_w, _ = x.shape
    _, out_h, out_w, _ = y.shape
    sh, sw, padding = _options(ctx)
    for what, o, k, s, i in (("height", out_h, k_h, sh, in_h), ("width", out_w, k_w, sw, in_w)):
        computed = _c_div(o + s - 1 if padding == "SAME" else o + s - k, s)
        ctx.require(computed == i, f"output {what} {o} does not come from input {what} {i} "
                                   f"({padding}, kernel {k}, stride {s} give {computed})")
    return sh, sw, padding


def _lower(ctx: OpContext) -> Layer:
    w, x, y = ctx.input(1), ctx.input(2), ctx.output(0)
    b = ctx.optional_input(3)
    ctx.require_type(("int8",), x, w, y)
    ctx.require(w.is_constant, "weights must be constant")
    ctx.require(b is None or (b.dtype == "int32" and b.is_constant),
                f"bias must be constant int32, found {b.dtype if b else ''}")
    out_c, k_h, k_w, in_c = w.shape
    ctx.require(len(w.scale) in (1, out_c), f"weights have {len(w.scale)} scales for {out_c} "
                                            "filters")
    ctx.require(not np.any(w.zero_point), "int8 weights must be symmetric (zero point 0)")
    batches, in_h, in_w, _ = x.shape
    _, out_h, out_w, _ = y.shape
    sh, sw, padding = _check_geometry(ctx)
    act = ctx.activation
    ctx.require(act in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"), f"fused activation {act}")
    mult, shift = qm.per_channel_multipliers(x.scale0, w.scale, y.scale0, out_c)
    act_min, act_max = qm.activation_range(act, y.scale0, y.zp0)
    wa = w.array().astype(np.int64)
    bias = b.array().reshape(-1).astype(np.int64) if b is not None else np.zeros(out_c, np.int64)
    # every partial sum is at most the bias plus all taps' |x * w| and |offset * w|, x and the
    # offset each within 128 in size
    bound = 256 * np.abs(wa).reshape(out_c, -1).sum(axis=1) + np.abs(bias)
    ctx.require(int(bound.max()) < 2 ** 31, "the accumulator could overflow int32")
    name = ctx.name
    tap_offset = -x.zp0 * wa.sum(axis=3).transpose(1, 2, 0)  # [k_h][k_w][out_c]
    params = TransposeConvParams(
        batches=batches, in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=out_c,
        k_h=k_h, k_w=k_w, stride_h=sh, stride_w=sw,
        pad_h=tflite_padding(padding, out_h, k_h, sh),
        pad_w=tflite_padding(padding, out_w, k_w, sw),
        input_offset=-x.zp0, output_offset=y.zp0, act_min=act_min, act_max=act_max,
        mult=f"{name}_mult", shift=f"{name}_shift", bias=f"{name}_bias",
        tap_offset=f"{name}_tap_offset")
    consts = [ctx.const("w", "int8_t", wa.transpose(1, 2, 0, 3).reshape(-1)),
              ctx.const("bias", "int32_t", bias),
              ctx.const("tap_offset", "int32_t", tap_offset.reshape(-1)),
              ctx.const("mult", "int32_t", np.array(mult, np.int64)),
              ctx.const("shift", "int32_t", np.array(shift, np.int64))]
    macs = batches * in_h * in_w * in_c * k_h * k_w * out_c
    return Layer(ctx.op, TRANSPOSE_CONV, params, consts,
                 [TensorArg(x.index), ConstArg(f"{name}_w"), TensorArg(y.index), SCRATCH],
                 [x.index], [y.index], macs, scratch_bytes=4 * out_c)


def _lower_ref(ctx: OpContext) -> Layer:
    """16x8 and float32."""
    w, x, y = ctx.input(1), ctx.input(2), ctx.output(0)
    b = ctx.optional_input(3)
    is_float = x.dtype == "float32"
    ctx.require_type(("float32",) if is_float else ("int16",), x, y)
    ctx.require_type(("float32",) if is_float else ("int8",), w)
    out_c, k_h, k_w, in_c = w.shape
    batches, in_h, in_w, _ = x.shape
    _, out_h, out_w, _ = y.shape
    sh, sw, padding = _check_geometry(ctx)
    consts: list[ConstArray] = []
    reads = [x.index]
    w_arg = wide.operand(ctx, w, "w", consts, reads)
    fields: dict[str, object] = dict(act_min=0, act_max=0, activation=0, mult=None, shift=None)
    if is_float:
        b_arg = wide.bias_operand(ctx, b, out_c, ("float32",), consts, reads, "float")
        fields["activation"] = wide.float_activation(ctx)
        kernel = TRANSPOSE_CONV_F32
    else:
        ctx.require(w.is_constant, "weights must be constant")
        wide.require_symmetric(ctx, x, w, y)
        ctx.require(len(w.scale) in (1, out_c), f"weights have {len(w.scale)} scales for "
                                                f"{out_c} filters")
        b_arg = wide.bias_operand(ctx, b, out_c, wide.BIAS16, consts, reads, "int64_t")
        mult, shift = qm.per_channel_multipliers(x.scale0, w.scale, y.scale0, out_c)
        wide.wide_multipliers(ctx, mult, shift)
        act_min, act_max = wide.int16_activation_range(ctx, y)
        consts += [ctx.const("mult", "int32_t", np.array(mult, np.int64)),
                   ctx.const("shift", "int32_t", np.array(shift, np.int64))]
        fields.update(act_min=act_min, act_max=act_max, mult=f"{ctx.name}_mult",
                      shift=f"{ctx.name}_shift")
        kernel = TRANSPOSE_CONV_S16
    params = TransposeConvRefParams(
        batches=batches, in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=out_c,
        k_h=k_h, k_w=k_w, stride_h=sh, stride_w=sw,
        pad_h=tflite_padding(padding, out_h, k_h, sh),
        pad_w=tflite_padding(padding, out_w, k_w, sw), **fields)  # type: ignore[arg-type]
    return Layer(ctx.op, kernel, params, consts, [TensorArg(x.index), w_arg, b_arg,
                                                  TensorArg(y.index)],
                 reads, [y.index], batches * in_h * in_w * in_c * k_h * k_w * out_c)


def _generate(rng: np.random.Generator, qtype: str) -> GeneratedOp:
    import keras

    L = keras.layers
    h, w, c = int(rng.integers(2, 8)), int(rng.integers(2, 8)), int(rng.integers(1, 6))
    k = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    pad = ["same", "valid"][int(rng.integers(2))]
    out_pad = None  # extra rows and columns that only the bias reaches (LiteRT: VALID only)
    if pad == "valid" and rng.random() < 0.4 and max(stride) > 1:
        out_pad = (int(rng.integers(0, stride[0])), int(rng.integers(0, stride[1])))
    use_bias = rng.random() < 0.7
    # the converter fuses an activation into TRANSPOSE_CONV only after a bias
    act = [None, "relu", "relu6"][int(rng.integers(3))] if use_bias else None
    layer = L.Conv2DTranspose(int(rng.integers(1, 7)), k, strides=stride, padding=pad,
                              output_padding=out_pad, activation=act, use_bias=use_bias,
                              bias_initializer="random_normal")
    batch = int(rng.choice([1, 1, 2])) if qtype == "float32" else 1
    x = keras.Input((h, w, c), batch_size=batch)
    scale = float(rng.uniform(0.5, 4.0))
    return GeneratedOp(f"transpose_conv hwc={(h, w, c)} k={k} stride={stride} pad={pad} "
                       f"out_pad={out_pad} act={act} bias={use_bias} batch={batch}",
                       keras.Model(x, layer(x)),
                       [rng.normal(0, scale, (32, h, w, c)).astype(np.float32)])


register(OpSpec("TRANSPOSE_CONV", {("int8", "int8"): _lower, ("int16", "int8"): _lower_ref,
                                    ("float32", "float32"): _lower_ref}, inputs=(3, 4),
                options="TransposeConvOptions", weights=1, keyed_by=2, infer_shape=_infer,
                kernels=(TRANSPOSE_CONV, TRANSPOSE_CONV_S16, TRANSPOSE_CONV_F32),
                generate=_generate))
