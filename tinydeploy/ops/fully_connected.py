"""FULLY_CONNECTED: int8 activations, int8 weights [out, in] (per tensor or per channel), int32
bias; 16x8 (int16 activations, int8 weights, int64 bias) and float32 as TFLite's reference loops.

TensorFlow 2.21's reference kernel requantizes with one rounding, TFLite Micro's with two
(CompileOptions.rounding picks which to match). With symmetric weights (TFLite's int8 rule) the
input offset is folded into the bias and weights are blocked four rows at a time
(fully_connected_s8.c, td_matmul.h).

16x8 (fully_connected_s16.c): LiteRT sums in int64 and requantizes with one rounding and the
whole Q31 multiplier (measured: its int64 MultiplyByQuantizedMultiplier, which rounds the
multiplier to Q15, gives other results). float32 (fully_connected_f32.c): products summed in
input order, then the bias, then the clamp. keep_num_dims only shapes the output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinydeploy import quantmath as qm
from tinydeploy import weight_layout as wl
from tinydeploy.ops import register, wide
from tinydeploy.ops.base import (SCRATCH, ConstArg, ConstArray, FAST, GeneratedOp, Kernel, Layer,
                                 OpContext, OpSpec, Params, TensorArg, cfield)


@dataclass
class FcParams(Params):
    C_NAME = "td_fc_params"
    C_DOC = "FULLY_CONNECTED: `batches` rows of `in_depth` values against [out_depth, in_depth]."
    batches: int = cfield("int32_t")
    in_depth: int = cfield("int32_t")
    out_depth: int = cfield("int32_t")
    input_offset: int = cfield("int32_t")
    filter_offset: int = cfield("int32_t")
    output_offset: int = cfield("int32_t")
    act_min: int = cfield("int32_t")
    act_max: int = cfield("int32_t")
    mult: str | None = cfield("const int32_t *", "one entry, or one per output when per-channel")
    shift: str | None = cfield("const int32_t *")
    per_channel: int = cfield("int32_t")
    double_rounding: int = cfield("int32_t", "1: TFLite Micro's rounding (td_mbqm), 0: "
                                             "TensorFlow's single rounding (td_mbqm_single)")
    bias_folded: str | None = cfield(
        "const int32_t *", "bias + input_offset * row sums, weights in the td_matmul.h layout; 0 "
        "when filter_offset != 0 (weights then stay [out_depth, in_depth])")
    rq: str | None = cfield("const int32_t *", "fast requantization records (td_quant.h), or 0")
    layout: int = cfield("int32_t", "weights (td_matmul.h): TD_W8, TD_W16 or TD_ROWS")
    wide_input: object = cfield("int32_t", "TD_W16: 1 widens each input row once into the scratch "
                                           "(2 bytes per value of its whole groups of four) for "
                                           "td_mm_4x1_w16x")


FC = Kernel("td_fully_connected_s8", FcParams,
            ("const int8_t *in", "const void *w", "const int32_t *bias", "int8_t *restrict out",
             "int8_t *scratch"))


@dataclass
class FcRefParams(Params):
    C_NAME = "td_fc_ref_params"
    C_DOC = ("FULLY_CONNECTED in 16x8 and float32: `batches` rows of `in_depth` values against "
             "[out_depth, in_depth].")
    batches: int = cfield("int32_t")
    in_depth: int = cfield("int32_t")
    out_depth: int = cfield("int32_t")
    act_min: int = cfield("int32_t", "int16 output clamp")
    act_max: int = cfield("int32_t")
    activation: int = cfield("int32_t", "float32: TD_ACT_*")
    per_channel: int = cfield("int32_t", "16x8: one multiplier per output")
    mult: str | None = cfield("const int32_t *", "16x8")
    shift: str | None = cfield("const int32_t *")


FC_S16 = Kernel("td_fully_connected_s16", FcRefParams,
                ("const int16_t *in", "const int8_t *w", "const int64_t *bias", "int16_t *out"))
FC_F32 = Kernel("td_fully_connected_f32", FcRefParams,
                ("const float *in", "const float *w", "const float *bias", "float *out"))


def _infer(ctx: OpContext) -> list[tuple[int, ...]]:
    x, w = ctx.input(0), ctx.input(1)
    ctx.require(len(w.shape) == 2, f"weights have shape {list(w.shape)}, 2-D is required")
    out_depth, in_depth = w.shape
    ctx.require(in_depth >= 1 and x.size % in_depth == 0,
                f"input size {x.size} is not a multiple of the weight depth {in_depth}")
    b = ctx.optional_input(2)
    if b is not None:
        ctx.require(b.size == out_depth, f"bias has {b.size} values for {out_depth} outputs")
    if ctx.option("keep_num_dims", False):
        ctx.require(x.shape and x.shape[-1] == in_depth,
                    f"keep_num_dims needs the input's last dimension {x.shape} to be {in_depth}")
        return [tuple(x.shape[:-1]) + (out_depth,)]
    return [(x.size // in_depth, out_depth)]


def _lower(ctx: OpContext) -> Layer:
    x, w, y = ctx.input(0), ctx.input(1), ctx.output(0)
    b = ctx.optional_input(2)
    ctx.require_type(("int8",), x, w, y)
    ctx.require(w.is_constant, "weights must be a constant 2-D matrix")
    ctx.require(ctx.option("weights_format", 0) == 0, "shuffled weights format")
    out_depth, in_depth = w.shape
    ctx.require(len(w.scale) in (1, out_depth), f"weights have {len(w.scale)} scales for "
                                                f"{out_depth} outputs")
    per_channel = len(w.scale) > 1
    if per_channel:
        mult, shift = qm.per_channel_multipliers(x.scale0, w.scale, y.scale0, out_depth)
    else:
        # TFLite's GetQuantizedConvolutionMultipler: the scales' product in float, then double
        m, s = qm.quantize_multiplier(float(np.float32(x.scale0) * np.float32(w.scale0))
                                      / float(np.float32(y.scale0)))
        mult, shift = [m], [s]
    act_min, act_max = qm.activation_range(ctx.activation, y.scale0, y.zp0)
    name = ctx.name
    bias = np.zeros(out_depth, np.int64)
    if b is not None:
        ctx.require(b.dtype == "int32" and b.is_constant,
                    f"bias must be constant int32, found {b.dtype}")
        bias = b.array().reshape(-1).astype(np.int64)
    wa = w.array().astype(np.int64)
    double = ctx.options.rounding == "tflm"
    # the fast records follow TensorFlow's single rounding; TFLite Micro's takes the general path
    rq = None if double else qm.requant_records(mult, shift, y.zp0, None)
    consts = ([ctx.const("rq", "int32_t", rq)] if rq is not None else
              [ctx.const("mult", "int32_t", np.array(mult, np.int64)),
               ctx.const("shift", "int32_t", np.array(shift, np.int64))])
    layout = ctx.layout
    bias_arg = None
    if w.zp0 == 0:  # symmetric weights: fold the input offset into the bias, block the rows
        consts += [ctx.const("w", "int16_t" if layout == "int16" else "int8_t",
                             wl.fc_rows(wa, layout)),
                   ctx.const("bias_folded", "int32_t",
                             wl.padded(bias - x.zp0 * wa.sum(axis=1), 4))]
    else:
        consts.append(ctx.const("w", "int8_t", wa.reshape(-1)))
        if b is not None:
            consts.append(ctx.const("bias", "int32_t", bias))
            bias_arg = ConstArg(f"{name}_bias")
    # wide weights: the input row widened to int16 once (scratch, where the arena has room); it
    # saves two instructions per group of four inputs and block of four rows, costs four per group
    wide = w.zp0 == 0 and layout == "int16" and in_depth >= 4 and out_depth >= 16
    params = FcParams(
        batches=x.size // in_depth, in_depth=in_depth, out_depth=out_depth, input_offset=-x.zp0,
        filter_offset=-w.zp0, output_offset=y.zp0, act_min=act_min, act_max=act_max,
        mult=None if rq is not None else f"{name}_mult",
        shift=None if rq is not None else f"{name}_shift", per_channel=int(per_channel),
        double_rounding=int(double), bias_folded=f"{name}_bias_folded" if w.zp0 == 0 else None,
        rq=f"{name}_rq" if rq is not None else None,
        layout=wl.LAYOUT_CODES[layout] if w.zp0 == 0 else 0, wide_input=FAST if wide else 0)
    layer = Layer(ctx.op, FC, params, consts,
                  [TensorArg(x.index), ConstArg(f"{name}_w"), bias_arg, TensorArg(y.index), SCRATCH],
                  [x.index], [y.index], x.size // in_depth * in_depth * out_depth)
    layer.fast_scratch = 2 * (in_depth // 4 * 4) if wide else 0
    layer.layout = layout if w.zp0 == 0 else None
    return layer


def _lower_ref(ctx: OpContext) -> Layer:
    """16x8 and float32."""
    x, w, y = ctx.input(0), ctx.input(1), ctx.output(0)
    b = ctx.optional_input(2)
    is_float = x.dtype == "float32"
    ctx.require_type(("float32",) if is_float else ("int16",), x, y)
    ctx.require_type(("float32",) if is_float else ("int8",), w)
    ctx.require(ctx.option("weights_format", 0) == 0, "shuffled weights format")
    out_depth, in_depth = w.shape
    consts: list[ConstArray] = []
    reads = [x.index]
    w_arg = wide.operand(ctx, w, "w", consts, reads)
    fields: dict[str, object] = dict(act_min=0, act_max=0, activation=0, per_channel=0,
                                     mult=None, shift=None)
    if is_float:
        b_arg = wide.bias_operand(ctx, b, out_depth, ("float32",), consts, reads, "float")
        fields["activation"] = wide.float_activation(ctx)
        kernel = FC_F32
    else:
        ctx.require(w.is_constant, "weights must be a constant 2-D matrix")
        wide.require_symmetric(ctx, x, w, y)
        ctx.require(len(w.scale) in (1, out_depth), f"weights have {len(w.scale)} scales for "
                                                    f"{out_depth} outputs")
        b_arg = wide.bias_operand(ctx, b, out_depth, wide.BIAS16, consts, reads,
                                  "int64_t")
        per_channel = len(w.scale) > 1
        if per_channel:
            mult, shift = qm.per_channel_multipliers(x.scale0, w.scale, y.scale0, out_depth)
        else:  # the scales' product in float, then double, as for int8
            m, sh = qm.quantize_multiplier(float(np.float32(x.scale0) * np.float32(w.scale0))
                                           / float(np.float32(y.scale0)))
            mult, shift = [m], [sh]
        act_min, act_max = wide.int16_activation_range(ctx, y)
        consts += [ctx.const("mult", "int32_t", np.array(mult, np.int64)),
                   ctx.const("shift", "int32_t", np.array(shift, np.int64))]
        fields.update(act_min=act_min, act_max=act_max, per_channel=int(per_channel),
                      mult=f"{ctx.name}_mult", shift=f"{ctx.name}_shift")
        kernel = FC_S16
    batches = x.size // in_depth
    params = FcRefParams(batches=batches, in_depth=in_depth, out_depth=out_depth,
                         **fields)  # type: ignore[arg-type]
    return Layer(ctx.op, kernel, params, consts, [TensorArg(x.index), w_arg, b_arg,
                                                  TensorArg(y.index)],
                 reads, [y.index], batches * in_depth * out_depth)


def _generate(rng: np.random.Generator, qtype: str) -> GeneratedOp:
    """A dense layer over a flattened image; 16x8 and float32 models get a random bias at
    times (float32 also keep_num_dims over rows, and batches of two)."""
    import keras

    L = keras.layers
    h, w, c = int(rng.integers(3, 14)), int(rng.integers(3, 14)), int(rng.integers(1, 9))
    x = keras.Input((h, w, c), batch_size=1)
    act = [None, "relu", "relu6"][int(rng.integers(3))]
    units = int(rng.integers(1, 20))
    use_bias, bias_init, rows, batch = True, "zeros", False, 1
    if qtype != "int8":
        use_bias, bias_init = bool(rng.random() < 0.7), "random_normal"
    if qtype == "float32":
        rows, batch = bool(rng.random() < 0.4), int(rng.choice([1, 1, 2]))
        x = keras.Input((h, w, c), batch_size=batch)
    dense = L.Dense(units, activation=act, use_bias=use_bias, bias_initializer=bias_init)
    # over rows of a 3-D tensor the converter writes keep_num_dims
    y = dense(L.Reshape((h, w * c))(x)) if rows else dense(L.Reshape((h * w * c,))(x))
    scale = float(rng.uniform(0.5, 4.0))
    return GeneratedOp(f"dense in={math.prod((h, w, c))} units={units} act={act} bias={use_bias} "
                       f"rows={rows} batch={batch}", keras.Model(x, y),
                       [rng.normal(0, scale, (32, h, w, c)).astype(np.float32)])


register(OpSpec("FULLY_CONNECTED", {("int8", "int8"): _lower, ("int16", "int8"): _lower_ref,
                                     ("float32", "float32"): _lower_ref}, inputs=(2, 3),
                options="FullyConnectedOptions", weights=1, infer_shape=_infer,
                kernels=(FC, FC_S16, FC_F32),
                generate=_generate,
                optimized={"int8": ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55")}))
