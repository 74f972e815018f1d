"""Stateful sequence operators, int8 and float32: UNIDIRECTIONAL_SEQUENCE_LSTM (lstm_s8.c,
lstm_f32.c) and SVDF (svdf_s8.c, svdf_f32.c). Their state lives in variable tensors, which the memory plan keeps in the persistent
state region; the kernels update it in place, so it carries over from one invocation to the next.

LSTM is TFLite's integer 8x8->16 LSTM as the converter writes it for full-int8 models: int8 input,
weights and hidden state, int16 cell state with a power-of-two scale, gates in Q3.12 (or the
scales of the intermediate tensors where the LSTM is layer-normalized), the hidden value's
quantization in the fifth intermediate tensor. Everything scale-dependent is computed here as the
reference's Prepare does (unidirectional_sequence_lstm.cc: PopulateQuantizedLstmParams8x8_16 and
the zero points folded into the biases), in its float and double precision. CIFG, peephole,
layer norm, projection and both clips are supported; diagonal recurrent weights are not. As the
reference does: the fused activation is not read (the cell gate and the output use tanh), and
where the cell scale is outside 2^-15..2^-9 (tanh with 0..6 integer bits) the output reads the
input gate's buffer in place of tanh(cell) (refused with CIFG, where that buffer is unwritten).
The oracle is LiteRT's kernel; TFLite Micro's integer LSTM is a different implementation.

SVDF is TFLite's integer SVDF (int8 input and weights_feature, int16 weights_time and state, int32
bias): the reference's Prepare computes its two multipliers in double; it takes RELU only and its
integer kernel then clamps the output to int8 without applying it.

float32 follows LiteRT's float kernels (lstm_eval's LstmStepFloat, EvalFloatSVDF) step for step,
their matrix-vector dot products summed in the order LiteRT's sums them on its reference machine
(td_dot4_f32: four lanes, measured), so that SVDF results are identical and LSTM ones differ only
where the C library's expf/tanhf do. There is no 16x8 variant of either: LiteRT has no
int16-activation kernel for them (its integer LSTM and SVDF take int8 input; it refuses an int16
LSTM), the converter refuses to quantize an LSTM to 16x8, and TFLite Micro's int16 LSTM is
another implementation, which no model the converter writes reaches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinydeploy import quantmath as qm
from tinydeploy import weight_layout as wl
from tinydeploy.ops import register, register_constant, wide
from tinydeploy.ops.base import (SCRATCH, ConstArg, ConstArray, GeneratedOp, Kernel, Layer,
                                 OpContext, OpSpec, Params, TensorArg, cfield)
from tinydeploy.ops.binary import ACTIVATIONS
from tinydeploy.tflite_reader import Tensor

f32 = np.float32
GATES = ("input", "forget", "cell", "output")
CELL_GATE = 2
register_constant("TD_LSTM_CELL_GATE", CELL_GATE, "gate index of the LSTM's cell (tanh) gate")
# the float sequence kernels' activations: the TD_ACT_* codes of the clamps, and tanh
FLOAT_ACTIVATIONS = {**ACTIVATIONS, "TANH": 4}
register_constant("TD_ACT_TANH", FLOAT_ACTIVATIONS["TANH"], "float sequence ops: TANH")


def sequence_activation(ctx: OpContext) -> int:
    """A float sequence op's fused activation as its TD_ACT_* code."""
    act = ctx.activation
    ctx.require(act in FLOAT_ACTIVATIONS, f"fused activation {act}")
    return FLOAT_ACTIVATIONS[act]


@dataclass
class LstmParams(Params):
    C_NAME = "td_lstm_params"
    C_DOC = ("UNIDIRECTIONAL_SEQUENCE_LSTM, integer 8x8->16. Per-gate arrays are indexed input, "
             "forget, cell, output; offsets index the w, bias and w16 arrays.")
    n_batch: int = cfield("int32_t")
    n_time: int = cfield("int32_t")
    n_input: int = cfield("int32_t")
    n_cell: int = cfield("int32_t")
    n_output: int = cfield("int32_t")
    time_major: int = cfield("int32_t", "1: input [time, batch, input], 0: [batch, time, input]")
    gates: int = cfield("int32_t", "bit g: gate g is present (no input gate with CIFG)")
    peephole: int = cfield("int32_t")
    layer_norm: int = cfield("int32_t")
    projection: int = cfield("int32_t")
    in_mult: list[int] = cfield("int32_t", "input x weights to the gate's scale", count=4)
    in_shift: list[int] = cfield("int32_t", count=4)
    rec_mult: list[int] = cfield("int32_t", "hidden x recurrent weights to the gate's scale",
                                 count=4)
    rec_shift: list[int] = cfield("int32_t", count=4)
    peep_mult: list[int] = cfield("int32_t", count=4)
    peep_shift: list[int] = cfield("int32_t", count=4)
    ln_mult: list[int] = cfield("int32_t", count=4)
    ln_shift: list[int] = cfield("int32_t", count=4)
    ln_guard: list[int] = cfield("int32_t", "variance used where it rounds below 1", count=4)
    hidden_mult: int = cfield("int32_t", "output gate x tanh(cell) to the hidden value")
    hidden_shift: int = cfield("int32_t")
    hidden_zp: int = cfield("int32_t")
    proj_mult: int = cfield("int32_t")
    proj_shift: int = cfield("int32_t")
    output_zp: int = cfield("int32_t", "zero point of the output state (projection)")
    cell_shift: int = cfield("int32_t", "log2 of the cell state's scale")
    cell_clip: int = cfield("int32_t", "quantized cell clip, 0: none")
    proj_clip: int = cfield("int32_t", "quantized projection clip, 0: none")
    layout: int = cfield("int32_t", "weight matrices (td_matmul.h): TD_W8, TD_W16 or TD_ROWS, "
                                    "rows in fours as FULLY_CONNECTED's")
    w_in: list[int] = cfield("int32_t", "offset in w of each gate's input weights [cell, input]",
                             count=4)
    w_rec: list[int] = cfield("int32_t", "offset in w of recurrent weights [cell, output]", count=4)
    w_proj: int = cfield("int32_t", "offset in w of the projection weights [output, cell]")
    b_in: list[int] = cfield("int32_t", "offset in bias of each gate's input-side effective bias",
                             count=4)
    b_rec: list[int] = cfield("int32_t", "offset in bias of the recurrent-side effective bias",
                              count=4)
    b_proj: int = cfield("int32_t")
    ln_bias: list[int] = cfield("int32_t", "offset in bias of the gate bias (layer norm)", count=4)
    peep: list[int] = cfield("int32_t", "offset in w16 of the peephole weights", count=4)
    ln: list[int] = cfield("int32_t", "offset in w16 of the layer-norm coefficients", count=4)
    w: str | None = cfield("const void *", "int16 elements with TD_W16, int8 otherwise")
    bias: str | None = cfield("const int32_t *")
    w16: str | None = cfield("const int16_t *")


