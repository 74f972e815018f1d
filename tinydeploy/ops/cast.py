"""CAST between int8, uint8, int16, int32, int64, float32 and bool (cast.c), as LiteRT casts:
integers wrap to narrower integers (two's complement), anything to bool is `!= 0`, bool is 0 or 1,
integers round to the nearest float, and floats truncate toward zero into integers with
saturation (below the range: its minimum; above it or NaN: its maximum). Quantization parameters
play no part: CAST converts stored values, not the real numbers they stand for."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydeploy.ops import register
from tinydeploy.ops.base import (GeneratedOp, Kernel, Layer, OpContext, OpSpec, Params, TensorArg,
                                 cfield, same_shape_as_input)
from tinydeploy.ops.movegen import lambda_model
from tinydeploy.qtype import qtype

CAST_TYPES = ("int8", "uint8", "int16", "int32", "int64", "float32", "bool")


@dataclass
class CastParams(Params):
    C_NAME = "td_cast_params"
    count: int = cfield("int32_t")
    in_type: int = cfield("int32_t", "TD_TYPE_* (td_runtime.h)")
    out_type: int = cfield("int32_t", "TD_TYPE_*")


CAST = Kernel("td_cast", CastParams, ("const void *in", "void *out"),
              "CAST between int8/uint8/int16/int32/int64/float32/bool (tinydeploy/ops/cast.py).")


def _lower(ctx: OpContext) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    ctx.require(x.dtype in CAST_TYPES and y.dtype in CAST_TYPES,
                f"a cast from {x.dtype} to {y.dtype}")
    ctx.require(x.size == y.size, f"{x.size} values in, {y.size} out")
    params = CastParams(count=x.size, in_type=qtype(x.dtype).code, out_type=qtype(y.dtype).code)
    return Layer(ctx.op, CAST, params, [], [TensorArg(x.index), TensorArg(y.index)],
                 [] if x.is_constant else [x.index], [y.index])


def _generate(rng: np.random.Generator, _type: str) -> GeneratedOp:
    import tensorflow as tf

    shape = (1,) + tuple(int(d) for d in rng.integers(1, 6, int(rng.integers(1, 4))))
    target = str(rng.choice(["int32", "bool", "int16", "int8", "uint8", "int64", "float32"]))
    gain = float(rng.choice([3.0, 40.0, 400.0]))
    if target == "float32":  # int32 -> float32, then back to int8
        fn = (lambda t: tf.cast(tf.cast(t * gain, tf.int32), tf.float32))
    else:
        fn = (lambda t: tf.cast(t * gain, target))
    return lambda_model(f"cast {shape} x{gain} -> {target}", [shape], fn, rng)


register(OpSpec("CAST", {(t, None): _lower for t in CAST_TYPES}, inputs=(1, 1),
                options="CastOptions", infer_shape=same_shape_as_input, kernels=(CAST,),
                generate=_generate))
