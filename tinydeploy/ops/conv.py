"""CONV_2D and DEPTHWISE_CONV_2D: int8 activations with per-channel int8 weights and int32 bias;
16x8 (int16 activations, int8 weights, int64 bias) and float32 as TFLite's reference loops.

int8: the input offset is folded into the bias (a padded tap reads the input zero point and adds
nothing), weights are reordered into the layout the kernels read (weight_layout.py), and each
output channel gets a fast requantization record where quantmath proves it exact. Kernels:
conv2d_s8.c (general windows), conv1x1 in the same file, depthwise_conv2d_s8.c and
depthwise_conv3x3_s8.c (3x3 stride 1 as vertical tap pairs).

16x8 and float32 (conv2d_s16.c, depthwise_conv2d_s16.c, conv2d_f32.c, depthwise_conv2d_f32.c)
follow the reference kernels loop for loop: any batch, padded taps skipped, float sums in the
reference's order (filter rows, columns, input channels, then the bias) so that results are
usually identical. 16x8 sums in int64 and requantizes with TFLite's int64
MultiplyByQuantizedMultiplier; LiteRT reads a 16x8 bias as int64 whatever its type (an int32 one
is misread), so only int64 biases (what the converter writes) are taken.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydeploy import quantmath as qm
from tinydeploy import weight_layout as wl
from tinydeploy.ops import register, register_constant, wide
from tinydeploy.ops.base import (SCRATCH, ConstArg, ConstArray, FAST, GeneratedOp, Kernel, Layer,
                                 OpContext, OpSpec, Params, TensorArg, cfield, conv_out_size, hwc,
                                 pad_before)

TD_DW_MAX_K = 16  # tallest kernel td_depthwise_conv2d_s8 takes (its ring of rows)
register_constant("TD_DW_MAX_K", TD_DW_MAX_K, "kernel height limit of td_depthwise_conv2d_s8")
register_constant("TD_W8", wl.LAYOUT_CODES["int8"], "weights: int8 blocks of rows, SXTB16 order")
register_constant("TD_W16", wl.LAYOUT_CODES["int16"], "weights: the same blocks pre-widened to int16")
register_constant("TD_ROWS", wl.LAYOUT_CODES["rows"], "weights: int8 rows one after another (Helium)")
TD_W16B = 3  # conv only: wide doubled weights in blocks with biases and records
register_constant("TD_W16B", TD_W16B, "conv weights: per channel pair the doubled biases, the wide "
                  "rows doubled and the records (weight_layout.conv_pair_blocks)")


@dataclass
class ConvParams(Params):
    C_NAME = "td_conv_params"
    C_DOC = ("CONV_2D and DEPTHWISE_CONV_2D: NHWC, batch 1. Scratch: see each kernel "
             "(td_conv2d_s8, td_conv1x1_s8, td_depthwise_conv2d_s8, td_depthwise_conv3x3_s8).")
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
    dil_h: int = cfield("int32_t")
    dil_w: int = cfield("int32_t")
    pad_h: int = cfield("int32_t")
    pad_w: int = cfield("int32_t")
    depth_multiplier: int = cfield("int32_t", "depthwise only")
    input_offset: int = cfield("int32_t")
    output_offset: int = cfield("int32_t")
    act_min: int = cfield("int32_t")
    act_max: int = cfield("int32_t")
    mult: str | None = cfield("const int32_t *", "per output channel")
    shift: str | None = cfield("const int32_t *")
    bias_folded: str | None = cfield(
        "const int32_t *", "bias + input_offset * (sum of the channel's weights): windows inside "
        "the input run as plain int8 dot products (TD_W16B: 0, the blocks hold them)")
    rq: str | None = cfield("const int32_t *", "fast requantization records (td_quant.h), or 0")
    ring_rows: int = cfield("int32_t", "rows in the kernel's ring of rows, 0 for none")
    layout: int = cfield("int32_t", "conv weights (td_matmul.h): TD_W8, TD_W16, TD_ROWS or "
                                       "TD_W16B")
    quads: object = cfield("int32_t", "TD_W16B weights: 1 takes output pixels four at a time "
                                      "(builds without the assembly pair loop, or a clamp other "
                                      "than int8's), with a quad buffer of 8 bytes per window "
                                      "value in the scratch instead of pairs' 4")


_ARGS = ("const int8_t *in", "const void *w", "const int32_t *bias", "int8_t *out",
         "int8_t *scratch")
CONV = Kernel("td_conv2d_s8", ConvParams, _ARGS, "general convolution windows")
CONV1X1 = Kernel("td_conv1x1_s8", ConvParams, _ARGS, "1x1, stride 1, no padding")
DEPTHWISE = Kernel("td_depthwise_conv2d_s8", ConvParams, _ARGS, "depth multiplier 1")
DEPTHWISE3X3 = Kernel("td_depthwise_conv3x3_s8", ConvParams, _ARGS,
                      "3x3, stride 1, channels in fours: vertical tap pairs")
DEPTHWISE_DM = Kernel("td_depthwise_conv2d_dm_s8", ConvParams, _ARGS[:-1], "any depth multiplier")


@dataclass
class ConvRefParams(Params):
    C_NAME = "td_conv_ref_params"
    C_DOC = ("CONV_2D and DEPTHWISE_CONV_2D in 16x8 and float32, NHWC, as TFLite's reference "
             "loops (td_conv2d_s16, td_depthwise_conv2d_s16, td_conv2d_f32, "
             "td_depthwise_conv2d_f32).")
    batches: int = cfield("int32_t")
    in_h: int = cfield("int32_t")
    in_w: int = cfield("int32_t")
    in_c: int = cfield("int32_t")
    out_h: int = cfield("int32_t")
    out_w: int = cfield("int32_t")
    out_c: int = cfield("int32_t")
    k_h: int = cfield("int32_t")
    k_w: int = cfield("int32_t")
    filter_c: int = cfield("int32_t", "input channels each conv filter reads (in_c / groups)")
    stride_h: int = cfield("int32_t")
    stride_w: int = cfield("int32_t")
    dil_h: int = cfield("int32_t")
    dil_w: int = cfield("int32_t")
    pad_h: int = cfield("int32_t")
    pad_w: int = cfield("int32_t")
    depth_multiplier: int = cfield("int32_t", "depthwise only")
    act_min: int = cfield("int32_t", "int16 output clamp")
    act_max: int = cfield("int32_t")
    activation: int = cfield("int32_t", "float32: TD_ACT_*")
    mult: str | None = cfield("const int32_t *", "16x8: per output channel")
    shift: str | None = cfield("const int32_t *")


_S16_ARGS = ("const int16_t *in", "const int8_t *w", "const int64_t *bias", "int16_t *out")
_F32_ARGS = ("const float *in", "const float *w", "const float *bias", "float *out")
CONV_S16 = Kernel("td_conv2d_s16", ConvRefParams, _S16_ARGS, "16x8, any window, groups")
DEPTHWISE_S16 = Kernel("td_depthwise_conv2d_s16", ConvRefParams, _S16_ARGS,
                       "16x8, any depth multiplier")
CONV_F32 = Kernel("td_conv2d_f32", ConvRefParams, _F32_ARGS, "float32, any window, groups")
DEPTHWISE_F32 = Kernel("td_depthwise_conv2d_f32", ConvRefParams, _F32_ARGS,
                       "float32, any depth multiplier")


def requant_consts(ctx: OpContext, mult: list[int], shift: list[int], output_zp: int,
                   acc_ranges: np.ndarray | None, act: tuple[int, int]
                   ) -> tuple[list[ConstArray], dict[str, str | None], np.ndarray | None]:
    """Fast requantization records where they are exact (quantmath.requant_records), else the
    multipliers and shifts of the general path: (constants, the rq/mult/shift fields, records)."""
    rq = qm.requant_records(mult, shift, output_zp, acc_ranges, act)
    if rq is not None:
        return [ctx.const("rq", "int32_t", rq)], dict(rq=f"{ctx.name}_rq", mult=None,
                                                      shift=None), rq
    return ([ctx.const("mult", "int32_t", np.array(mult, np.int64)),
             ctx.const("shift", "int32_t", np.array(shift, np.int64))],
            dict(rq=None, mult=f"{ctx.name}_mult", shift=f"{ctx.name}_shift"), None)


def _options(ctx: OpContext) -> tuple[int, int, int, int, str]:
    sh, sw = ctx.option("stride_h", 0), ctx.option("stride_w", 0)
    dh, dw = ctx.option("dilation_h_factor", 1), ctx.option("dilation_w_factor", 1)
    pad = ctx.option("padding", "SAME")
    ctx.require(sh >= 1 and sw >= 1, f"strides ({sh}, {sw}) must be at least 1")
    ctx.require(dh >= 1 and dw >= 1, f"dilations ({dh}, {dw}) must be at least 1")
    ctx.require(pad in ("SAME", "VALID"), f"padding {pad}")
    return sh, sw, dh, dw, pad


def _infer(ctx: OpContext, depthwise: bool) -> list[tuple[int, ...]]:
    x, w = ctx.input(0), ctx.input(1)
    ctx.require(len(x.shape) == 4, f"input has shape {list(x.shape)}, 4-D NHWC is required")
    ctx.require(len(w.shape) == 4, f"filter has shape {list(w.shape)}, 4-D is required")
    sh, sw, dh, dw, pad = _options(ctx)
    k_h, k_w = w.shape[1], w.shape[2]
    ctx.require(k_h >= 1 and k_w >= 1, f"filter has shape {list(w.shape)}")
    if depthwise:
        ctx.require(w.shape[0] == 1, f"depthwise filter has shape {list(w.shape)}, [1, kh, kw, "
                                     "channels] is required")
        out_c = w.shape[3]
        dm = ctx.option("depth_multiplier", 0)
        ctx.require(x.shape[3] >= 1 and out_c % x.shape[3] == 0,
                    f"filter channels {out_c} are not a multiple of input channels {x.shape[3]}")
        ctx.require(dm in (0, out_c // x.shape[3]),
                    f"depth_multiplier {dm} does not match {out_c} filters over {x.shape[3]} "
                    "input channels")
    else:
        out_c = w.shape[0]
        ctx.require(w.shape[3] >= 1 and x.shape[3] % w.shape[3] == 0,
                    f"input channels {x.shape[3]} are not a multiple of filter depth {w.shape[3]}")
    b = ctx.optional_input(2)
    if b is not None:
        ctx.require(b.size == out_c, f"bias has {b.size} values for {out_c} output channels")
    out_h = conv_out_size(x.shape[1], k_h, sh, dh, pad)
    out_w = conv_out_size(x.shape[2], k_w, sw, dw, pad)
    ctx.require(out_h >= 1 and out_w >= 1, f"the {k_h}x{k_w} filter does not fit the "
                                           f"{x.shape[1]}x{x.shape[2]} input")
    return [(x.shape[0], out_h, out_w, out_c)]


def _row_overlap(in_h: int, in_row: int, out_h: int, out_row: int, stride: int, pad: int,
                 out_bytes: int) -> int:
    """How far into the output buffer the input may sit when td_conv2d_s8 writes output rows in
    order: output row r (and the rows before it) must end before the first input row that row r
    still reads. 0 when sharing would save nothing."""
    need = 0
    for r in range(out_h):
        first_row = max(0, r * stride - pad)
        if first_row < in_h:
            need = max(need, (r + 1) * out_row - first_row * in_row)
    need = -(-need // 16) * 16  # the input stays 16-byte aligned
    return need if need < out_bytes else 0


def _conv_like(ctx: OpContext, depthwise: bool) -> Layer:
    x, w, y = ctx.input(0), ctx.input(1), ctx.output(0)
    b = ctx.optional_input(2)
    ctx.require_type(("int8",), x, w, y)
    ctx.require(w.is_constant, "weights must be constant")
    ctx.require(b is None or (b.dtype == "int32" and b.is_constant),
                f"bias must be constant int32, found {b.dtype if b else ''}")
    out_c = y.shape[3]
    ctx.require(len(w.scale) in (1, out_c), f"filter has {len(w.scale)} scales for {out_c} "
                                            "output channels")
    in_h, in_w, in_c = hwc(ctx, x)
    out_h, out_w, out_c = hwc(ctx, y)
    sh, sw, dh, dw, padding = _options(ctx)
    k_h, k_w = w.shape[1], w.shape[2]
    ctx.require(depthwise or w.shape[3] == in_c,
                f"grouped convolution (filter depth {w.shape[3]} vs input {in_c})")
    act = ctx.activation
    ctx.require(act in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"), f"fused activation {act}")
    mult, shift = qm.per_channel_multipliers(x.scale0, w.scale, y.scale0, out_c)
    act_min, act_max = qm.activation_range(act, y.scale0, y.zp0)
    wa = w.array().astype(np.int64)
    bias = b.array().reshape(-1).astype(np.int64) if b is not None else np.zeros(out_c, np.int64)
    taps = k_h * k_w
    # a depthwise convolution of a single input channel is a plain convolution
    as_conv = depthwise and in_c == 1
    per_channel = wa.reshape(taps, out_c).T if depthwise else wa.reshape(out_c, -1)  # [out_c, window]
    # the filters as conv rows, each kernel row padded to a multiple of 4 values (td_conv2d_s8)
    rows = wl.pad_kernel_rows(per_channel, k_h) if as_conv or not depthwise else None
    bias_folded = bias - x.zp0 * per_channel.sum(axis=1)
    # the accumulator's reach: inputs span [-128, 127] against each weight's sign
    pos, neg = np.clip(per_channel, 0, None).sum(axis=1), np.clip(per_channel, None, 0).sum(axis=1)
    acc_range = np.stack([bias_folded - 128 * pos + 127 * neg,
                          bias_folded + 127 * pos - 128 * neg], axis=1)
    consts, rq_fields, records = requant_consts(ctx, mult, shift, y.zp0, acc_range,
                                                (act_min, act_max))
    macs = out_h * out_w * out_c * taps * (1 if depthwise else in_c)
    unit = sh == sw == 1 and dh == dw == 1 and in_h == out_h and in_w == out_w and in_c == out_c
    pad_h = pad_before(in_h, out_h, sh, k_h, dh, padding)
    pad_w = pad_before(in_w, out_w, sw, k_w, dw, padding)
    depth_multiplier = out_c // in_c if depthwise else 1
    name = ctx.name
    args = [TensorArg(x.index), ConstArg(f"{name}_w"), None, TensorArg(y.index), SCRATCH]

    def params(**kw: object) -> ConvParams:
        base = dict(in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=out_c,
                    k_h=k_h, k_w=k_w, stride_h=sh, stride_w=sw, dil_h=dh, dil_w=dw, pad_h=pad_h,
                    pad_w=pad_w, depth_multiplier=depth_multiplier, input_offset=-x.zp0,
                    output_offset=y.zp0, act_min=act_min, act_max=act_max,
                    bias_folded=f"{name}_bias_folded", ring_rows=0, layout=0, quads=0)
        base.update(rq_fields)
        base.update(kw)
        return ConvParams(**base)  # type: ignore[arg-type]

    pairs_3x3 = (k_h == k_w == 3 and sh == sw == 1 and records is not None and dh == dw == 1
                 and out_c % 4 == 0)
    if depthwise and not as_conv and depth_multiplier == 1 and pairs_3x3:
        # records, weights and folded bias in one block per channel; the ring holds two rows of
        # vertical int16 pixel pairs, 4 bytes per channel and padded column
        blocks = wl.depthwise_3x3_blocks(wa.reshape(taps, out_c), bias_folded, records)
        return Layer(ctx.op, DEPTHWISE3X3,
                     params(rq=None, bias_folded=None, ring_rows=2),
                     [ctx.const("w", "int32_t", blocks)], args, [x.index], [y.index], macs,
                     2 * (out_w + 2) * out_c * 4, unit)
    scratch, ring, inplace, quads, layout = 0, 0, False, 0, 0
    lay: str | None = None  # the weight layout, where the kernel takes one
    if depthwise and not as_conv:
        if depth_multiplier == 1 and k_h <= TD_DW_MAX_K:
            kernel, block = DEPTHWISE, 4
            weights = ctx.const("w", "int16_t", wl.depthwise_groups(wa.reshape(taps, out_c)))
            # a ring of input rows padded with the zero point (+4: a group's load past the end)
            need_w = (out_w - 1) * sw + (k_w - 1) * dw + 1
            ring_row = max(need_w, pad_w + in_w) * in_c
            ring = (k_h - 1) * dh + 1
            scratch, inplace = ring * ring_row + 4, unit
        else:
            kernel, block = DEPTHWISE_DM, 1
            weights = ctx.const("w", "int8_t", wa.reshape(-1))
    else:
        depth_multiplier = 1
        assert rows is not None
        block, k4 = 2, -(-rows.shape[1] // 4) * 4
        lay = ctx.layout
        # wide weights with fast records: one block per channel pair with the biases and records
        blocks = lay == "int16" and records is not None
        if blocks:
            weights = ctx.const("w", "int32_t", wl.conv_pair_blocks(rows, bias_folded, records))
            consts, rq_fields = [], dict(rq=None, mult=None, shift=None)
        else:
            weights = ctx.const("w", "int16_t" if lay == "int16" else "int8_t",
                                wl.conv_rows(rows, lay))
        pointwise = k_h == k_w == 1 and pad_h == pad_w == 0 and sh == sw == 1
        dummy = -(-out_c // 4) * 4  # where the outputs of an odd last pixel go
        # the pixel pair buffer: 4 bytes per window value; with wide weights and fast records
        # pixels may go in fours (params quads), the quad buffer taking 4 more
        window_buf = 4 * k4
        quads = blocks
        layout = TD_W16B if blocks else wl.LAYOUT_CODES[lay]
        if pointwise:
            # all input pixels of a quad or pair are read before their outputs are written
            kernel, scratch, inplace = CONV1X1, window_buf + dummy, unit
        else:
            # window buffer, two window rows and a zero row; in place also a ring of output rows
            kernel, inplace = CONV, unit
            ring = pad_h + 1 if unit else 0
            row4 = -(-k_w * in_c // 4) * 4
            scratch = window_buf + 3 * row4 + dummy + ring * out_w * out_c
    consts.append(weights)
    if not quads:  # TD_W16B blocks hold their biases
        consts.append(ctx.const("bias_folded", "int32_t", wl.padded(bias_folded, block)))
    layer = Layer(ctx.op, kernel,
                  params(ring_rows=ring, layout=layout, quads=FAST if quads else 0,
                         depth_multiplier=depth_multiplier,
                         bias_folded=None if quads else f"{name}_bias_folded"),
                  consts, args[:len(kernel.args)], [x.index], [y.index], macs, scratch, inplace)
    layer.layout = lay
    if quads:
        layer.fast_scratch = window_buf
    if kernel is CONV and not inplace:
        layer.overlap = _row_overlap(in_h, in_w * in_c, out_h, out_w * out_c, sh, pad_h, y.nbytes)
    return layer


def _conv_ref(ctx: OpContext, depthwise: bool) -> Layer:
    """16x8 and float32: the reference's loops, any batch (grouped convolutions in float32)."""
    x, w, y = ctx.input(0), ctx.input(1), ctx.output(0)
    b = ctx.optional_input(2)
    is_float = x.dtype == "float32"
    ctx.require_type(("float32",) if is_float else ("int16",), x, y)
    ctx.require_type(("float32",) if is_float else ("int8",), w)
    batches, in_h, in_w, in_c = x.shape
    _, out_h, out_w, out_c = y.shape
    sh, sw, dh, dw, padding = _options(ctx)
    k_h, k_w = w.shape[1], w.shape[2]
    filter_c = 1 if depthwise else w.shape[3]
    ctx.require(depthwise or out_c % (in_c // filter_c) == 0,
                f"{out_c} filters do not split into {in_c // filter_c} groups")
    consts: list[ConstArray] = []
    reads = [x.index]
    # the kernels read weights in TFLite's order: [out_c][k_h][k_w][filter_c], or depthwise
    # [k_h][k_w][out_c]
    w_arg = wide.operand(ctx, w, "w", consts, reads)
    fields: dict[str, object] = dict(act_min=0, act_max=0, activation=0, mult=None, shift=None)
    if is_float:
        b_arg = wide.bias_operand(ctx, b, out_c, ("float32",), consts, reads, "float")
        fields["activation"] = wide.float_activation(ctx)
        kernel = DEPTHWISE_F32 if depthwise else CONV_F32
    else:
        ctx.require(depthwise or filter_c == in_c,
                    f"grouped convolution (filter depth {filter_c} vs input {in_c}) in 16x8")
        ctx.require(w.is_constant, "weights must be constant")
        wide.require_symmetric(ctx, x, y)
        ctx.require(len(w.scale) in (1, out_c), f"filter has {len(w.scale)} scales for {out_c} "
                                                "output channels")
        b_arg = wide.bias_operand(ctx, b, out_c, wide.BIAS16, consts, reads, "int64_t")
        mult, shift = qm.per_channel_multipliers(x.scale0, w.scale, y.scale0, out_c)
        wide.wide_multipliers(ctx, mult, shift)
        act_min, act_max = wide.int16_activation_range(ctx, y)
        consts += [ctx.const("mult", "int32_t", np.array(mult, np.int64)),
                   ctx.const("shift", "int32_t", np.array(shift, np.int64))]
        fields.update(act_min=act_min, act_max=act_max, mult=f"{ctx.name}_mult",
                      shift=f"{ctx.name}_shift")
        kernel = DEPTHWISE_S16 if depthwise else CONV_S16
    params = ConvRefParams(
        batches=batches, in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=out_c,
        k_h=k_h, k_w=k_w, filter_c=filter_c, stride_h=sh, stride_w=sw, dil_h=dh, dil_w=dw,
        pad_h=pad_before(in_h, out_h, sh, k_h, dh, padding),
        pad_w=pad_before(in_w, out_w, sw, k_w, dw, padding),
        depth_multiplier=out_c // in_c if depthwise else 1, **fields)  # type: ignore[arg-type]
    macs = batches * out_h * out_w * out_c * k_h * k_w * filter_c
    return Layer(ctx.op, kernel, params, consts, [TensorArg(x.index), w_arg, b_arg,
                                                  TensorArg(y.index)],
                 reads, [y.index], macs)


def _generate(rng: np.random.Generator, kind: str, qtype: str = "int8") -> GeneratedOp:
    """A random convolution; 16x8 and float32 models with a random bias or none (the converter
    then writes zeros), float32 ones also in batches of two and grouped."""
    import keras

    L = keras.layers
    h, w, c = int(rng.integers(3, 14)), int(rng.integers(3, 14)), int(rng.integers(1, 9))
    k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    stride = int(rng.integers(1, 3))
    dil = 1 if stride > 1 or rng.random() < 0.6 else int(rng.integers(1, 3))
    pad = ["same", "valid"][int(rng.integers(2))]
    if pad == "valid":
        k = (max(1, min(k[0], h - (k[0] - 1) * (dil - 1))),
             max(1, min(k[1], w - (k[1] - 1) * (dil - 1))))
    act = [None, "relu", "relu6"][int(rng.integers(3))]
    filters = int(rng.integers(1, 12)) if kind == "conv" else 0
    multiplier = int(rng.integers(1, 4)) if kind != "conv" else 0
    use_bias, batch, groups, bias_init = True, 1, 1, "zeros"
    if qtype != "int8":
        bias_init = "random_normal"
        use_bias = bool(rng.random() < 0.7)
    if qtype == "float32":
        batch = int(rng.choice([1, 1, 2]))
        divisors = [g for g in range(2, c + 1) if c % g == 0]
        if kind == "conv" and divisors and rng.random() < 0.3:
            groups = int(rng.choice(divisors))
            filters = groups * int(rng.integers(1, 4))
    if kind == "conv":
        layer = L.Conv2D(filters, k, strides=stride, padding=pad, dilation_rate=dil,
                         activation=act, use_bias=use_bias, groups=groups,
                         bias_initializer=bias_init)
    else:
        layer = L.DepthwiseConv2D(k, strides=stride, padding=pad, dilation_rate=dil,
                                  depth_multiplier=multiplier, activation=act, use_bias=use_bias,
                                  bias_initializer=bias_init)
    x = keras.Input((h, w, c), batch_size=batch)
    scale = float(rng.uniform(0.5, 4.0))
    return GeneratedOp(f"{kind} hwc={(h, w, c)} k={k} stride={stride} dil={dil} pad={pad} "
                       f"act={act} bias={use_bias} batch={batch} groups={groups}",
                       keras.Model(x, layer(x)),
                       [rng.normal(0, scale, (32, h, w, c)).astype(np.float32)])


register(
    OpSpec("CONV_2D", {("int8", "int8"): lambda ctx: _conv_like(ctx, False),
                       ("int16", "int8"): lambda ctx: _conv_ref(ctx, False),
                       ("float32", "float32"): lambda ctx: _conv_ref(ctx, False)},
           inputs=(2, 3), options="Conv2DOptions", weights=1,
           infer_shape=lambda ctx: _infer(ctx, False),
           kernels=(CONV, CONV1X1, CONV_S16, CONV_F32),
           generate=lambda rng, t: _generate(rng, "conv", t),
           optimized={"int8": ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55")}),
    OpSpec("DEPTHWISE_CONV_2D", {("int8", "int8"): lambda ctx: _conv_like(ctx, True),
                                 ("int16", "int8"): lambda ctx: _conv_ref(ctx, True),
                                 ("float32", "float32"): lambda ctx: _conv_ref(ctx, True)},
           inputs=(2, 3), options="DepthwiseConv2DOptions", weights=1,
           infer_shape=lambda ctx: _infer(ctx, True),
           kernels=(DEPTHWISE, DEPTHWISE3X3, DEPTHWISE_DM, CONV, CONV1X1, DEPTHWISE_S16,
                    DEPTHWISE_F32),
           generate=lambda rng, t: _generate(rng, "depthwise", t),
           optimized={"int8": ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55")}),
)
