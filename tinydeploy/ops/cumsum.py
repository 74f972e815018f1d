"""CUMSUM over one constant axis (negative too), exclusive and reverse, in float32, int32 and int64
(cumsum.c), as TFLite's reference CumSum: each line along the axis summed in order from 0 (from
its end where reverse), the sum before the element written where exclusive. int32 and int64 sums
wrap as they do on TFLite's x86.

int8 (cumsum_s8.c) is TFLite Micro's quantized CumSum (LiteRT has no int8 kernel, and the
converter leaves CUMSUM in float): every input rescaled as ADD rescales it (its value less the zero
point, shifted left 20 bits, times a multiplier of 1/2), which depends on the byte alone and so is
a 256-entry table; each line's int32 sum starts from the rescaled -zero point (the reference's
accumulator starts there, not at 0) and is requantized by 2 x input scale / (2^20 x output scale),
both multipliers formed in double as TFLite Micro's Prepare does. TFLite has no int16 kernel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinydeploy import quantmath as qm
from tinydeploy.ops import register
from tinydeploy.ops.argminmax import constant_axis
from tinydeploy.ops.base import (GeneratedOp, Kernel, Layer, OpContext, OpSpec, Params, TensorArg,
                                 cfield, same_shape_as_input)


@dataclass
class CumsumParams(Params):
    C_NAME = "td_cumsum_params"
    C_DOC = "CUMSUM along the middle dimension of [outer, depth, inner]."
    outer: int = cfield("int32_t")
    depth: int = cfield("int32_t")
    inner: int = cfield("int32_t")
    exclusive: int = cfield("int32_t", "1: each output is the sum of the elements before it")
    reverse: int = cfield("int32_t", "1: sums run from the end of the axis")


@dataclass
class CumsumS8Params(Params):
    C_NAME = "td_cumsum_s8_params"
    C_DOC = "int8 CUMSUM along the middle dimension of [outer, depth, inner], rescaled as ADD."
    outer: int = cfield("int32_t")
    depth: int = cfield("int32_t")
    inner: int = cfield("int32_t")
    exclusive: int = cfield("int32_t", "1: each output is the sum of the elements before it")
    reverse: int = cfield("int32_t", "1: sums run from the end of the axis")
    output_offset: int = cfield("int32_t")
    output_multiplier: int = cfield("int32_t")
    output_shift: int = cfield("int32_t")
    table: str | None = cfield("const int32_t *", "each input rescaled, by its byte (256 "
                                                   "entries); entry 0 starts every sum")


LEFT_SHIFT = 20  # TFLite Micro's kCumSumIntegerShift
CUMSUM_S8 = Kernel("td_cumsum_s8", CumsumS8Params, ("const int8_t *in", "int8_t *out"))
KERNELS = {"float32": Kernel("td_cumsum_f32", CumsumParams, ("const float *in", "float *out")),
           "int32": Kernel("td_cumsum_s32", CumsumParams, ("const int32_t *in", "int32_t *out")),
           "int64": Kernel("td_cumsum_s64", CumsumParams, ("const int64_t *in", "int64_t *out"))}


def _infer(ctx: OpContext) -> list[tuple[int, ...]]:
    constant_axis(ctx, ("int32",))
    return same_shape_as_input(ctx)


def _lower(ctx: OpContext, dtype: str) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    for t in (x, y):
        ctx.require(t.dtype == dtype, f"tensor '{t.name}' is {t.dtype}, the op's type is {dtype}")
    axis = constant_axis(ctx, ("int32",))
    params = CumsumParams(outer=math.prod(x.shape[:axis]), depth=x.shape[axis],
                          inner=math.prod(x.shape[axis + 1:]),
                          exclusive=int(bool(ctx.option("exclusive", False))),
                          reverse=int(bool(ctx.option("reverse", False))))
    # not in place: an exclusive sum writes an element's output before it reads its input
    return Layer(ctx.op, KERNELS[dtype], params, [], [TensorArg(x.index), TensorArg(y.index)],
                 [x.index], [y.index])


def _lower_s8(ctx: OpContext) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    ctx.require_type(("int8",), x, y)
    axis = constant_axis(ctx, ("int32",))
    si, so = float(np.float32(x.scale0)), float(np.float32(y.scale0))
    m_in, s_in = qm.quantize_multiplier(si / (2 * si))
    m_out, s_out = qm.quantize_multiplier(2 * si / ((1 << LEFT_SHIFT) * so))
    ctx.require(s_out <= 0, "output scale too small for TFLite Micro's int8 CUMSUM (its rescale "
                            "needs a multiplier below one)")
    table = qm.add_input_table(x.zp0, LEFT_SHIFT, m_in, s_in)
    params = CumsumS8Params(outer=math.prod(x.shape[:axis]), depth=x.shape[axis],
                            inner=math.prod(x.shape[axis + 1:]),
                            exclusive=int(bool(ctx.option("exclusive", False))),
                            reverse=int(bool(ctx.option("reverse", False))),
                            output_offset=y.zp0, output_multiplier=m_out, output_shift=s_out,
                            table=f"{ctx.name}_table")
    return Layer(ctx.op, CUMSUM_S8, params, [ctx.const("table", "int32_t", table)],
                 [TensorArg(x.index), TensorArg(y.index)], [x.index], [y.index])


def _generate(rng: np.random.Generator, qtype: str) -> GeneratedOp:
    """tf.math.cumsum of a rank 2 to 4 input (batch 1) along any axis, negative ones too, with
    exclusive and reverse drawn; int8 written directly (the converter keeps CUMSUM in float),
    with an output scale a few times the input's."""
    import tensorflow as tf

    from tinydeploy.ops.binary import generated, keras_model
    from tinydeploy.tflite_writer import Op, T, build

    rank = int(rng.integers(1, 4))
    shape = tuple(int(rng.integers(1, 7)) for _ in range(rank))
    axis = int(rng.integers(-rank - 1, rank + 1))
    exclusive, reverse = bool(rng.integers(2)), bool(rng.integers(2))
    if qtype == "int8":
        si = float(np.float32(rng.uniform(0.005, 0.1)))
        so = float(np.float32(si * rng.uniform(1, 2 + (1, *shape)[axis])))
        zi, zo = int(rng.integers(-60, 60)), int(rng.integers(-60, 60))
        tensors = [T((1, *shape), "int8", scale=[si], zero_point=[zi], name="in0"),
                   T((), "int32", data=np.array(axis, np.int32)),
                   T((1, *shape), "int8", scale=[so], zero_point=[zo])]
        op = Op("CUMSUM", [0, 1], [2], "CumsumOptions", {"exclusive": exclusive,
                                                           "reverse": reverse})
        return GeneratedOp(f"cumsum {(1, *shape)} axis={axis} exclusive={exclusive} "
                           f"reverse={reverse} scales {si:.4f}->{so:.4f} int8 (written)",
                           tflite=build(tensors, [op], [0], [2]))
    dtype = qtype if qtype in ("int32", "int64") else "float32"
    model = keras_model([shape], lambda v: tf.math.cumsum(v, axis=axis, exclusive=exclusive,
                                                          reverse=reverse), dtype)
    return generated(f"cumsum {(1, *shape)} axis={axis} exclusive={exclusive} "
                     f"reverse={reverse}", model, qtype, rng)


register(
    OpSpec("CUMSUM", {**{(t, None): (lambda ctx, t=t: _lower(ctx, t)) for t in KERNELS},
                      ("int8", None): _lower_s8},
           inputs=(2, 2), options="CumsumOptions", infer_shape=_infer,
           kernels=(*KERNELS.values(), CUMSUM_S8), generate=_generate),
)
