"""ADD and MUL, int8, with broadcasting over up to 4 dimensions (add_s8.c, mul_s8.c).

Strides are 0 along broadcast dimensions. ADD rescales both inputs to a common scale as TFLite does
(20 bits of headroom); each input's rescaled value depends on its int8 value alone, so it is a
256-entry table per input, computed here with TFLite's arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydeploy import quantmath as qm
from tinydeploy.ops import register
from tinydeploy.ops.base import (ConstArg, GeneratedOp, Kernel, Layer, OpContext, OpSpec, Params,
                                 TensorArg, Tensor, broadcast_shape, cfield)


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
                                                   "entries indexed by the byte)", default=None)
    table2: str | None = cfield("const int32_t *", default=None)
    out_rq: str | None = cfield("const int32_t *", "ADD: the output's fast requantization "
                                                   "record (td_quant.h), or 0", default=None)


_ARGS = ("const int8_t *in1", "const int8_t *in2", "int8_t *out")
ADD = Kernel("td_add_s8", BinaryParams, _ARGS)
MUL = Kernel("td_mul_s8", BinaryParams, _ARGS)


def _infer(ctx: OpContext) -> list[tuple[int, ...]]:
    return [broadcast_shape(ctx, ctx.input(0).shape, ctx.input(1).shape)]


def _geometry(ctx: OpContext) -> tuple[Tensor, Tensor, Tensor, dict[str, object]]:
    a, b, y = ctx.input(0), ctx.input(1), ctx.output(0)
    ctx.require_type(("int8",), a, b, y)
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


def _lower_add(ctx: OpContext) -> Layer:
    a, b, y, geo = _geometry(ctx)
    q = qm.add_params(a.scale0, b.scale0, y.scale0)
    t1 = qm.add_input_table(a.zp0, q["left_shift"], q["input1_multiplier"], q["input1_shift"])
    t2 = qm.add_input_table(b.zp0, q["left_shift"], q["input2_multiplier"], q["input2_shift"])
    bound = np.abs(t1).max() + np.abs(t2).max()
    act = qm.activation_range(ctx.activation, y.scale0, y.zp0)
    rq = qm.requant_records([q["output_multiplier"]], [q["output_shift"]], y.zp0,
                            np.array([[-bound, bound]]), act)
    name = ctx.name
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


def _generate(rng: np.random.Generator, kind: str) -> GeneratedOp:
    import keras

    L = keras.layers
    h, w, c = int(rng.integers(3, 14)), int(rng.integers(3, 14)), int(rng.integers(1, 9))
    broadcast = rng.random() < 0.4
    # named so the calibrator's input order (by name) is the list order, whatever ran before
    inputs = [keras.Input((h, w, c), batch_size=1, name="in0"),
              keras.Input((1, 1, c) if broadcast else (h, w, c), batch_size=1, name="in1")]
    out = (L.Add() if kind == "add" else L.Multiply())(inputs)
    scale = float(rng.uniform(0.5, 4.0))
    reps = [rng.normal(0, scale, (32, *[int(d) for d in i.shape[1:]])).astype(np.float32)
            for i in inputs]
    return GeneratedOp(f"{kind} hwc={(h, w, c)} broadcast={broadcast}",
                       keras.Model(inputs, out), reps)


register(
    OpSpec("ADD", {("int8", None): _lower_add}, inputs=(2, 2), options="AddOptions",
           infer_shape=_infer, kernels=(ADD,), generate=lambda rng, t: _generate(rng, "add"),
           optimized={"int8": ("all",)}),
    OpSpec("MUL", {("int8", None): _lower_mul}, inputs=(2, 2), options="MulOptions",
           infer_shape=_infer, kernels=(MUL,), generate=lambda rng, t: _generate(rng, "mul")),
)