@dataclass
class SvdfParams(Params):
    C_NAME = "td_svdf_params"
    C_DOC = "SVDF, int8: state [batch, filter, memory] of int16, filters grouped `rank` per unit."
    n_batch: int = cfield("int32_t")
    n_input: int = cfield("int32_t")
    n_filter: int = cfield("int32_t")
    n_memory: int = cfield("int32_t")
    n_unit: int = cfield("int32_t")
    rank: int = cfield("int32_t")
    input_zp: int = cfield("int32_t")
    output_zp: int = cfield("int32_t")
    feature_mult: int = cfield("int32_t", "input x weights_feature to the state's scale")
    feature_shift: int = cfield("int32_t")
    output_mult: int = cfield("int32_t", "state x weights_time to the output's scale")
    output_shift: int = cfield("int32_t")


@dataclass
class SvdfF32Params(Params):
    C_NAME = "td_svdf_f32_params"
    C_DOC = "SVDF, float32: state [batch, filter, memory], filters grouped `rank` per unit."
    n_batch: int = cfield("int32_t")
    n_input: int = cfield("int32_t")
    n_filter: int = cfield("int32_t")
    n_memory: int = cfield("int32_t")
    n_unit: int = cfield("int32_t")
    rank: int = cfield("int32_t")
    activation: int = cfield("int32_t", "TD_ACT_*")


@dataclass
class LstmF32Params(Params):
    C_NAME = "td_lstm_f32_params"
    C_DOC = ("UNIDIRECTIONAL_SEQUENCE_LSTM, float32. Per-gate arrays are indexed input, forget, "
             "cell, output; offsets index the one constant array w.")
    n_batch: int = cfield("int32_t")
    n_time: int = cfield("int32_t")
    n_input: int = cfield("int32_t")
    n_cell: int = cfield("int32_t")
    n_output: int = cfield("int32_t")
    time_major: int = cfield("int32_t", "1: input [time, batch, input], 0: [batch, time, input]")
    gates: int = cfield("int32_t", "bit g: gate g is present (no input gate with CIFG)")
    peephole: int = cfield("int32_t")
    layer_norm: int = cfield("int32_t")
    projection: int = cfield("int32_t")
    proj_bias: int = cfield("int32_t")
    activation: int = cfield("int32_t", "TD_ACT_* of the cell gate and the output")
    cell_clip: float = cfield("float", "0: none")
    proj_clip: float = cfield("float", "0: none")
    w_in: list[int] = cfield("int32_t", "offset in w of each gate's input weights [cell, input]",
                             count=4)
    w_rec: list[int] = cfield("int32_t", "offset of recurrent weights [cell, output]", count=4)
    bias: list[int] = cfield("int32_t", "offset of each gate's bias", count=4)
    peep: list[int] = cfield("int32_t", "offset of the peephole weights", count=4)
    ln: list[int] = cfield("int32_t", "offset of the layer-norm coefficients", count=4)
    w_proj: int = cfield("int32_t", "offset of the projection weights [output, cell]")
    b_proj: int = cfield("int32_t", "offset of the projection bias")
    w: str | None = cfield("const float *")


LSTM = Kernel("td_lstm_s8", LstmParams,
              ("const int8_t *in", "int8_t *out", "int8_t *output_state", "int16_t *cell_state",
               "void *scratch"))
SVDF = Kernel("td_svdf_s8", SvdfParams,
              ("const int8_t *in", "const int8_t *weights_feature", "const int16_t *weights_time",
               "const int32_t *bias", "int16_t *state", "int8_t *out"))
LSTM_F32 = Kernel("td_lstm_f32", LstmF32Params,
                  ("const float *in", "float *out", "float *output_state", "float *cell_state",
                   "void *scratch"))
SVDF_F32 = Kernel("td_svdf_f32", SvdfF32Params,
                  ("const float *in", "const float *weights_feature", "const float *weights_time",
                   "const float *bias", "float *state", "float *out"))

# input positions of the LSTM's tensors (TFLite's lstm_shared.h)
IN_W, REC_W, PEEP_W, GATE_B = (1, 2, 3, 4), (5, 6, 7, 8), (9, 10, None, 11), (12, 13, 14, 15)
PROJ_W, PROJ_B, OUTPUT_STATE, CELL_STATE, LN_W = 16, 17, 18, 19, (20, 21, 22, 23)


# ---- UNIDIRECTIONAL_SEQUENCE_LSTM ----

