"""Lower each TFLite operator to one call of an int8 kernel in `firmware/kernels/`.

A lowering checks that the operator is one the kernels implement (types, options, shapes), computes
every constant the kernel needs (padding, requantization multipliers, activation clamps, broadcast
strides) and returns a `Layer`: the kernel name, its parameter struct, the constant arrays it reads
and the tensors it reads and writes. RESHAPE and SQUEEZE lower to an alias: no code, no copy.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from tinydeploy import quantmath as qm
from tinydeploy import weight_layout as wl
from tinydeploy.errors import TinyDeployError
from tinydeploy.tflite_reader import Model, Operator, Tensor


@dataclass
class ConstArray:
    """A constant array emitted into flash."""

    name: str
    ctype: str
    values: np.ndarray


@dataclass
class Layer:
    """One kernel call, or an alias (`func` is None) that makes `outputs[0]` share `inputs[0]`."""

    op: Operator
    func: str | None
    param_type: str = ""
    params: dict[str, object] = field(default_factory=dict)
    consts: list[ConstArray] = field(default_factory=list)
    args: list[str] = field(default_factory=list)  # "t<N>" for arena tensors, const names otherwise
    inputs: list[int] = field(default_factory=list)   # arena tensors read
    outputs: list[int] = field(default_factory=list)  # arena tensors written
    macs: int = 0
    scratch_bytes: int = 0  # arena space the kernel needs while it runs (params "scratch")
    inplace: bool = False   # the kernel may write its output over inputs[0] (same size)
    overlap: int = 0        # > 0: the output may start this many bytes before inputs[0]
    # more scratch that buys a faster variant (params FAST becomes 1), granted by the memory plan
    # where it does not grow the arena
    fast_scratch: int = 0


TD_DW_MAX_K = 16  # td_kernels.h: tallest kernel td_depthwise_conv2d_s8 takes
SCRATCH = "@scratch"  # parameter placeholder: the code generator puts the layer's arena scratch here
FAST = "@fast"  # parameter placeholder: 1 where the memory plan granted the layer's fast_scratch


class Unsupported(TinyDeployError):
    """An operator, type or option the engine cannot compile."""


def _unsupported(op: Operator, what: str) -> Unsupported:
    return Unsupported(
        f"node {op.index} ({op.opcode}): {what}",
        "tinydeploy compiles int8 models only: re-export with full-integer quantization "
        "(TFLITE_BUILTINS_INT8) or replace the operator; 'tinydeploy convert --help' lists the ops")


def _require_int8(op: Operator, *tensors: Tensor) -> None:
    for t in tensors:
        if t.dtype != "int8":
            raise _unsupported(op, f"tensor '{t.name}' is {t.dtype}, only int8 is supported here")
        if not len(t.scale):
            raise _unsupported(op, f"tensor '{t.name}' has no quantization parameters")


def _pad(in_size: int, out_size: int, stride: int, k: int, dil: int, padding: str) -> int:
    if padding != "SAME":
        return 0
    eff = (k - 1) * dil + 1
    return max(0, ((out_size - 1) * stride + eff - in_size)) // 2


def _hwc(t: Tensor, op: Operator) -> tuple[int, int, int]:
    if len(t.shape) != 4 or t.shape[0] != 1:
        raise _unsupported(op, f"tensor '{t.name}' has shape {list(t.shape)}; batch 1 NHWC is required")
    return t.shape[1], t.shape[2], t.shape[3]


def _const(layer_name: str, suffix: str, ctype: str, values: np.ndarray) -> ConstArray:
    return ConstArray(f"{layer_name}_{suffix}", ctype, np.ascontiguousarray(values))


def _requant_consts(name: str, params: dict[str, object], mult: list[int], shift: list[int],
                    output_zp: int, acc_ranges: np.ndarray | None
                    ) -> tuple[list[ConstArray], np.ndarray | None]:
    """Fast requantization records where they are exact (quantmath.requant_records), else the
    multipliers and shifts of the general path; sets params rq, mult and shift."""
    act = (int(params["act_min"]), int(params["act_max"]))  # type: ignore[call-overload]
    rq = qm.requant_records(mult, shift, output_zp, acc_ranges, act)
    if rq is not None:
        params.update(rq=f"{name}_rq", mult="0", shift="0")
        return [_const(name, "rq", "int32_t", rq)], rq
    params.update(rq="0", mult=f"{name}_mult", shift=f"{name}_shift")
    return [_const(name, "mult", "int32_t", np.array(mult, np.int64)),
            _const(name, "shift", "int32_t", np.array(shift, np.int64))], None


def _conv_like(model: Model, op: Operator, depthwise: bool, layout: str) -> Layer:
    x, w = model.tensors[op.inputs[0]], model.tensors[op.inputs[1]]
    b = model.tensors[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    y = model.tensors[op.outputs[0]]
    _require_int8(op, x, w, y)
    if not w.is_constant:
        raise _unsupported(op, "weights must be constant")
    if b is not None and (b.dtype != "int32" or not b.is_constant):
        raise _unsupported(op, f"bias must be constant int32, found {b.dtype}")
    in_h, in_w, in_c = _hwc(x, op)
    out_h, out_w, out_c = _hwc(y, op)
    o = op.options
    k_h, k_w = (w.shape[1], w.shape[2])
    groups_ok = depthwise or w.shape[3] == in_c
    if not groups_ok:
        raise _unsupported(op, f"grouped convolution (filter depth {w.shape[3]} vs input {in_c})")
    if o.get("activation") not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
        raise _unsupported(op, f"fused activation {o.get('activation')}")
    mult, shift = qm.per_channel_multipliers(x.scale0, w.scale, y.scale0, out_c)
    act_min, act_max = qm.activation_range(o["activation"], y.scale0, y.zp0)
    name = f"L{op.index}"
    params: dict[str, object] = dict(
        in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=out_c, k_h=k_h, k_w=k_w,
        stride_h=o["stride_h"], stride_w=o["stride_w"], dil_h=o["dilation_h"], dil_w=o["dilation_w"],
        pad_h=_pad(in_h, out_h, o["stride_h"], k_h, o["dilation_h"], o["padding"]),
        pad_w=_pad(in_w, out_w, o["stride_w"], k_w, o["dilation_w"], o["padding"]),
        depth_multiplier=(out_c // in_c) if depthwise else 1,
        input_offset=-x.zp0, output_offset=y.zp0, act_min=act_min, act_max=act_max,
        mult=f"{name}_mult", shift=f"{name}_shift")
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
    consts, records = _requant_consts(name, params, mult, shift, y.zp0, acc_range)
    macs = out_h * out_w * out_c * taps * (1 if depthwise else in_c)
    unit = (o["stride_h"] == o["stride_w"] == 1 and o["dilation_h"] == o["dilation_w"] == 1
            and in_h == out_h and in_w == out_w and in_c == out_c)
    scratch, ring, inplace = 0, 0, False
    pairs_3x3 = (k_h == k_w == 3 and o["stride_h"] == o["stride_w"] == 1 and records is not None
                 and o["dilation_h"] == o["dilation_w"] == 1 and out_c % 4 == 0)
    if depthwise and not as_conv and params["depth_multiplier"] == 1 and pairs_3x3:
        # weights, folded biases and records in one block per channel pair; the ring holds two
        # rows of vertical int16 pixel pairs, 4 bytes per channel and padded column, and a row
        # of zero points
        func, ring = "td_depthwise_conv3x3_s8", 2
        blocks = wl.depthwise_3x3_blocks(wa.reshape(taps, out_c), bias_folded, records)
        consts = [_const(name, "w", "int32_t", blocks)]
        params.update(rq="0", bias_folded="0", ring_rows=ring, layout=0, scratch=SCRATCH)
        scratch = ring * (out_w + 2) * out_c * 4 + out_c
        return Layer(op, func, "td_conv_params", params, consts,
                     [f"t{x.index}", f"{name}_w", "0", f"t{y.index}"],
                     [x.index], [y.index], macs, scratch, unit)
    if depthwise and not as_conv:
        if params["depth_multiplier"] == 1 and k_h <= TD_DW_MAX_K:
            func, block = "td_depthwise_conv2d_s8", 4
            weights = _const(name, "w", "int16_t", wl.depthwise_groups(wa.reshape(taps, out_c)))
            # a ring of input rows padded with the zero point (+4: a group's load past the end)
            need_w = (out_w - 1) * o["stride_w"] + (k_w - 1) * o["dilation_w"] + 1
            ring_row = max(need_w, params["pad_w"] + in_w) * in_c
            ring = (k_h - 1) * o["dilation_h"] + 1
            scratch, inplace = ring * ring_row + 4, unit
        else:
            func, block = "td_depthwise_conv2d_dm_s8", 1
            weights = _const(name, "w", "int8_t", wa.reshape(-1))
    else:
        params["depth_multiplier"] = 1
        assert rows is not None
        block, k4 = 2, -(-rows.shape[1] // 4) * 4
        weights = _const(name, "w", "int16_t" if layout == "int16" else "int8_t",
                         wl.conv_rows(rows, layout))
        pointwise = (k_h == k_w == 1 and params["pad_h"] == params["pad_w"] == 0
                     and o["stride_h"] == o["stride_w"] == 1)
        dummy = -(-out_c // 4) * 4  # where the outputs of an odd last pixel go
        # the pixel pair buffer: 4 bytes per window value; with wide weights and fast records
        # pixels may go in fours (params quads), the quad buffer taking 4 more
        window_buf = 4 * k4
        quads = layout == "int16" and records is not None
        params["quads"] = FAST if quads else 0
        if pointwise:
            # all input pixels of a quad or pair are read before their outputs are written
            func, scratch, inplace = "td_conv1x1_s8", window_buf + dummy, unit
        else:
            # window buffer, two window rows and a zero row; in place also a ring of output rows
            func, inplace = "td_conv2d_s8", unit
            ring = params["pad_h"] + 1 if unit else 0
            row4 = -(-k_w * in_c // 4) * 4
            scratch = window_buf + 3 * row4 + dummy + ring * out_w * out_c
    params["layout"] = wl.LAYOUT_CODES[layout] if func in ("td_conv2d_s8", "td_conv1x1_s8") else 0
    params["bias_folded"] = f"{name}_bias_folded"
    consts += [weights, _const(name, "bias_folded", "int32_t", wl.padded(bias_folded, block))]
    params["ring_rows"] = ring
    params["scratch"] = SCRATCH if scratch else "0"
    layer = Layer(op, func, "td_conv_params", params, consts,
                  [f"t{x.index}", f"{name}_w", "0", f"t{y.index}"],
                  [x.index], [y.index], macs, scratch, inplace)
    if params.get("quads") == FAST:
        layer.fast_scratch = window_buf
    if func == "td_conv2d_s8" and not inplace:
        layer.overlap = _row_overlap(in_h, in_w * in_c, out_h, out_w * out_c, o["stride_h"],
                                     params["pad_h"], y.nbytes)
    return layer


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


def lower_conv2d(model: Model, op: Operator, layout: str = "int16") -> Layer:
    return _conv_like(model, op, depthwise=False, layout=layout)


def lower_depthwise(model: Model, op: Operator, layout: str = "int16") -> Layer:
    return _conv_like(model, op, depthwise=True, layout=layout)


def lower_fully_connected(model: Model, op: Operator, layout: str = "int16") -> Layer:
    x, w = model.tensors[op.inputs[0]], model.tensors[op.inputs[1]]
    b = model.tensors[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    y = model.tensors[op.outputs[0]]
    _require_int8(op, x, w, y)
    if not w.is_constant or len(w.shape) != 2:
        raise _unsupported(op, "weights must be a constant 2-D matrix")
    if op.options.get("weights_format", 0) != 0:
        raise _unsupported(op, "shuffled weights format")
    out_depth, in_depth = w.shape
    if x.size % in_depth:
        raise _unsupported(op, f"input size {x.size} is not a multiple of the weight depth {in_depth}")
    per_channel = len(w.scale) > 1
    if per_channel:
        mult, shift = qm.per_channel_multipliers(x.scale0, w.scale, y.scale0, out_depth)
    else:
        real = float(np.float32(x.scale0)) * float(np.float32(w.scale0)) / float(np.float32(y.scale0))
        m, s = qm.quantize_multiplier(real)
        mult, shift = [m], [s]
    act_min, act_max = qm.activation_range(op.options.get("activation", "NONE"), y.scale0, y.zp0)
    name = f"L{op.index}"
    params: dict[str, object] = dict(
        batches=x.size // in_depth, in_depth=in_depth, out_depth=out_depth, input_offset=-x.zp0,
        filter_offset=-w.zp0, output_offset=y.zp0, act_min=act_min, act_max=act_max,
        mult=f"{name}_mult", shift=f"{name}_shift", per_channel=int(per_channel))
    bias = np.zeros(out_depth, np.int64)
    if b is not None:
        if b.dtype != "int32" or not b.is_constant:
            raise _unsupported(op, f"bias must be constant int32, found {b.dtype}")
        bias = b.array().reshape(-1).astype(np.int64)
    wa = w.array().astype(np.int64)
    consts, _ = _requant_consts(name, params, mult, shift, y.zp0, None)
    if w.zp0 == 0:  # symmetric weights: fold the input offset into the bias, block the rows
        consts += [_const(name, "w", "int16_t" if layout == "int16" else "int8_t",
                          wl.fc_rows(wa, layout)),
                   _const(name, "bias_folded", "int32_t", wl.padded(bias - x.zp0 * wa.sum(axis=1), 4))]
        params["bias_folded"] = f"{name}_bias_folded"
        bias_arg = "0"
    else:
        consts.append(_const(name, "w", "int8_t", wa.reshape(-1)))
        params["bias_folded"] = "0"
        if b is not None:
            consts.append(_const(name, "bias", "int32_t", bias))
        bias_arg = f"{name}_bias" if b is not None else "0"
    params["layout"] = wl.LAYOUT_CODES[layout] if w.zp0 == 0 else 0
    # wide weights: the input row widened to int16 once (scratch, where the arena has room); it
    # saves two instructions per group of four inputs and block of four rows, costs four per group
    wide = w.zp0 == 0 and layout == "int16" and in_depth >= 4 and out_depth >= 16
    params.update(scratch=SCRATCH if wide else "0", wide_input=FAST if wide else 0)
    layer = Layer(op, "td_fully_connected_s8", "td_fc_params", params, consts,
                  [f"t{x.index}", f"{name}_w", bias_arg, f"t{y.index}"],
                  [x.index], [y.index], x.size // in_depth * in_depth * out_depth)
    layer.fast_scratch = 2 * (in_depth // 4 * 4) if wide else 0
    return layer


def _lower_pool(model: Model, op: Operator, func: str) -> Layer:
    x, y = model.tensors[op.inputs[0]], model.tensors[op.outputs[0]]
    _require_int8(op, x, y)
    if x.zp0 != y.zp0 or not np.isclose(x.scale0, y.scale0):
        raise _unsupported(op, "pooling input and output must share scale and zero point")
    in_h, in_w, c = _hwc(x, op)
    out_h, out_w, _ = _hwc(y, op)
    o = op.options
    act_min, act_max = qm.activation_range(o.get("activation", "NONE"), y.scale0, y.zp0)
    params: dict[str, object] = dict(
        in_h=in_h, in_w=in_w, c=c, out_h=out_h, out_w=out_w, f_h=o["filter_h"], f_w=o["filter_w"],
        stride_h=o["stride_h"], stride_w=o["stride_w"],
        pad_h=_pad(in_h, out_h, o["stride_h"], o["filter_h"], 1, o["padding"]),
        pad_w=_pad(in_w, out_w, o["stride_w"], o["filter_w"], 1, o["padding"]),
        act_min=act_min, act_max=act_max)
    return Layer(op, func, "td_pool_params", params, [], [f"t{x.index}", f"t{y.index}"],
                 [x.index], [y.index])


def lower_avg_pool(model: Model, op: Operator) -> Layer:
    return _lower_pool(model, op, "td_avg_pool_s8")


def lower_max_pool(model: Model, op: Operator) -> Layer:
    return _lower_pool(model, op, "td_max_pool_s8")


def lower_softmax(model: Model, op: Operator) -> Layer:
    x, y = model.tensors[op.inputs[0]], model.tensors[op.outputs[0]]
    _require_int8(op, x, y)
    if y.zp0 != -128 or not np.isclose(y.scale0, 1 / 256):
        raise _unsupported(op, "int8 softmax output must have scale 1/256 and zero point -128")
    mult, left, diff_min = qm.softmax_params(op.options.get("beta", 1.0), x.scale0)
    depth = x.shape[-1]
    params: dict[str, object] = dict(outer=x.size // depth, depth=depth, input_multiplier=mult,
                                     input_left_shift=left, diff_min=diff_min)
    return Layer(op, "td_softmax_s8", "td_softmax_params", params, [],
                 [f"t{x.index}", f"t{y.index}"], [x.index], [y.index])


def _broadcast(model: Model, op: Operator) -> tuple[Tensor, Tensor, Tensor, dict[str, object]]:
    a, b, y = (model.tensors[op.inputs[0]], model.tensors[op.inputs[1]],
               model.tensors[op.outputs[0]])
    _require_int8(op, a, b, y)
    if len(y.shape) > 4:
        raise _unsupported(op, f"{len(y.shape)}-D broadcasting (4-D at most)")
    out = [1] * (4 - len(y.shape)) + list(y.shape)

    def strides(t: Tensor) -> list[int]:
        shape = [1] * (4 - len(t.shape)) + list(t.shape)
        st, acc = [0] * 4, 1
        for i in range(3, -1, -1):
            if shape[i] not in (1, out[i]):
                raise _unsupported(op, f"shapes {list(a.shape)} and {list(b.shape)} do not broadcast")
            st[i] = acc if shape[i] != 1 else 0
            acc *= shape[i]
        return st

    p: dict[str, object] = dict(out_dims=out, in1_strides=strides(a), in2_strides=strides(b),
                                input1_offset=-a.zp0, input2_offset=-b.zp0, output_offset=y.zp0)
    return a, b, y, p


def _binary_inputs(model: Model, op: Operator, name: str, a: Tensor, b: Tensor
                   ) -> tuple[list[str], list[ConstArray], list[int]]:
    """Constant operands of ADD/MUL become flash arrays; the others are read from the arena."""
    args, consts, reads = [], [], []
    for i, t in enumerate((a, b)):
        if t.is_constant:
            consts.append(_const(name, f"in{i}", "int8_t", t.array().reshape(-1)))
            args.append(f"{name}_in{i}")
        else:
            args.append(f"t{t.index}")
            reads.append(t.index)
    return args, consts, reads


def _binary_layer(model: Model, op: Operator, func: str, a: Tensor, b: Tensor, y: Tensor,
                  p: dict[str, object]) -> Layer:
    """The part ADD and MUL share: activation clamp, operands, in place over the first input."""
    p["act_min"], p["act_max"] = qm.activation_range(op.options.get("activation", "NONE"),
                                                     y.scale0, y.zp0)
    args, consts, reads = _binary_inputs(model, op, f"L{op.index}", a, b)
    return Layer(op, func, "td_binary_params", p, consts, args + [f"t{y.index}"], reads,
                 [y.index], inplace=not a.is_constant and a.size == y.size)


def lower_add(model: Model, op: Operator) -> Layer:
    a, b, y, p = _broadcast(model, op)
    q = qm.add_params(a.scale0, b.scale0, y.scale0)
    p.update(q)
    # each input's rescaled value depends on its int8 value alone: a 256-entry table per input
    name = f"L{op.index}"
    t1 = qm.add_input_table(a.zp0, q["left_shift"], q["input1_multiplier"], q["input1_shift"])
    t2 = qm.add_input_table(b.zp0, q["left_shift"], q["input2_multiplier"], q["input2_shift"])
    bound = np.abs(t1).max() + np.abs(t2).max()
    act = qm.activation_range(op.options.get("activation", "NONE"), y.scale0, y.zp0)
    rq = qm.requant_records([q["output_multiplier"]], [q["output_shift"]], y.zp0,
                            np.array([[-bound, bound]]), act)
    p.update(table1=f"{name}_table1", table2=f"{name}_table2",
             out_rq=f"{name}_rq" if rq is not None else "0")
    layer = _binary_layer(model, op, "td_add_s8", a, b, y, p)
    layer.consts += [_const(name, "table1", "int32_t", t1), _const(name, "table2", "int32_t", t2)]
    if rq is not None:
        layer.consts.append(_const(name, "rq", "int32_t", rq))
    return layer


def lower_mul(model: Model, op: Operator) -> Layer:
    a, b, y, p = _broadcast(model, op)
    m, s = qm.quantize_multiplier(float(np.float32(a.scale0)) * float(np.float32(b.scale0))
                                  / float(np.float32(y.scale0)))
    p.update(output_multiplier=m, output_shift=s)
    return _binary_layer(model, op, "td_mul_s8", a, b, y, p)


def lower_alias(model: Model, op: Operator) -> Layer:
    x, y = model.tensors[op.inputs[0]], model.tensors[op.outputs[0]]
    if x.dtype != y.dtype or x.size != y.size:
        raise _unsupported(op, f"reshape from {list(x.shape)} {x.dtype} to {list(y.shape)} {y.dtype}")
    if x.is_constant:
        raise _unsupported(op, "reshape of a constant tensor (fold it in the converter)")
    return Layer(op, None, inputs=[x.index], outputs=[y.index])


def lower_pad(model: Model, op: Operator) -> Layer:
    x, pads, y = (model.tensors[op.inputs[0]], model.tensors[op.inputs[1]],
                  model.tensors[op.outputs[0]])
    _require_int8(op, x, y)
    if not pads.is_constant:
        raise _unsupported(op, "paddings must be constant")
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        pv = model.tensors[op.inputs[2]]
        pad_value = int(pv.array().reshape(-1)[0]) if pv.is_constant else None
        if pad_value is None:
            raise _unsupported(op, "the pad value must be constant")
    else:
        pad_value = y.zp0
    pw = pads.array().astype(np.int64).reshape(-1, 2)
    rank = len(x.shape)
    if rank > 4:
        raise _unsupported(op, "padding of more than 4 dimensions")
    before = [0] * (4 - rank) + [int(v) for v in pw[:, 0]]
    in_dims = [1] * (4 - rank) + list(x.shape)
    out_dims = [1] * (4 - rank) + list(y.shape)
    params: dict[str, object] = dict(in_dims=in_dims, out_dims=out_dims, before=before,
                                     pad_value=pad_value)
    return Layer(op, "td_pad_s8", "td_pad_params", params, [], [f"t{x.index}", f"t{y.index}"],
                 [x.index], [y.index])


def lower_concat(model: Model, op: Operator) -> Layer:
    xs = [model.tensors[i] for i in op.inputs]
    y = model.tensors[op.outputs[0]]
    _require_int8(op, y, *xs)
    for t in xs:
        if t.zp0 != y.zp0 or not np.isclose(t.scale0, y.scale0) or t.is_constant:
            raise _unsupported(op, "int8 concatenation needs non-constant inputs sharing the "
                                   "output's scale and zero point")
    if op.options.get("activation", "NONE") != "NONE":
        raise _unsupported(op, "fused activation on concatenation")
    axis = op.options.get("axis", 0) % len(y.shape)
    outer = int(np.prod(y.shape[:axis], dtype=np.int64))
    inner = [int(np.prod(t.shape[axis:], dtype=np.int64)) for t in xs]
    name = f"L{op.index}"
    params: dict[str, object] = dict(outer=outer, inner_out=sum(inner), n_inputs=len(xs),
                                     inner=f"{name}_inner")
    consts = [_const(name, "inner", "int32_t", np.array(inner, np.int64))]
    args = ["{" + ", ".join(f"t{t.index}" for t in xs) + "}", f"t{y.index}"]
    return Layer(op, "td_concat_s8", "td_concat_params", params, consts, args,
                 [t.index for t in xs], [y.index])


def lower_quantize(model: Model, op: Operator) -> Layer:
    x, y = model.tensors[op.inputs[0]], model.tensors[op.outputs[0]]
    if y.dtype != "int8" or x.dtype not in ("float32", "int8"):
        raise _unsupported(op, f"QUANTIZE from {x.dtype} to {y.dtype} (float32/int8 -> int8 only)")
    if x.dtype == "float32":
        params: dict[str, object] = dict(size=x.size, zero_point=y.zp0, scale=float(y.scale0))
        return Layer(op, "td_quantize_f32_s8", "td_affine_params", params, [],
                     [f"t{x.index}", f"t{y.index}"], [x.index], [y.index])
    return _requant_layer(op, x, y, "NONE")


def lower_dequantize(model: Model, op: Operator) -> Layer:
    x, y = model.tensors[op.inputs[0]], model.tensors[op.outputs[0]]
    if x.dtype != "int8" or y.dtype != "float32":
        raise _unsupported(op, f"DEQUANTIZE from {x.dtype} to {y.dtype} (int8 -> float32 only)")
    params: dict[str, object] = dict(size=x.size, zero_point=x.zp0, scale=float(x.scale0))
    return Layer(op, "td_dequantize_s8_f32", "td_affine_params", params, [],
                 [f"t{x.index}", f"t{y.index}"], [x.index], [y.index])


def _requant_layer(op: Operator, x: Tensor, y: Tensor, activation: str) -> Layer:
    """int8 -> int8 rescale and clamp: QUANTIZE between two scales, RELU, RELU6."""
    m, s = qm.quantize_multiplier(float(np.float32(x.scale0)) / float(np.float32(y.scale0)))
    act_min, act_max = qm.activation_range(activation, y.scale0, y.zp0)
    params: dict[str, object] = dict(size=x.size, input_zero_point=x.zp0, output_zero_point=y.zp0,
                                     multiplier=m, shift=s, act_min=act_min, act_max=act_max)
    return Layer(op, "td_requantize_s8", "td_requant_params", params, [],
                 [f"t{x.index}", f"t{y.index}"], [x.index], [y.index], inplace=True)


def _lower_relu(model: Model, op: Operator, activation: str) -> Layer:
    x, y = model.tensors[op.inputs[0]], model.tensors[op.outputs[0]]
    _require_int8(op, x, y)
    return _requant_layer(op, x, y, activation)


def lower_relu(model: Model, op: Operator) -> Layer:
    return _lower_relu(model, op, "RELU")


def lower_relu6(model: Model, op: Operator) -> Layer:
    return _lower_relu(model, op, "RELU6")


def _libm() -> ctypes.CDLL:
    libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
    for fn in ("tanhf", "expf"):
        getattr(libm, fn).restype = ctypes.c_float
        getattr(libm, fn).argtypes = [ctypes.c_float]
    return libm


def _float_lut(x: Tensor, y: Tensor, fn: Callable[[np.float32], np.float32]) -> np.ndarray:
    """TFLite's PopulateLookupTable: dequantize, transform and requantize in float32, indexed
    by the input byte read as uint8."""
    table = np.zeros(256, np.int64)
    inv = np.float32(1) / np.float32(y.scale0)
    for v in range(-128, 128):
        deq = np.float32(x.scale0) * np.float32(v - x.zp0)
        q = qm.round_half_away(float(np.float32(fn(deq)) * inv)) + y.zp0
        table[v & 0xFF] = min(127, max(-128, q))
    return table


def _lower_lut(model: Model, op: Operator, fn: Callable[[np.float32], np.float32],
               out_scale: float, out_zp: int) -> Layer:
    x, y = model.tensors[op.inputs[0]], model.tensors[op.outputs[0]]
    _require_int8(op, x, y)
    if y.zp0 != out_zp or not np.isclose(y.scale0, out_scale):
        raise _unsupported(op, f"int8 {op.opcode} output must have scale {out_scale:g} and zero "
                               f"point {out_zp}")
    name = f"L{op.index}"
    params: dict[str, object] = dict(size=x.size, table=f"{name}_table")
    return Layer(op, "td_lut_s8", "td_lut_params", params,
                 [_const(name, "table", "int8_t", _float_lut(x, y, fn))],
                 [f"t{x.index}", f"t{y.index}"], [x.index], [y.index], inplace=True)


def lower_logistic(model: Model, op: Operator) -> Layer:
    libm = _libm()
    return _lower_lut(model, op, lambda v: np.float32(1) / (np.float32(1) + np.float32(
        libm.expf(-float(v)))), 1 / 256, -128)


def lower_tanh(model: Model, op: Operator) -> Layer:
    libm = _libm()
    return _lower_lut(model, op, lambda v: np.float32(libm.tanhf(float(v))), 1 / 128, 0)


def _int16_multiplier(real: float) -> tuple[int, int]:
    """QuantizeMultiplier, then the Q31 significand rounded to Q15 (TFLite's DownScale...)."""
    m, e = qm.quantize_multiplier(real)
    return (32767 if m >= (1 << 31) - 1 - (1 << 15) else (m + (1 << 15)) >> 16), e


def lower_hard_swish(model: Model, op: Operator) -> Layer:
    x, y = model.tensors[op.inputs[0]], model.tensors[op.outputs[0]]
    _require_int8(op, x, y)
    hires = np.float32(1.0 / 128.0) * np.float32(x.scale0)
    out_m, out_e = _int16_multiplier(float(np.float32(hires / np.float32(y.scale0))))
    relu_m, relu_e = _int16_multiplier(float(np.float32(hires / np.float32(3.0 / 32768.0))))
    if out_e > 0:
        raise _unsupported(op, "output scale too small for the int8 hard-swish kernel")
    params: dict[str, object] = dict(
        size=x.size, input_zero_point=x.zp0, output_zero_point=y.zp0, reluish_multiplier=relu_m,
        output_multiplier=out_m, reluish_exponent=relu_e, output_exponent=out_e)
    return Layer(op, "td_hard_swish_s8", "td_hard_swish_params", params, [],
                 [f"t{x.index}", f"t{y.index}"], [x.index], [y.index], inplace=True)


def lower_mean(model: Model, op: Operator) -> Layer:
    x, axes_t, y = (model.tensors[op.inputs[0]], model.tensors[op.inputs[1]],
                    model.tensors[op.outputs[0]])
    _require_int8(op, x, y)
    if not axes_t.is_constant or len(x.shape) > 4:
        raise _unsupported(op, "MEAN needs constant axes and at most 4 dimensions")
    rank = len(x.shape)
    axes = sorted({int(a) % rank for a in axes_t.array().reshape(-1)})
    dims = [1] * (4 - rank) + list(x.shape)
    reduce = [0] * 4
    for a in axes:
        reduce[a + 4 - rank] = 1
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    multiplier, shift = qm.mean_multiplier(x.scale0, y.scale0, count)
    params: dict[str, object] = dict(dims=dims, reduce=reduce, count=count,
                                     input_zero_point=x.zp0, output_zero_point=y.zp0,
                                     multiplier=multiplier, shift=shift)
    return Layer(op, "td_mean_s8", "td_mean_params", params, [], [f"t{x.index}", f"t{y.index}"],
                 [x.index], [y.index])


LOWERINGS: dict[str, Callable[..., Layer]] = {
    "CONV_2D": lower_conv2d,
    "DEPTHWISE_CONV_2D": lower_depthwise,
    "FULLY_CONNECTED": lower_fully_connected,
    "AVERAGE_POOL_2D": lower_avg_pool,
    "MAX_POOL_2D": lower_max_pool,
    "SOFTMAX": lower_softmax,
    "ADD": lower_add,
    "MUL": lower_mul,
    "RESHAPE": lower_alias,
    "SQUEEZE": lower_alias,
    "PAD": lower_pad,
    "CONCATENATION": lower_concat,
    "QUANTIZE": lower_quantize,
    "DEQUANTIZE": lower_dequantize,
    "RELU": lower_relu,
    "RELU6": lower_relu6,
    "LOGISTIC": lower_logistic,
    "TANH": lower_tanh,
    "HARD_SWISH": lower_hard_swish,
    "MEAN": lower_mean,
}

WEIGHTED = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}  # lowerings that take `layout`


def lower_model(model: Model, layout: str = "int16") -> list[Layer]:
    """Lower every operator; the first unsupported one stops compilation with a clear message.

    layout: how convolution and fully connected weights are stored (weight_layout.LAYOUTS).
    """
    if model.subgraph_count > 1:
        raise TinyDeployError(f"the model has {model.subgraph_count} subgraphs (control flow)",
                              "tinydeploy compiles single-subgraph models; remove IF/WHILE ops")
    for op in model.operators:
        if op.opcode not in LOWERINGS:
            raise _unsupported(op, f"operator {op.opcode} is not supported (supported: "
                                   f"{', '.join(sorted(LOWERINGS))})")
    if layout not in wl.LAYOUTS:
        raise TinyDeployError(f"unknown weight layout '{layout}'", f"use one of {', '.join(wl.LAYOUTS)}")
    return [LOWERINGS[op.opcode](model, op, layout=layout) if op.opcode in WEIGHTED
            else LOWERINGS[op.opcode](model, op) for op in model.operators]
