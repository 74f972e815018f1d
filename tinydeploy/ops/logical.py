"""LOGICAL_AND and LOGICAL_OR (bool, 4-D broadcasting; logical_b.c) and LOGICAL_NOT (bool;
logical_not_b.c)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydeploy.ops import register, register_constant
from tinydeploy.ops.base import (GeneratedOp, Kernel, Layer, OpContext, OpSpec, Params, cfield,
                                 same_shape_as_input)
from tinydeploy.ops.binary import (elementwise_layer, generated, infer_broadcast, keras_model,
                                   out_dims4, shapes, strides4)
from tinydeploy.ops.unary import UnaryParams

LOGICAL = {"LOGICAL_AND": 0, "LOGICAL_OR": 1}
for _name, _code in LOGICAL.items():
    register_constant(f"TD_{_name}", _code, f"td_logical_params.op: {_name}")


@dataclass
class LogicalParams(Params):
    C_NAME = "td_logical_params"
    C_DOC = "LOGICAL_AND / LOGICAL_OR with 4-D broadcasting (bool: any nonzero byte is true)."
    out_dims: list[int] = cfield("int32_t", count=4)
    in1_strides: list[int] = cfield("int32_t", count=4)
    in2_strides: list[int] = cfield("int32_t", count=4)
    op: int = cfield("int32_t", "TD_LOGICAL_*")


LOGICAL_B = Kernel("td_logical_b", LogicalParams,
                   ("const uint8_t *in1", "const uint8_t *in2", "uint8_t *out"))
LOGICAL_NOT_B = Kernel("td_logical_not_b", UnaryParams, ("const uint8_t *in", "uint8_t *out"))


def _require_bool(ctx: OpContext) -> None:
    for t in [ctx.input(i) for i in range(len(ctx.op.inputs))] + [ctx.output(0)]:
        ctx.require(t.dtype == "bool", f"tensor '{t.name}' is {t.dtype}, the op takes bool")


def _lower_binary(ctx: OpContext) -> Layer:
    _require_bool(ctx)
    a, b, y = ctx.input(0), ctx.input(1), ctx.output(0)
    params = LogicalParams(out_dims=out_dims4(ctx, y), in1_strides=strides4(a),
                           in2_strides=strides4(b), op=LOGICAL[ctx.op.opcode])
    return elementwise_layer(ctx, LOGICAL_B, params, [a, b], y)


def _lower_not(ctx: OpContext) -> Layer:
    _require_bool(ctx)
    x, y = ctx.input(0), ctx.output(0)
    return elementwise_layer(ctx, LOGICAL_NOT_B, UnaryParams(size=y.size), [x], y)


def _generate(rng: np.random.Generator, qtype: str, opcode: str) -> GeneratedOp:
    import tensorflow as tf

    s1, s2, kind = shapes(rng)
    if opcode == "LOGICAL_NOT":
        model = keras_model([s1], tf.math.logical_not, "bool")
        return generated(f"logical_not {s1}", model, "bool", rng)
    fn = tf.math.logical_and if opcode == "LOGICAL_AND" else tf.math.logical_or
    model = keras_model([s1, s2], fn, "bool")
    return generated(f"{opcode.lower()} {s1} {s2} ({kind})", model, "bool", rng)


register(
    OpSpec("LOGICAL_AND", {("bool", None): _lower_binary}, inputs=(2, 2),
           infer_shape=infer_broadcast, kernels=(LOGICAL_B,),
           generate=lambda rng, t: _generate(rng, t, "LOGICAL_AND")),
    OpSpec("LOGICAL_OR", {("bool", None): _lower_binary}, inputs=(2, 2),
           infer_shape=infer_broadcast, kernels=(LOGICAL_B,),
           generate=lambda rng, t: _generate(rng, t, "LOGICAL_OR")),
    OpSpec("LOGICAL_NOT", {("bool", None): _lower_not}, inputs=(1, 1),
           infer_shape=same_shape_as_input, kernels=(LOGICAL_NOT_B,),
           generate=lambda rng, t: _generate(rng, t, "LOGICAL_NOT")),
)