def _lstm_dims(ctx: OpContext) -> tuple[int, int, int, int, int]:
    """(batch, time, input, cell, output) from the input and the output-gate weights."""
    x = ctx.input(0)
    ctx.require(len(x.shape) == 3, f"input has shape {list(x.shape)}; [batch, time, input] or "
                                   "[time, batch, input] is required")
    time_major = bool(ctx.option("time_major", False))
    n_time, n_batch = (x.shape[0], x.shape[1]) if time_major else (x.shape[1], x.shape[0])
    wi, wr = ctx.input(IN_W[3]), ctx.input(REC_W[3])
    ctx.require(len(wi.shape) == 2 and wi.shape[1] == x.shape[2],
                f"input-to-output weights have shape {list(wi.shape)} for input depth {x.shape[2]}")
    ctx.require(len(wr.shape) == 2 and wr.shape[0] == wi.shape[0],
                f"recurrent-to-output weights have shape {list(wr.shape)} (2-D [cell, output] "
                "is required; diagonal recurrent weights are not supported)")
    ctx.require(wi.shape[0] >= 1 and wr.shape[1] >= 1, "an LSTM without cells or outputs")
    return n_batch, n_time, x.shape[2], wi.shape[0], wr.shape[1]


def _infer_lstm(ctx: OpContext) -> list[tuple[int, ...]]:
    _, _, _, _, n_output = _lstm_dims(ctx)
    return [tuple(ctx.input(0).shape[:-1]) + (n_output,)]


def _scale(ctx: OpContext, t: Tensor) -> np.float32:
    """A per-tensor scale, as the reference reads it."""
    ctx.require(len(t.scale) == 1, f"tensor '{t.name}' has {len(t.scale)} scales; the integer LSTM "
                                   "takes one per tensor")
    return f32(t.scale[0])


def _weights(ctx: OpContext, i: int, shape: tuple[int, ...], dtype: str, what: str) -> np.ndarray:
    t = ctx.input(i)
    ctx.require(t.dtype == dtype and t.is_constant and tuple(t.shape) == shape,
                f"{what} must be constant {dtype} of shape {list(shape)}, found {t.dtype} "
                f"{list(t.shape)}{'' if t.is_constant else ' computed at run time'}")
    if dtype in ("int8", "int16"):
        _scale(ctx, t)
        ctx.require(t.zp0 == 0, f"{what} has zero point {t.zp0}; symmetric weights are required")
    return t.array().astype(np.int64)


def _wrap32(v: np.ndarray) -> np.ndarray:
    """int64 values reduced to int32 the way the reference's int32 arithmetic wraps."""
    return ((np.asarray(v, np.int64) + 2 ** 31) % 2 ** 32 - 2 ** 31).astype(np.int64)


