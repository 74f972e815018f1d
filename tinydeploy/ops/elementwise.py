"""ADD and MUL with broadcasting over up to 4 dimensions, in int8 (add_s8.c, mul_s8.c), int16
(16x8: add_s16.c, mul_s16.c), float32 and int32 (arith_f32.c, arith_s32.c).

Strides are 0 along broadcast dimensions. int8 ADD rescales both inputs to a common scale as TFLite
does (20 bits of headroom); each input's rescaled value depends on its int8 value alone, so it is
a 256-entry table per input, computed here with TFLite's arithmetic. int16 ADD (and SUB) take the
path TFLite's Prepare picks: the general one (15 bits of headroom, computed per element) unless
the node asks for power-of-two scaling (AddOptions.pot_scale_int16, which the converter sets false)
and every scale is a power of two, TFLite's LSTM shortcut of a rounding shift and a saturating sum.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tinydeploy import quantmath as qm
from tinydeploy.ops import register, register_constant
from tinydeploy.ops.base import (ConstArg, GeneratedOp, Kernel, Layer, OpContext, OpSpec, Params,
                                 TensorArg, Tensor, broadcast_shape, cfield)


# operation codes of the typed arithmetic kernels, and fused activations as codes (a float
# activation's bounds include FLT_MAX, which the kernel knows better than a float field)
OPS = {"SUB": 0, "MAXIMUM": 1, "MINIMUM": 2, "SQUARED_DIFFERENCE": 3, "DIV": 4, "ADD": 5,
       "MUL": 6, "FLOOR_DIV": 7, "FLOOR_MOD": 8}
ACTIVATIONS = {"NONE": 0, "RELU": 1, "RELU6": 2, "RELU_N1_TO_1": 3}
for _name, _code in OPS.items():
    register_constant(f"TD_OP_{_name}", _code, f"td_arith_params.op: {_name}")
for _name, _code in ACTIVATIONS.items():
    register_constant(f"TD_ACT_{_name}", _code, f"td_arith_params.activation: {_name}")


@dataclass
class ArithParams(Params):
    C_NAME = "td_arith_params"
    C_DOC = ("Element-wise binary ops on int32, float32 (and int8/int16 MAXIMUM/MINIMUM, float "
             "PRELU): 4-D broadcasting, an operation and a fused activation by code.")
    out_dims: list[int] = cfield("int32_t", count=4)
    in1_strides: list[int] = cfield("int32_t", count=4)
    in2_strides: list[int] = cfield("int32_t", count=4)
    op: int = cfield("int32_t", "TD_OP_*", default=0)
    activation: int = cfield("int32_t", "TD_ACT_*", default=0)


@dataclass
class BinaryParams(Params):
    C_NAME = "td_binary_params"
    C_DOC = "Element-wise binary ops over 4-D shapes: strides are 0 along broadcast dimensions."
    out_dims: list[int] = cfield("int32_t", count=4)
    in1_strides: list[int] = cfield("int32_t", count=4)
    in2_strides: list[int] = cfield("int32_t", count=4)
    input1_offset: int = cfield("int32_t")
    input2_offset: int = cfield("int32_t")
    output_offset: int = cfield("int32_t")
    left_shift: int = cfield("int32_t", default=0)
    input1_multiplier: int = cfield("int32_t", default=0)
    input1_shift: int = cfield("int32_t", default=0)
    input2_multiplier: int = cfield("int32_t", default=0)
    input2_shift: int = cfield("int32_t", default=0)
    output_multiplier: int = cfield("int32_t", default=0)
    output_shift: int = cfield("int32_t", default=0)
    act_min: int = cfield("int32_t", default=-128)
    act_max: int = cfield("int32_t", default=127)
    table1: str | None = cfield("const int32_t *", "ADD: input 1 rescaled, per int8 value (256 "
                                                   "entries indexed by the byte; doubled with "
                                                   "out_rq)", default=None)
    table2: str | None = cfield("const int32_t *", default=None)
    out_rq: str | None = cfield("const int32_t *", "ADD: the output's fast requantization "
                                                   "record (td_quant.h), or 0", default=None)


@dataclass
class Binary16Params(Params):
    C_NAME = "td_binary16_params"
    C_DOC = ("int16 ADD, SUB (general or power-of-two path) and MUL over 4-D shapes: strides are 0 "
             "along broadcast dimensions; zero points are 0.")
    out_dims: list[int] = cfield("int32_t", count=4)
    in1_strides: list[int] = cfield("int32_t", count=4)
    in2_strides: list[int] = cfield("int32_t", count=4)
    left_shift: int = cfield("int32_t", default=0)
    input1_multiplier: int = cfield("int32_t", default=0)
    input1_shift: int = cfield("int32_t", "general: the rescale's shift; power-of-two: minus the "
                                          "right shift", default=0)
    input2_multiplier: int = cfield("int32_t", default=0)
    input2_shift: int = cfield("int32_t", default=0)
    output_multiplier: int = cfield("int32_t", default=0)
    output_shift: int = cfield("int32_t", default=0)
    act_min: int = cfield("int32_t", default=-32768)
    act_max: int = cfield("int32_t", default=32767)
    subtract: int = cfield("int32_t", "1: SUB", default=0)
    pot: int = cfield("int32_t", "1: TFLite's power-of-two path", default=0)


_ARGS = ("const int8_t *in1", "const int8_t *in2", "int8_t *out")
_ARGS16 = ("const int16_t *in1", "const int16_t *in2", "int16_t *out")
ARITH_S32 = Kernel("td_arith_s32", ArithParams,
                   ("const int32_t *in1", "const int32_t *in2", "int32_t *out"))
ARITH_F32 = Kernel("td_arith_f32", ArithParams, ("const float *in1", "const float *in2",
                                                 "float *out"))
ADD = Kernel("td_add_s8", BinaryParams, _ARGS)
MUL = Kernel("td_mul_s8", BinaryParams, _ARGS)
ADD16 = Kernel("td_add_s16", Binary16Params, _ARGS16)
MUL16 = Kernel("td_mul_s16", Binary16Params, _ARGS16)


def _infer(ctx: OpContext) -> list[tuple[int, ...]]:
    return [broadcast_shape(ctx, ctx.input(0).shape, ctx.input(1).shape)]


def _geometry(ctx: OpContext, types: tuple[str, ...] = ("int8",)
              ) -> tuple[Tensor, Tensor, Tensor, dict[str, object]]:
    a, b, y = ctx.input(0), ctx.input(1), ctx.output(0)
    ctx.require_type(types, a, b, y)
    ctx.require(len(y.shape) <= 4, f"{len(y.shape)}-D broadcasting (4-D at most)")
    out = [1] * (4 - len(y.shape)) + list(y.shape)

    def strides(t: Tensor) -> list[int]:
        shape = [1] * (4 - len(t.shape)) + list(t.shape)
        st, acc = [0] * 4, 1
        for i in range(3, -1, -1):
            st[i] = acc if shape[i] != 1 else 0
            acc *= shape[i]
        return st

    return a, b, y, dict(out_dims=out, in1_strides=strides(a), in2_strides=strides(b),
                         input1_offset=-a.zp0, input2_offset=-b.zp0, output_offset=y.zp0)


def _binary_layer(ctx: OpContext, kernel: Kernel, a: Tensor, b: Tensor, y: Tensor,
                  params: BinaryParams, consts: list) -> Layer:
    """The part ADD and MUL share: constant operands in flash, in place over the first input."""
    args, reads = [], []
    for i, t in enumerate((a, b)):
        if t.is_constant:
            consts.append(ctx.const(f"in{i}", "int8_t", t.array().reshape(-1)))
            args.append(ConstArg(f"{ctx.name}_in{i}"))
        else:
            args.append(TensorArg(t.index))
            reads.append(t.index)
    return Layer(ctx.op, kernel, params, consts, args + [TensorArg(y.index)], reads, [y.index],
                 inplace=not a.is_constant and a.size == y.size)


def add_layer(ctx: OpContext, second_sign: int = 1) -> Layer:
    """int8 ADD (second_sign 1) or SUB (-1, the second input's rescaled table negated: TFLite's
    SUB is ADD's arithmetic on -b) on td_add_s8: both tables, and the output's fast record where
    it is exact, with the tables doubled then (the kernel takes the doubled sum td_requant2
    wants)."""
    a, b, y, geo = _geometry(ctx)
    q = qm.add_params(a.scale0, b.scale0, y.scale0)
    t1 = qm.add_input_table(a.zp0, q["left_shift"], q["input1_multiplier"], q["input1_shift"])
    t2 = second_sign * qm.add_input_table(b.zp0, q["left_shift"], q["input2_multiplier"],
                                          q["input2_shift"])
    bound = np.abs(t1).max() + np.abs(t2).max()
    act = qm.activation_range(ctx.activation, y.scale0, y.zp0)
    rq = qm.requant_records([q["output_multiplier"]], [q["output_shift"]], y.zp0,
                            np.array([[-bound, bound]]), act)
    name = ctx.name
    if rq is not None:
        t1, t2 = t1 * 2, t2 * 2
    consts = [ctx.const("table1", "int32_t", t1), ctx.const("table2", "int32_t", t2)]
    if rq is not None:
        consts.append(ctx.const("rq", "int32_t", rq))
    params = BinaryParams(**geo, **q, act_min=act[0], act_max=act[1],  # type: ignore[arg-type]
                          table1=f"{name}_table1", table2=f"{name}_table2",
                          out_rq=f"{name}_rq" if rq is not None else None)
    return _binary_layer(ctx, ADD, a, b, y, params, consts)


def _lower_mul(ctx: OpContext) -> Layer:
    a, b, y, geo = _geometry(ctx)
    # TFLite's mul Prepare computes the ratio in float before it becomes a double
    m, s = qm.quantize_multiplier(float(np.float32(a.scale0) * np.float32(b.scale0)
                                        / np.float32(y.scale0)))
    act = qm.activation_range(ctx.activation, y.scale0, y.zp0)
    params = BinaryParams(**geo, output_multiplier=m, output_shift=s,  # type: ignore[arg-type]
                          act_min=act[0], act_max=act[1])
    return _binary_layer(ctx, MUL, a, b, y, params, [])


# ---- int16 (16x8) ----

def _geometry16(ctx: OpContext) -> tuple[Tensor, Tensor, Tensor, dict[str, object]]:
    from tinydeploy.ops.pointwise import require_int16

    a, b, y = ctx.input(0), ctx.input(1), ctx.output(0)
    require_int16(ctx, a, b, y)
    _, _, _, geo = _geometry(ctx, ("int16",))
    del geo["input1_offset"], geo["input2_offset"], geo["output_offset"]
    return a, b, y, geo


def lower_add_sub16(ctx: OpContext, subtract: bool) -> Layer:
    """int16 ADD or SUB as TFLite's Prepare decides: the power-of-two path where the options ask
    for it and all three scales are powers of two, else the general path (15-bit headroom, the
    ratios formed in double)."""
    from tinydeploy.ops import intmath as im

    a, b, y, geo = _geometry16(ctx)
    act = qm.activation_range(ctx.activation, y.scale0, y.zp0, -32768, 32767)
    logs = [im.checked_log2(t.scale0) for t in (a, b, y)]
    if ctx.option("pot_scale_int16", True) and all(pot for pot, _ in logs):
        s1, s2 = logs[0][1] - logs[2][1], logs[1][1] - logs[2][1]
        ctx.require((s1 == 0 or s2 == 0) and s1 <= 0 and s2 <= 0,
                    f"int16 {ctx.op.opcode} with power-of-two scales: one input must have the "
                    "output's scale and the other a finer one (TFLite's LSTM path)")
        ctx.require(subtract or tuple(a.shape) == tuple(b.shape),
                    "int16 ADD with power-of-two scales (TFLite's LSTM path) does not broadcast")
        params = Binary16Params(**geo, input1_shift=s1, input2_shift=s2,  # type: ignore[arg-type]
                                act_min=act[0], act_max=act[1], subtract=int(subtract), pot=1)
    else:
        left_shift = 15
        twice = 2 * float(max(np.float32(a.scale0), np.float32(b.scale0)))
        m1 = qm.quantize_multiplier(float(np.float32(a.scale0)) / twice)
        m2 = qm.quantize_multiplier(float(np.float32(b.scale0)) / twice)
        mo = qm.quantize_multiplier(twice / ((1 << left_shift) * float(np.float32(y.scale0))))
        ctx.require(mo[1] <= 0, f"output scale too small for TFLite's int16 {ctx.op.opcode} (its "
                                "rescale needs a multiplier below one)")
        params = Binary16Params(**geo, left_shift=left_shift,  # type: ignore[arg-type]
                                input1_multiplier=m1[0], input1_shift=m1[1],
                                input2_multiplier=m2[0], input2_shift=m2[1],
                                output_multiplier=mo[0], output_shift=mo[1], act_min=act[0],
                                act_max=act[1], subtract=int(subtract))
    return _typed_layer(ctx, ADD16, a, b, y, params)


def _lower_mul16(ctx: OpContext) -> Layer:
    a, b, y, geo = _geometry16(ctx)
    m, s = qm.quantize_multiplier(float(np.float32(a.scale0) * np.float32(b.scale0)
                                        / np.float32(y.scale0)))
    act = qm.activation_range(ctx.activation, y.scale0, y.zp0, -32768, 32767)
    params = Binary16Params(**geo, output_multiplier=m, output_shift=s,  # type: ignore[arg-type]
                            act_min=act[0], act_max=act[1])
    return _typed_layer(ctx, MUL16, a, b, y, params)


def _typed_layer(ctx: OpContext, kernel: Kernel, a: Tensor, b: Tensor, y: Tensor,
                 params: Params) -> Layer:
    from tinydeploy.ops.binary import elementwise_layer

    return elementwise_layer(ctx, kernel, params, [a, b], y)


def _lower_arith(ctx: OpContext, dtype: str) -> Layer:
    from tinydeploy.ops.binary import lower_arith

    return lower_arith(ctx, dtype)


def _generate(rng: np.random.Generator, kind: str, qtype: str) -> GeneratedOp:
    import keras

    L = keras.layers
    side = 14 if qtype == "int8" else 9  # 16x8 and float32 models fit a 16 KB Cortex-M0 too
    h, w, c = int(rng.integers(3, side)), int(rng.integers(3, side)), int(rng.integers(1, 9))
    broadcast = rng.random() < 0.4
    # named so the calibrator's input order (by name) is the list order, whatever ran before
    shapes = [(h, w, c), (1, 1, c) if broadcast else (h, w, c)]
    if qtype == "int32":  # through tf.add/tf.multiply (Keras's Add of a broadcast int32 operand
        import tensorflow as tf  # becomes a BiasAdd the converter cannot write)

        from tinydeploy.ops.binary import generated, keras_model

        fn = tf.math.add if kind == "add" else tf.math.multiply
        return generated(f"{kind} hwc={(h, w, c)} broadcast={broadcast}",
                         keras_model(shapes, fn, "int32"), qtype, rng)
    inputs = [keras.Input(shapes[0], batch_size=1, name="in0"),
              keras.Input(shapes[1], batch_size=1, name="in1")]
    out = (L.Add() if kind == "add" else L.Multiply())(inputs)
    scale = float(rng.uniform(0.5, 4.0))
    reps = [rng.normal(0, scale, (32, *[int(d) for d in i.shape[1:]])).astype(np.float32)
            for i in inputs]
    what = f"{kind} hwc={(h, w, c)} broadcast={broadcast}"
    if qtype == "int8":
        return GeneratedOp(what, keras.Model(inputs, out), reps)
    # other types: a fused activation two times in three (the converter fuses a following ReLU)
    act = ["none", "relu", "relu6"][int(rng.integers(0, 3))]
    if act != "none":
        out = L.Activation(act)(out)
    return GeneratedOp(f"{what} act={act} {qtype}", keras.Model(inputs, out), reps)


def _spec(opcode: str, int8: Callable[[OpContext], Layer], int8_kernel: Kernel,
          int16: Callable[[OpContext], Layer], int16_kernel: Kernel, options: str) -> OpSpec:
    return OpSpec(opcode, {("int8", None): int8, ("int16", None): int16,
                           ("float32", None): lambda ctx: _lower_arith(ctx, "float32"),
                           ("int32", None): lambda ctx: _lower_arith(ctx, "int32")},
                  inputs=(2, 2), options=options, infer_shape=_infer,
                  kernels=(int8_kernel, int16_kernel, ARITH_F32, ARITH_S32),
                  generate=lambda rng, t: _generate(rng, opcode.lower(), t),
                  optimized={"int8": ("all",)} if opcode == "ADD" else {})


register(
    _spec("ADD", add_layer, ADD, lambda ctx: lower_add_sub16(ctx, subtract=False), ADD16,
          "AddOptions"),
    _spec("MUL", _lower_mul, MUL, _lower_mul16, MUL16, "MulOptions"),
)
