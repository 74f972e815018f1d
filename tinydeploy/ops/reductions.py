"""REDUCE_MAX, REDUCE_MIN, SUM and REDUCE_PROD over any constant axes (negative ones too), with
or without keep_dims: int8, int16 (16x8 models) and float32 (reduce_max_s8.c, reduce_min_s8.c,
sum_s8.c, reduce_prod_s8.c, their _s16 versions, and reduce_f32.c, which also runs float MEAN).

The geometry is reduced at compile time: dimensions of size 1 are dropped and neighbours that are
both kept or both reduced are merged, which leaves at most three kept and three reduced groups for
up to six dimensions. Outputs are written in order, and each output visits its reduced elements
in the input's row-major order, as TFLite's reference Reduce does (REDUCE_PROD rescales after
every product, and float sums round after every addition, so the order is part of the result).

Arithmetic, as TFLite's reference kernels (reduce.cc, reference/reduce.h):
- REDUCE_MAX and REDUCE_MIN work on the stored values; input and output must share scale and zero
  point, as TFLite checks.
- SUM is TFLite's QuantizedMeanOrSum with compute_sum: the int32 sum less N times the input zero
  point, requantized by input scale / output scale (td_mbqm) plus the output zero point. LiteRT
  2.3's BUILTIN_REF resolver instantiates that template with uint8_t for int8 and int16 tensors
  (it reads the bytes as unsigned and clamps to [0, 255]; of an int16 tensor the first half of
  its bytes, writing one byte of each output); this is the arithmetic TFLite Micro's reference
  computes for both (an int32 sum, requantized and clamped), checked against TFLite Micro.
- REDUCE_PROD is QuantizedReduceProd: the first value less the zero point, then each product with
  the next (value - zero point) rescaled by input_scale / output_scale^(1/N) through the int64
  MultiplyByQuantizedMultiplier (a 16-bit multiplier, one rounding), and that rescale once more at
  the end. int16 needs zero points 0, as TFLite checks.
- float32, as the generic reference Reduce: each output starts from 0 (SUM), 1 (PROD), the lowest
  float (MAX) or the largest (MIN) and takes its values in order (`in + acc`, `in * acc`,
  `in > acc ? in : acc`, `in < acc ? in : acc`: a NaN never wins MAX or MIN), except where
  the axes name every dimension: there TFLite's ReduceAllDims starts from the first value (one
  thread: below 1024 values per thread of the reference's CPU backend). MEAN is the sum from 0
  divided by (float)N.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinydeploy import quantmath as qm
from tinydeploy.ops import register, register_constant
from tinydeploy.ops.base import (GeneratedOp, Kernel, Layer, OpContext, OpSpec, Params, TensorArg,
                                 cfield)
from tinydeploy.ops.reduce import _axes as reduce_axes
from tinydeploy.ops.reduce import _infer as reduce_infer

GROUPS = 3  # kept and reduced dimension groups the kernels loop over


@dataclass
class ReduceParams(Params):
    C_NAME = "td_reduce_params"
    C_DOC = ("REDUCE_MAX, REDUCE_MIN, SUM, REDUCE_PROD: outputs over up to 3 kept dimension "
             "groups, each reducing up to 3 groups, in the input's row-major order (sizes and "
             "strides in input elements).")
    kept: list[int] = cfield("int32_t", count=GROUPS)
    kept_stride: list[int] = cfield("int32_t", count=GROUPS)
    red: list[int] = cfield("int32_t", count=GROUPS)
    red_stride: list[int] = cfield("int32_t", count=GROUPS)
    input_zero_point: int = cfield("int32_t", default=0)
    output_zero_point: int = cfield("int32_t", default=0)
    offset: int = cfield("int32_t", "SUM: -N * input zero point", default=0)
    multiplier: int = cfield("int32_t", "SUM: td_mbqm multiplier; PROD: 16-bit multiplier",
                             default=0)
    shift: int = cfield("int32_t", "SUM: td_mbqm shift; PROD: right shift (15 - shift)",
                        default=0)


@dataclass
class ReduceF32Params(Params):
    C_NAME = "td_reduce_f32_params"
    C_DOC = ("REDUCE_MAX, REDUCE_MIN, SUM, REDUCE_PROD and MEAN on float32: the geometry of "
             "td_reduce_params and the operation (TD_REDUCE_*).")
    kept: list[int] = cfield("int32_t", count=GROUPS)
    kept_stride: list[int] = cfield("int32_t", count=GROUPS)
    red: list[int] = cfield("int32_t", count=GROUPS)
    red_stride: list[int] = cfield("int32_t", count=GROUPS)
    op: int = cfield("int32_t", "TD_REDUCE_*")
    from_first: int = cfield("int32_t", "1: each output starts from its first value, not the "
                                        "operation's identity")


FLOAT_OPS = {"max": 0, "min": 1, "sum": 2, "prod": 3, "mean": 4}
for _name, _code in FLOAT_OPS.items():
    register_constant(f"TD_REDUCE_{_name.upper()}", _code, f"td_reduce_f32_params.op: {_name}")

_ARGS = ("const int8_t *in", "int8_t *out")
REDUCE_MAX = Kernel("td_reduce_max_s8", ReduceParams, _ARGS)
REDUCE_MIN = Kernel("td_reduce_min_s8", ReduceParams, _ARGS)
SUM = Kernel("td_sum_s8", ReduceParams, _ARGS)
REDUCE_PROD = Kernel("td_reduce_prod_s8", ReduceParams, _ARGS)
_ARGS16 = ("const int16_t *in", "int16_t *out")
REDUCE_MAX_S16 = Kernel("td_reduce_max_s16", ReduceParams, _ARGS16)
REDUCE_MIN_S16 = Kernel("td_reduce_min_s16", ReduceParams, _ARGS16)
SUM_S16 = Kernel("td_sum_s16", ReduceParams, _ARGS16)
REDUCE_PROD_S16 = Kernel("td_reduce_prod_s16", ReduceParams, _ARGS16)
REDUCE_F32 = Kernel("td_reduce_f32", ReduceF32Params, ("const float *in", "float *out"))
_KERNELS = {"max": (REDUCE_MAX, REDUCE_MAX_S16), "min": (REDUCE_MIN, REDUCE_MIN_S16),
            "sum": (SUM, SUM_S16), "prod": (REDUCE_PROD, REDUCE_PROD_S16)}


def reduce_geometry(ctx: OpContext, shape: tuple[int, ...], axes: list[int]
                    ) -> dict[str, list[int]]:
    """Kept and reduced dimension groups (sizes and strides), padded in front with size 1."""
    dims = [(d, i in axes) for i, d in enumerate(shape) if d != 1]
    groups: list[list] = []
    for d, reduced in dims:
        if groups and groups[-1][1] == reduced:
            groups[-1][0] *= d
        else:
            groups.append([d, reduced])
    strides, acc = [0] * len(groups), 1
    for i in range(len(groups) - 1, -1, -1):
        strides[i] = acc
        acc *= groups[i][0]
    kept = [(g[0], s) for g, s in zip(groups, strides) if not g[1]]
    red = [(g[0], s) for g, s in zip(groups, strides) if g[1]]
    ctx.require(len(kept) <= GROUPS and len(red) <= GROUPS,
                f"reducing axes {axes} of shape {list(shape)} alternates more than {GROUPS} times "
                "between kept and reduced dimensions")
    kept = [(1, 0)] * (GROUPS - len(kept)) + kept
    red = [(1, 0)] * (GROUPS - len(red)) + red
    return dict(kept=[n for n, _ in kept], kept_stride=[s for _, s in kept],
                red=[n for n, _ in red], red_stride=[s for _, s in red])


def _lower(ctx: OpContext, kind: str, dtype: str) -> Layer:
    """int8 or int16 (TFLite's int16 reduce kernels are its int8 ones on wider values)."""
    x, y = ctx.input(0), ctx.output(0)
    ctx.require_type((dtype,), x, y)
    ctx.require(x.size >= 1, f"input shape {list(x.shape)} is empty")
    axes = reduce_axes(ctx)
    geo = reduce_geometry(ctx, x.shape, axes)
    count = x.size // max(y.size, 1)
    fields: dict[str, int] = {}
    if dtype == "int16" and kind == "prod":
        ctx.require(x.zp0 == 0 and y.zp0 == 0,
                    "int16 REDUCE_PROD needs zero points 0 (TFLite checks)")
    if kind in ("max", "min"):
        ctx.require_same_quantization(x, y, f"{dtype} {ctx.op.opcode}")
    elif kind == "sum":
        m, s = qm.quantize_multiplier(float(np.float32(x.scale0)) / float(np.float32(y.scale0)))
        if dtype == "int8":
            ctx.require(count < 2 ** 23, f"a sum of {count} values (the int32 sum holds 2^23)")
        else:  # |sum - N zp| <= 2^16 N, shifted left inside td_mbqm where the shift is positive
            ctx.require(count << (16 + max(s, 0)) < 2 ** 31,
                        f"a sum of {count} values with shift {s} (the int32 sum overflows)")
        fields = dict(offset=-count * x.zp0, multiplier=m, shift=s)
    else:
        # TFLite's GetQuantProdScaling, in double: input_scale / output_scale^(1/N)
        scaling = float(np.float32(x.scale0)) / math.pow(float(np.float32(y.scale0)), 1.0 / count)
        m, s = qm.quantize_multiplier(scaling)
        ctx.require(-31 <= s < 8, f"product rescale {scaling:.3g} needs shift {s}; TFLite's int64 "
                                  "requantization takes -31..7")
        reduced = (m + (1 << 15)) >> 16 if m < 0x7FFF0000 else 0x7FFF
        fields = dict(multiplier=reduced, shift=15 - s)
    params = ReduceParams(**geo, input_zero_point=x.zp0,  # type: ignore[arg-type]
                          output_zero_point=y.zp0, **fields)
    kernel = _KERNELS[kind][0 if dtype == "int8" else 1]
    return Layer(ctx.op, kernel, params, [], [TensorArg(x.index), TensorArg(y.index)], [x.index],
                 [y.index])


def lower_f32(ctx: OpContext, kind: str) -> Layer:
    """float32 REDUCE_MAX, REDUCE_MIN, SUM, REDUCE_PROD and MEAN (MEAN's lowering calls this)."""
    x, y = ctx.input(0), ctx.output(0)
    ctx.require_type(("float32",), x, y)
    ctx.require(x.size >= 1, f"input shape {list(x.shape)} is empty")
    axes = reduce_axes(ctx)
    geo = reduce_geometry(ctx, x.shape, axes)
    # TFLite's ReduceAllDims, taken where the axes name every dimension (size-1 ones included),
    # starts from the first value: a -0.0 sum stays -0.0, an all -inf maximum is -inf, and a
    # NaN first value wins MAX and MIN. MEAN always sums from 0.
    from_first = int(kind != "mean" and len(axes) == len(x.shape))
    params = ReduceF32Params(**geo, op=FLOAT_OPS[kind],  # type: ignore[arg-type]
                             from_first=from_first)
    return Layer(ctx.op, REDUCE_F32, params, [], [TensorArg(x.index), TensorArg(y.index)],
                 [x.index], [y.index])


def random_axes(rng: np.random.Generator, rank: int) -> list[int]:
    """A non-empty random subset of the axes of a rank, some written negative."""
    k = int(rng.integers(1, rank + 1))
    axes = sorted(int(a) for a in rng.choice(rank, size=k, replace=False))
    return [a - rank if rng.random() < 0.5 else a for a in axes]


def _generate(rng: np.random.Generator, kind: str) -> GeneratedOp:
    import keras
    import tensorflow as tf

    L = keras.layers
    rank = int(rng.integers(2, 5))  # batch dimension included
    high = 5 if kind == "prod" else 8
    shape = tuple(int(rng.integers(1, high)) for _ in range(rank - 1))
    if max(shape) == 1:
        shape = shape[:-1] + (2,)
    axes = random_axes(rng, rank)
    while all(((1,) + shape)[a] == 1 for a in axes):  # else the converter drops the op
        axes = random_axes(rng, rank)
    keep = bool(rng.integers(2))
    fn = {"max": tf.reduce_max, "min": tf.reduce_min, "sum": tf.reduce_sum,
          "prod": tf.reduce_prod}[kind]
    x = keras.Input(shape, batch_size=1)
    y = L.Lambda(lambda t: fn(t, axis=axes, keepdims=keep))(x)
    scale = float(rng.uniform(0.5, 4.0)) if kind != "prod" else float(rng.uniform(0.5, 1.5))
    return GeneratedOp(f"reduce_{kind} shape={(1, *shape)} axes={axes} keep={keep}",
                       keras.Model(x, y), [rng.normal(0, scale, (32, *shape)).astype(np.float32)])


def _spec(opcode: str, kind: str) -> OpSpec:
    return OpSpec(opcode, {("int8", None): lambda ctx: _lower(ctx, kind, "int8"),
                           ("int16", None): lambda ctx: _lower(ctx, kind, "int16"),
                           ("float32", None): lambda ctx: lower_f32(ctx, kind)},
                  inputs=(2, 2), options="ReducerOptions", infer_shape=reduce_infer,
                  kernels=(*_KERNELS[kind], REDUCE_F32),
                  generate=lambda rng, t: _generate(rng, kind))


register(_spec("REDUCE_MAX", "max"), _spec("REDUCE_MIN", "min"), _spec("SUM", "sum"),
         _spec("REDUCE_PROD", "prod"))