def _lower_lstm(ctx: OpContext) -> Layer:
    n_batch, n_time, n_input, n_cell, n_output = _lstm_dims(ctx)
    x, y = ctx.input(0), ctx.output(0)
    ctx.require_type(("int8",), x, y)
    ctx.require(not ctx.option("diagonal_recurrent_tensors", False),
                "diagonal recurrent weights are not supported")
    h_state, c_state = ctx.input(OUTPUT_STATE), ctx.input(CELL_STATE)
    for t, dtype, size, what in ((h_state, "int8", n_batch * n_output, "output state"),
                                 (c_state, "int16", n_batch * n_cell, "cell state")):
        ctx.require(t.is_variable and not t.is_constant,
                    f"the {what} '{t.name}' must be a variable tensor")
        ctx.require(t.dtype == dtype and t.size == size and len(t.scale) > 0,
                    f"the {what} must be quantized {dtype} of {size} values, found {t.dtype} "
                    f"{list(t.shape)}")
    layer_norm = len(ctx.op.inputs) == 24 and ctx.optional_input(LN_W[1]) is not None
    cifg = ctx.optional_input(IN_W[0]) is None
    peephole = ctx.optional_input(PEEP_W[3]) is not None
    projection = ctx.optional_input(PROJ_W) is not None
    ctx.require(cifg == (ctx.optional_input(REC_W[0]) is None),
                "input-gate weights must be all present or all absent (CIFG)")
    ctx.require(cifg == (ctx.optional_input(GATE_B[0]) is None),
                "the input gate bias must be present exactly where the input gate is")
    present = [g for g in range(4) if not (cifg and g == 0)]
    ctx.require(all((ctx.optional_input(PEEP_W[g]) is not None) == peephole
                    for g in present if g != CELL_GATE),
                "peephole weights must be all present or all absent")
    ctx.require(not (peephole and n_output != n_cell),
                "peephole with a projection to another width (the reference kernel reads the "
                "peephole weights with the output width)")
    ctx.require(projection or ctx.optional_input(PROJ_B) is None,
                "a projection bias without projection weights")
    ctx.require(projection or n_output == n_cell,
                f"output width {n_output} differs from the cell width {n_cell} without projection")
    mids = ctx.op.intermediates
    ctx.require(len(mids) == 5 and min(mids) >= 0, f"the integer LSTM needs 5 intermediate "
                                                    f"tensors, the node has {mids}")
    inter = [ctx.graph.tensors[i] for i in mids]
    hidden = inter[4]
    ctx.require(hidden.dtype == "int8" and len(hidden.scale) > 0,
                "the fifth intermediate tensor must carry the hidden value's int8 quantization")

    input_scale, state_scale = _scale(ctx, x), _scale(ctx, h_state)
    hidden_scale = _scale(ctx, hidden)
    gate_scale = [f32(2.0 ** -12)] * 4  # Q3.12 without layer norm
    if layer_norm:  # the reference reads all four, the input gate's with CIFG too
        for g in range(4):
            ctx.require(len(inter[g].scale) > 0, f"intermediate tensor {g} has no quantization "
                                                 "(layer norm needs the gates' scales)")
            gate_scale[g] = f32(inter[g].scale[0])
    log2 = math.log2(float(_scale(ctx, c_state)))
    cell_shift = int(round(log2))
    ctx.require(abs(log2 - cell_shift) < 1e-3 and -30 <= cell_shift <= 1,
                f"cell state scale {float(c_state.scale0)!r} must be a power of two between "
                "2^-30 and 2")
    # the reference's tanh of the cell takes 0..6 integer bits; for other cell scales it leaves
    # its buffer as it was: the input gate's values, or (CIFG) whatever the buffer held before
    ctx.require(not cifg or -15 <= cell_shift <= -9,
                f"cell state scale 2^{cell_shift} with CIFG (the reference computes no tanh for "
                "it and reads an unwritten buffer)")

    layout = ctx.layout
    w_parts: list[np.ndarray] = []
    b_parts: list[np.ndarray] = []
    w16_parts: list[np.ndarray] = []

    def put(parts: list[np.ndarray], values: np.ndarray) -> int:
        offset = sum(p.size for p in parts)
        parts.append(np.asarray(values, np.int64).reshape(-1))
        return offset

    fields: dict[str, Any] = {k: [0] * 4 for k in (
        "in_mult", "in_shift", "rec_mult", "rec_shift", "peep_mult", "peep_shift", "ln_mult",
        "ln_shift", "ln_guard", "w_in", "w_rec", "b_in", "b_rec", "ln_bias", "peep", "ln")}
    for g in range(4):
        # the defaults the reference leaves in place for absent parts: a scale of 1.0
        for k in ("in", "rec", "peep", "ln"):
            fields[f"{k}_mult"][g], fields[f"{k}_shift"][g] = qm.quantize_multiplier(1.0)
    macs_per_step = 0
    for g in present:
        name = GATES[g]
        wi = _weights(ctx, IN_W[g], (n_cell, n_input), "int8", f"input-to-{name} weights")
        wr = _weights(ctx, REC_W[g], (n_cell, n_output), "int8", f"recurrent-to-{name} weights")
        bias = _weights(ctx, GATE_B[g], (n_cell,), "int32", f"{name} gate bias")
        s_in = f32(f32(_scale(ctx, ctx.input(IN_W[g])) * input_scale) / gate_scale[g])
        s_rec = f32(f32(_scale(ctx, ctx.input(REC_W[g])) * state_scale) / gate_scale[g])
        fields["in_mult"][g], fields["in_shift"][g] = qm.quantize_multiplier(float(s_in))
        fields["rec_mult"][g], fields["rec_shift"][g] = qm.quantize_multiplier(float(s_rec))
        fields["w_in"][g] = put(w_parts, wl.fc_rows(wi, layout))
        fields["w_rec"][g] = put(w_parts, wl.fc_rows(wr, layout))
        # the zero points folded into the biases; with layer norm the bias comes after it
        fields["b_in"][g] = put(b_parts, _wrap32((0 if layer_norm else bias)
                                                 - x.zp0 * wi.sum(axis=1)))
        fields["b_rec"][g] = put(b_parts, _wrap32(-h_state.zp0 * wr.sum(axis=1)))
        macs_per_step += n_cell * (n_input + n_output)
        if peephole and g != CELL_GATE:
            wp = _weights(ctx, PEEP_W[g], (n_cell,), "int16", f"cell-to-{name} weights")
            # 2^cell_shift * scale / gate scale in double, stored as float
            real = f32(2.0 ** cell_shift * float(_scale(ctx, ctx.input(PEEP_W[g])))
                       / float(gate_scale[g]))
            fields["peep_mult"][g], fields["peep_shift"][g] = qm.quantize_multiplier(float(real))
            fields["peep"][g] = put(w16_parts, wp)
        if layer_norm:
            coef = _weights(ctx, LN_W[g], (n_cell,), "int16", f"{name} layer-norm coefficients")
            ln_scale = _scale(ctx, ctx.input(LN_W[g]))
            m, s = qm.quantize_multiplier(float(ln_scale))
            ctx.require(-31 <= s + 12 <= 30, f"{name} layer-norm scale {float(ln_scale)!r} is "
                                             "out of the kernel's range")
            fields["ln_mult"][g], fields["ln_shift"][g] = m, s
            fields["ln_guard"][g] = max(1, int(f32(10000) * ln_scale))
            fields["ln"][g] = put(w16_parts, coef)
            fields["ln_bias"][g] = put(b_parts, bias)

    hidden_real = float(f32(2.0 ** -15 / float(hidden_scale) * 2.0 ** -15))
    hidden_mult, hidden_shift = qm.quantize_multiplier(hidden_real)
    proj_mult, proj_shift = qm.quantize_multiplier(1.0)
    w_proj = b_proj = proj_clip = 0
    if projection:
        wp = _weights(ctx, PROJ_W, (n_output, n_cell), "int8", "projection weights")
        pb = ctx.optional_input(PROJ_B)
        bias = (np.zeros(n_output, np.int64) if pb is None else
                _weights(ctx, PROJ_B, (n_output,), "int32", "projection bias"))
        real = f32(f32(_scale(ctx, ctx.input(PROJ_W)) * hidden_scale) / state_scale)
        proj_mult, proj_shift = qm.quantize_multiplier(float(real))
        w_proj = put(w_parts, wl.fc_rows(wp, layout))
        b_proj = put(b_parts, _wrap32(bias + hidden.zp0 * wp.sum(axis=1)))
        macs_per_step += n_output * n_cell
        clip = float(ctx.option("proj_clip", 0.0))
        if clip > 0:
            proj_clip = int(min(max(f32(clip) / _scale(ctx, y), f32(-128)), f32(127)))
    clip = float(ctx.option("cell_clip", 0.0))
    ctx.require(clip >= 0 and float(ctx.option("proj_clip", 0.0)) >= 0, "negative clip values")
    cell_clip = (int(min(max(f32(clip) / _scale(ctx, c_state), f32(-32768)), f32(32767)))
                 if clip > 0 else 0)

    name = ctx.name
    consts = [ctx.const("w", "int16_t" if layout == "int16" else "int8_t",
                        np.concatenate(w_parts)),
              ctx.const("bias", "int32_t", np.concatenate(b_parts))]
    if w16_parts:
        consts.append(ctx.const("w16", "int16_t", np.concatenate(w16_parts)))
    params = LstmParams(
        n_batch=n_batch, n_time=n_time, n_input=n_input, n_cell=n_cell, n_output=n_output,
        time_major=int(bool(ctx.option("time_major", False))),
        gates=sum(1 << g for g in present), peephole=int(peephole), layer_norm=int(layer_norm),
        projection=int(projection), layout=wl.LAYOUT_CODES[layout], hidden_mult=hidden_mult,
        hidden_shift=hidden_shift,
        hidden_zp=hidden.zp0, proj_mult=proj_mult, proj_shift=proj_shift, output_zp=h_state.zp0,
        cell_shift=cell_shift, cell_clip=cell_clip, proj_clip=proj_clip, w_proj=w_proj,
        b_proj=b_proj, w=f"{name}_w", bias=f"{name}_bias",
        w16=f"{name}_w16" if w16_parts else None, **fields)
    layer = Layer(ctx.op, LSTM, params, consts,
                  [TensorArg(x.index), TensorArg(y.index), TensorArg(h_state.index),
                   TensorArg(c_state.index), SCRATCH],
                  [x.index, h_state.index, c_state.index],
                  [y.index, h_state.index, c_state.index],
                  macs=n_batch * n_time * macs_per_step)
    layer.scratch_bytes = 10 * n_cell + (n_cell if projection else 0)
    layer.layout = layout
    return layer


def _lower_lstm_f32(ctx: OpContext) -> Layer:
    """float32 LSTM (lstm_eval's LstmStepFloat): CIFG, peephole, layer norm, projection, clips,
    batches and time-major order."""
    n_batch, n_time, n_input, n_cell, n_output = _lstm_dims(ctx)
    x, y = ctx.input(0), ctx.output(0)
    ctx.require_type(("float32",), x, y)
    ctx.require(not ctx.option("diagonal_recurrent_tensors", False),
                "diagonal recurrent weights are not supported")
    h_state, c_state = ctx.input(OUTPUT_STATE), ctx.input(CELL_STATE)
    for t, size, what in ((h_state, n_batch * n_output, "output state"),
                          (c_state, n_batch * n_cell, "cell state")):
        ctx.require(t.is_variable and not t.is_constant,
                    f"the {what} '{t.name}' must be a variable tensor")
        ctx.require(t.dtype == "float32" and t.size == size,
                    f"the {what} must be float32 of {size} values, found {t.dtype} "
                    f"{list(t.shape)}")
    layer_norm = len(ctx.op.inputs) == 24 and ctx.optional_input(LN_W[1]) is not None
    cifg = ctx.optional_input(IN_W[0]) is None
    peephole = ctx.optional_input(PEEP_W[3]) is not None
    projection = ctx.optional_input(PROJ_W) is not None
    ctx.require(cifg == (ctx.optional_input(REC_W[0]) is None),
                "input-gate weights must be all present or all absent (CIFG)")
    ctx.require(projection or ctx.optional_input(PROJ_B) is None,
                "a projection bias without projection weights")
    ctx.require(projection or n_output == n_cell,
                f"output width {n_output} differs from the cell width {n_cell} without projection")
    present = [g for g in range(4) if not (cifg and g == 0)]
    ctx.require(all((ctx.optional_input(PEEP_W[g]) is not None) == peephole
                    for g in present if g != CELL_GATE),
                "peephole weights must be all present or all absent")
    parts: list[np.ndarray] = []

    def put(i: int, shape: tuple[int, ...], what: str) -> int:
        t = ctx.input(i)
        ctx.require(t.dtype == "float32" and t.is_constant and tuple(t.shape) == shape,
                    f"{what} must be constant float32 of shape {list(shape)}, found {t.dtype} "
                    f"{list(t.shape)}{'' if t.is_constant else ' computed at run time'}")
        offset = sum(part.size for part in parts)
        values = t.array().astype(np.float32).reshape(-1)
        wide.require_finite(ctx, t, values)
        parts.append(values)
        return offset

    offsets: dict[str, Any] = {k: [0] * 4 for k in ("w_in", "w_rec", "bias", "peep", "ln")}
    for g in present:
        name = GATES[g]
        offsets["w_in"][g] = put(IN_W[g], (n_cell, n_input), f"input-to-{name} weights")
        offsets["w_rec"][g] = put(REC_W[g], (n_cell, n_output), f"recurrent-to-{name} weights")
        offsets["bias"][g] = put(GATE_B[g], (n_cell,), f"{name} gate bias")
        if peephole and g != CELL_GATE:
            offsets["peep"][g] = put(PEEP_W[g], (n_cell,), f"cell-to-{name} weights")
        if layer_norm:
            offsets["ln"][g] = put(LN_W[g], (n_cell,), f"{name} layer-norm coefficients")
    w_proj = b_proj = 0
    proj_bias = projection and ctx.optional_input(PROJ_B) is not None
    if projection:
        w_proj = put(PROJ_W, (n_output, n_cell), "projection weights")
        if proj_bias:
            b_proj = put(PROJ_B, (n_output,), "projection bias")
    cell_clip, proj_clip = float(ctx.option("cell_clip", 0.0)), float(ctx.option("proj_clip", 0.0))
    ctx.require(cell_clip >= 0 and proj_clip >= 0, "negative clip values")
    params = LstmF32Params(
        n_batch=n_batch, n_time=n_time, n_input=n_input, n_cell=n_cell, n_output=n_output,
        time_major=int(bool(ctx.option("time_major", False))),
        gates=sum(1 << g for g in present), peephole=int(peephole), layer_norm=int(layer_norm),
        projection=int(projection), proj_bias=int(proj_bias),
        activation=sequence_activation(ctx), cell_clip=cell_clip, proj_clip=proj_clip,
        w_proj=w_proj, b_proj=b_proj, w=f"{ctx.name}_w", **offsets)
    macs = n_batch * n_time * (len(present) * n_cell * (n_input + n_output)
                               + (n_output * n_cell if projection else 0))
    layer = Layer(ctx.op, LSTM_F32, params, [ctx.const("w", "float", np.concatenate(parts))],
                  [TensorArg(x.index), TensorArg(y.index), TensorArg(h_state.index),
                   TensorArg(c_state.index), SCRATCH],
                  [x.index, h_state.index, c_state.index],
                  [y.index, h_state.index, c_state.index], macs=macs)
    layer.scratch_bytes = 4 * n_cell * 4
    return layer


def keras_lstm_tflite(units: int, timesteps: int, features: int, representative: np.ndarray,
                      time_major: bool = False, head: list[tuple[np.ndarray, np.ndarray]] = (),
                      softmax: bool = False, weights: list[np.ndarray] | None = None,
                      qtype: str = "int8") -> bytes:
    """A Keras LSTM layer's weights as a full-int8 UNIDIRECTIONAL_SEQUENCE_LSTM model (`qtype`
    "int16": 16x8, "float32": not quantized).

    Keras 3 layers reach the converter as loops, not as the fused op; the converter fuses a
    function that declares itself a Keras LSTM (the `api_implements` attribute Keras 2's layer
    set, with its argument and result order), so the layer's weights go through one of those. The
    full sequence is the output; `head` adds dense layers over it (flattened), `softmax` a softmax.
    """
    import tempfile
    import uuid

    import keras
    import tensorflow as tf

    from tinydeploy.captured_output import captured_output
    from tinydeploy.quantize import _convert

    if weights is None:
        layer = keras.layers.LSTM(units)
        layer.build((1, timesteps, features))
        weights = [w.numpy() for w in layer.weights]
    kernel, recurrent, bias = weights
    axis = 0 if time_major else 1

    def standard_lstm(x, h, c, k, r, b):  # type: ignore[no-untyped-def]
        outs = []
        for xt in tf.unstack(x, axis=axis):
            z = tf.matmul(xt, k) + tf.matmul(h, r) + b
            i, f, g, o = tf.split(z, 4, axis=1)
            c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
            h = tf.sigmoid(o) * tf.tanh(c)
            outs.append(h)
        return h, tf.stack(outs, axis=axis), h, c, tf.constant(0.0)

    fused = tf.function(standard_lstm, autograph=False, experimental_attributes={
        "api_implements": f"lstm_{uuid.uuid4()}", "api_preferred_device": "CPU",
        "time_major": time_major, "go_backwards": False})
    shape = [timesteps, 1, features] if time_major else [1, timesteps, features]

    class Model(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.k, self.r, self.b = tf.Variable(kernel), tf.Variable(recurrent), tf.Variable(bias)
            self.head = [(tf.Variable(w), tf.Variable(c)) for w, c in head]

        @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32)])
        def serve(self, x):  # type: ignore[no-untyped-def]
            zeros = tf.zeros([1, units])
            # read values, not variables: the fusion needs ranked tensor arguments
            y = fused(x, zeros, zeros, tf.identity(self.k), tf.identity(self.r),
                      tf.identity(self.b))[1]
            if self.head:
                y = tf.reshape(y, [1, -1])
                for w, c in self.head:
                    y = tf.matmul(y, w) + c
            return tf.nn.softmax(y) if softmax else y

    reps = np.asarray(representative, np.float32).reshape(-1, *shape)

    def samples():  # type: ignore[no-untyped-def]
        for s in reps:
            yield [s]

    model = Model()
    with tempfile.TemporaryDirectory() as saved, captured_output():
        tf.saved_model.save(model, saved, signatures=model.serve)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        if qtype == "float32":
            return bytes(converter.convert())
        return _convert(converter, samples, qtype)


def _generate_lstm(rng: np.random.Generator, qtype: str) -> GeneratedOp:
    units, steps, features = int(rng.integers(1, 17)), int(rng.integers(1, 9)), int(
        rng.integers(1, 12))
    time_major = bool(rng.random() < 0.3)
    scale = float(rng.uniform(0.5, 3.0))
    shape = (steps, 1, features) if time_major else (1, steps, features)
    reps = rng.normal(0, scale, (32, *shape)).astype(np.float32)
    tflite = keras_lstm_tflite(units, steps, features, reps, time_major=time_major, qtype=qtype)
    return GeneratedOp(f"lstm units={units} steps={steps} features={features} "
                       f"time_major={time_major}", tflite=tflite)


# ---- SVDF ----

def _svdf_dims(ctx: OpContext) -> tuple[int, int, int, int, int, int]:
    """(batch, input, filters, memory, units, rank)."""
    x, wf, wt = ctx.input(0), ctx.input(1), ctx.input(2)
    rank = int(ctx.option("rank", 0))
    ctx.require(len(x.shape) == 2, f"input has shape {list(x.shape)}; [batch, input] is required")
    ctx.require(len(wf.shape) == 2 and wf.shape[1] == x.shape[1],
                f"weights_feature have shape {list(wf.shape)} for input depth {x.shape[1]}")
    ctx.require(len(wt.shape) == 2 and wt.shape[0] == wf.shape[0] and wt.shape[1] >= 1,
                f"weights_time have shape {list(wt.shape)} for {wf.shape[0]} filters")
    ctx.require(rank >= 1 and wf.shape[0] % rank == 0,
                f"rank {rank} does not divide the {wf.shape[0]} filters")
    return x.shape[0], x.shape[1], wf.shape[0], wt.shape[1], wf.shape[0] // rank, rank


def _infer_svdf(ctx: OpContext) -> list[tuple[int, ...]]:
    n_batch, _, _, _, n_unit, _ = _svdf_dims(ctx)
    return [(n_batch, n_unit)]


def _lower_svdf(ctx: OpContext) -> Layer:
    n_batch, n_input, n_filter, n_memory, n_unit, rank = _svdf_dims(ctx)
    x, y, state = ctx.input(0), ctx.output(0), ctx.input(4)
    ctx.require_type(("int8",), x, y)
    ctx.require(ctx.activation == "RELU", f"activation {ctx.activation}: the reference's integer "
                                          "SVDF takes RELU only")
    wf = _weights(ctx, 1, (n_filter, n_input), "int8", "weights_feature")
    wt = _weights(ctx, 2, (n_filter, n_memory), "int16", "weights_time")
    ctx.require(state.is_variable and not state.is_constant and state.dtype == "int16"
                and tuple(state.shape) == (n_batch, n_memory * n_filter) and len(state.scale) > 0,
                f"the state must be a quantized int16 variable tensor of shape "
                f"{[n_batch, n_memory * n_filter]}, found {state.dtype} {list(state.shape)}")
    ctx.require(state.zp0 == 0, f"the state has zero point {state.zp0}; 0 is required")
    b = ctx.optional_input(3)
    consts = [ctx.const("wf", "int8_t", wf.reshape(-1)), ctx.const("wt", "int16_t", wt.reshape(-1))]
    bias_arg = None
    if b is not None:
        consts.append(ctx.const("bias", "int32_t",
                                _weights(ctx, 3, (n_unit,), "int32", "bias").reshape(-1)))
        bias_arg = ConstArg(f"{ctx.name}_bias")
    sx, swf, swt = (float(_scale(ctx, t)) for t in (x, ctx.input(1), ctx.input(2)))
    sst, sy = float(_scale(ctx, state)), float(_scale(ctx, y))
    m1, s1 = qm.quantize_multiplier(sx * swf / sst)
    m2, s2 = qm.quantize_multiplier(sst * swt / sy)
    params = SvdfParams(n_batch=n_batch, n_input=n_input, n_filter=n_filter, n_memory=n_memory,
                        n_unit=n_unit, rank=rank, input_zp=x.zp0, output_zp=y.zp0,
                        feature_mult=m1, feature_shift=s1, output_mult=m2, output_shift=s2)
    name = ctx.name
    return Layer(ctx.op, SVDF, params, consts,
                 [TensorArg(x.index), ConstArg(f"{name}_wf"), ConstArg(f"{name}_wt"), bias_arg,
                  TensorArg(state.index), TensorArg(y.index)],
                 [x.index, state.index], [y.index, state.index],
                 macs=n_batch * n_filter * (n_input + n_memory))


def _lower_svdf_f32(ctx: OpContext) -> Layer:
    """float32 SVDF (reference_ops::EvalFloatSVDF)."""
    n_batch, n_input, n_filter, n_memory, n_unit, rank = _svdf_dims(ctx)
    x, y, state = ctx.input(0), ctx.output(0), ctx.input(4)
    wf, wt = ctx.input(1), ctx.input(2)
    ctx.require_type(("float32",), x, y, wf, wt)
    ctx.require(state.is_variable and not state.is_constant and state.dtype == "float32"
                and tuple(state.shape) == (n_batch, n_memory * n_filter),
                f"the state must be a float32 variable tensor of shape "
                f"{[n_batch, n_memory * n_filter]}, found {state.dtype} {list(state.shape)}")
    consts: list[ConstArray] = []
    reads = [x.index]
    args = [TensorArg(x.index), wide.operand(ctx, wf, "wf", consts, reads, "float"),
            wide.operand(ctx, wt, "wt", consts, reads, "float"),
            wide.bias_operand(ctx, ctx.optional_input(3), n_unit, ("float32",), consts, reads,
                              "float"),
            TensorArg(state.index), TensorArg(y.index)]
    params = SvdfF32Params(n_batch=n_batch, n_input=n_input, n_filter=n_filter,
                           n_memory=n_memory, n_unit=n_unit, rank=rank,
                           activation=sequence_activation(ctx))
    return Layer(ctx.op, SVDF_F32, params, consts, args, reads + [state.index],
                 [y.index, state.index], macs=n_batch * n_filter * (n_input + n_memory))


def _symmetric(values: np.ndarray, bits: int) -> tuple[np.ndarray, float]:
    """Symmetric per-tensor quantization as TFLite's quantizer does it: scale max|v| / qmax."""
    qmax = 2 ** (bits - 1) - 1
    scale = float(f32(max(float(np.abs(values).max()), 1e-9) / qmax))
    q = np.clip(np.round(values / scale), -qmax, qmax)
    return q.astype(np.int8 if bits == 8 else np.int16), scale


def _asymmetric(lo: float, hi: float) -> tuple[float, int]:
    """int8 scale and zero point of a calibrated range (which must include 0)."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = float(f32(max(hi - lo, 1e-6) / 255.0))
    return scale, int(np.clip(round(-128 - lo / scale), -128, 127))


def svdf_layers(rng: np.random.Generator, n_input: int, layers: list[tuple[int, int, int]],
                batch: int, frames: np.ndarray) -> tuple[list, list, float, int, float, int, Any]:
    """Quantized tensors and SVDF nodes for a stack of (units, rank, memory) layers, calibrated on
    `frames` ([n, batch, n_input], run through the float SVDF in order). Returns the writer's
    tensors and ops, the input's and the last output's (scale, zero point) and the last float
    outputs."""
    from tinydeploy.tflite_writer import Op, T

    tensors: list[T] = []
    ops: list[Op] = []
    x = frames.astype(np.float64)
    in_scale, in_zp = _asymmetric(float(x.min()), float(x.max()))
    tensors.append(T((batch, n_input), "int8", scale=[in_scale], zero_point=[in_zp], name="input"))
    current, depth = 0, n_input
    for k, (units, rank, memory) in enumerate(layers):
        filters = units * rank
        wf = rng.normal(0, 1 / math.sqrt(depth), (filters, depth))
        wt = rng.normal(0, 1 / math.sqrt(memory), (filters, memory))
        bias = rng.normal(0, 0.1, units)
        # the float SVDF over the frames, state carried: activations of the filters and outputs
        state = np.zeros((batch, filters, memory))
        acts, outs = [], []
        for frame in x:
            state = np.roll(state, -1, axis=2)
            state[:, :, -1] = frame @ wf.T
            acts.append(state[:, :, -1].copy())
            out = (state * wt).sum(axis=2).reshape(batch, units, rank).sum(axis=2) + bias
            outs.append(np.maximum(out, 0.0))
        state_scale = float(f32(max(float(np.abs(acts).max()), 1e-6) / 32767))
        y_scale, y_zp = _asymmetric(float(np.min(outs)), float(np.max(outs)))
        qwf, swf = _symmetric(wf, 8)
        qwt, swt = _symmetric(wt, 16)
        qb = np.round(bias / (state_scale * swt)).astype(np.int32)
        base = len(tensors)
        tensors += [T(qwf.shape, "int8", qwf, [swf], [0], name=f"svdf{k}_weights_feature"),
                    T(qwt.shape, "int16", qwt, [swt], [0], name=f"svdf{k}_weights_time"),
                    T((units,), "int32", qb, [state_scale * swt], [0], name=f"svdf{k}_bias"),
                    T((batch, memory * filters), "int16", None, [state_scale], [0],
                      variable=True, name=f"svdf{k}_state"),
                    T((batch, units), "int8", None, [y_scale], [y_zp], name=f"svdf{k}_output")]
        ops.append(Op("SVDF", [current, base, base + 1, base + 2, base + 3], [base + 4],
                      "SVDFOptions", {"rank": rank, "fusedActivationFunction": 1}))
        current, depth, x = base + 4, units, np.array(outs)
    return tensors, ops, in_scale, in_zp, y_scale, y_zp, x


def svdf_float_tflite(rng: np.random.Generator, n_input: int, units: int, rank: int, memory: int,
                      batch: int, activation: str) -> bytes:
    """A float32 SVDF model written directly (Keras has no SVDF layer): random weights, a bias."""
    from tinydeploy.tflite_writer import Op, T, build

    filters = units * rank
    f = np.float32
    tensors = [T((batch, n_input), "float32", name="input"),
               T((filters, n_input), "float32",
                 rng.normal(0, 1 / math.sqrt(n_input), (filters, n_input)).astype(f),
                 name="weights_feature"),
               T((filters, memory), "float32",
                 rng.normal(0, 1 / math.sqrt(memory), (filters, memory)).astype(f),
                 name="weights_time"),
               T((units,), "float32", rng.normal(0, 0.3, units).astype(f), name="bias"),
               T((batch, memory * filters), "float32", variable=True, name="state"),
               T((batch, units), "float32", name="output")]
    code = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3, "TANH": 4}
    op = Op("SVDF", [0, 1, 2, 3, 4], [5], "SVDFOptions",
            {"rank": rank, "fusedActivationFunction": code[activation]})
    return build(tensors, [op], [0], [5])


def _generate_svdf(rng: np.random.Generator, qtype: str) -> GeneratedOp:
    from tinydeploy.tflite_writer import build

    n_input, units, rank = int(rng.integers(1, 24)), int(rng.integers(1, 12)), int(
        rng.integers(1, 4))
    memory, batch = int(rng.integers(1, 10)), int(rng.choice([1, 1, 2]))
    if qtype == "float32":
        act = str(rng.choice(list(FLOAT_ACTIVATIONS)))
        return GeneratedOp(f"svdf input={n_input} units={units} rank={rank} memory={memory} "
                           f"batch={batch} act={act}",
                           tflite=svdf_float_tflite(rng, n_input, units, rank, memory, batch, act))
    frames = rng.normal(0, float(rng.uniform(0.5, 3.0)), (24, batch, n_input))
    tensors, ops, *_ = svdf_layers(rng, n_input, [(units, rank, memory)], batch, frames)
    return GeneratedOp(f"svdf input={n_input} units={units} rank={rank} memory={memory} "
                       f"batch={batch}", tflite=build(tensors, ops, [0], [len(tensors) - 1]))


register(
    OpSpec("UNIDIRECTIONAL_SEQUENCE_LSTM", {("int8", "int8"): _lower_lstm,
                                            ("float32", "float32"): _lower_lstm_f32},
           inputs=(20, 24), options="UnidirectionalSequenceLSTMOptions", weights=IN_W[3],
           infer_shape=_infer_lstm, kernels=(LSTM, LSTM_F32), generate=_generate_lstm),
    OpSpec("SVDF", {("int8", "int8"): _lower_svdf, ("float32", "float32"): _lower_svdf_f32},
           inputs=(5, 5), options="SVDFOptions", weights=1, infer_shape=_infer_svdf,
           kernels=(SVDF, SVDF_F32), generate=_generate_svdf),
)
