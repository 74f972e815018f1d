"""BATCH_MATMUL, int8 x int8 -> int8, int16 x int16 -> int16 and float32, ranks 2 to 5 with
broadcast batch dimensions, adj_x and adj_y, either operand an activation or a constant
(batch_matmul_s8.c, batch_matmul_s16.c, batch_matmul_f32.c).

As TFLite's reference (batch_matmul.cc, EvalInt8Int8): each output is the int32 sum over the
shared dimension of (lhs - lhs zero point) * (rhs - rhs zero point), requantized by
lhs scale * rhs scale (a float32 product, as GetQuantizedConvolutionMultipler computes it) /
output scale with td_mbqm, plus the output zero point, clamped to int8 (no fused activation).
TFLite transposes operands into temporaries to feed its GEMM; the kernel reads them in place
through strides instead, which sums the same products.

int16 (the converter's 16x8 mode quantizes both operands to int16, zero points 0): int64 sums,
requantized with the int64 MultiplyByQuantizedMultiplier, clamped to int16 (EvalInt16). float32:
each output the products summed in order. The key includes the right operand's type, so a float
left operand against int8 weights (dynamic range) is refused with the hybrid message.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydeploy import quantmath as qm
from tinydeploy.ops import register, wide
from tinydeploy.ops.base import (ConstArg, GeneratedOp, Kernel, Layer, OpContext, OpSpec, Params,
                                 TensorArg, Tensor, cfield)


@dataclass
class BatchMatMulParams(Params):
    C_NAME = "td_batch_matmul_params"
    C_DOC = ("BATCH_MATMUL: out[b] = lhs[b] (rows x depth) times rhs[b] (depth x cols); batch "
             "strides are 0 along broadcast dimensions, element strides encode adj_x and adj_y.")
    batch: list[int] = cfield("int32_t", count=3)
    lhs_batch_stride: list[int] = cfield("int32_t", count=3)
    rhs_batch_stride: list[int] = cfield("int32_t", count=3)
    rows: int = cfield("int32_t")
    cols: int = cfield("int32_t")
    depth: int = cfield("int32_t")
    lhs_row_stride: int = cfield("int32_t")
    lhs_depth_stride: int = cfield("int32_t")
    rhs_depth_stride: int = cfield("int32_t")
    rhs_col_stride: int = cfield("int32_t")
    lhs_offset: int = cfield("int32_t")
    rhs_offset: int = cfield("int32_t")
    output_offset: int = cfield("int32_t")
    multiplier: int = cfield("int32_t")
    shift: int = cfield("int32_t")


BATCH_MATMUL = Kernel("td_batch_matmul_s8", BatchMatMulParams,
                      ("const int8_t *lhs", "const int8_t *rhs", "int8_t *out"))
BATCH_MATMUL_S16 = Kernel("td_batch_matmul_s16", BatchMatMulParams,
                          ("const int16_t *lhs", "const int16_t *rhs", "int16_t *out"))
BATCH_MATMUL_F32 = Kernel("td_batch_matmul_f32", BatchMatMulParams,
                          ("const float *lhs", "const float *rhs", "float *out"))


def _shapes(ctx: OpContext) -> tuple[list[int], list[int], bool, bool]:
    a, b = ctx.input(0), ctx.input(1)
    for t in (a, b):
        ctx.require(2 <= len(t.shape) <= 5, f"tensor '{t.name}' has rank {len(t.shape)}, "
                                            "2 to 5 is required")
    rank = max(len(a.shape), len(b.shape))
    sa = [1] * (rank - len(a.shape)) + list(a.shape)
    sb = [1] * (rank - len(b.shape)) + list(b.shape)
    return sa, sb, bool(ctx.option("adj_x", False)), bool(ctx.option("adj_y", False))


def _infer(ctx: OpContext) -> list[tuple[int, ...]]:
    sa, sb, adj_x, adj_y = _shapes(ctx)
    out = []
    for x, y in zip(sa[:-2], sb[:-2]):
        ctx.require(x == y or x == 1 or y == 1, f"batch dimensions {sa[:-2]} and {sb[:-2]} do "
                                                "not broadcast")
        out.append(y if x == 1 else x)
    depth_a = sa[-2] if adj_x else sa[-1]
    depth_b = sb[-1] if adj_y else sb[-2]
    ctx.require(depth_a == depth_b, f"shapes {sa} and {sb} (adj_x {adj_x}, adj_y {adj_y}) do not "
                                    "multiply")
    return [tuple(out + [sa[-1] if adj_x else sa[-2], sb[-2] if adj_y else sb[-1]])]


def _batch_strides(shape: list[int]) -> list[int]:
    """Element strides of an operand's batch dimensions (0 where broadcast), extended to 3."""
    strides, acc = [0] * len(shape), shape[-1] * shape[-2]
    for i in range(len(shape) - 3, -1, -1):
        strides[i] = acc if shape[i] != 1 else 0
        acc *= shape[i]
    batch = strides[:-2]
    return [0] * (3 - len(batch)) + batch


def _operand(ctx: OpContext, t: Tensor, suffix: str, consts: list) -> TensorArg | ConstArg:
    if t.is_constant:
        ctype = {"int8": "int8_t", "int16": "int16_t", "float32": "float"}[t.dtype]
        values = t.array().reshape(-1)
        consts.append(ctx.const(suffix, ctype, values.astype(np.float32 if ctype == "float"
                                                             else np.int64)))
        return ConstArg(f"{ctx.name}_{suffix}")
    return TensorArg(t.index)


def _lower(ctx: OpContext) -> Layer:
    a, b, y = ctx.input(0), ctx.input(1), ctx.output(0)
    dtype = a.dtype
    ctx.require_type((dtype,), a, b, y)
    if dtype != "float32":
        for t in (a, b):
            ctx.require(len(t.scale) == 1, f"tensor '{t.name}' has {len(t.scale)} scales; "
                                           "BATCH_MATMUL takes one per tensor")
    if dtype == "int16":
        wide.require_symmetric(ctx, a, b, y)
    ctx.require(y.size >= 1, "empty output")
    sa, sb, adj_x, adj_y = _shapes(ctx)
    ctx.require(len(y.shape) <= 5, f"output rank {len(y.shape)}")
    out_batch = [1] * (3 - (len(y.shape) - 2)) + list(y.shape[:-2])
    rows, cols = y.shape[-2], y.shape[-1]
    depth = sa[-2] if adj_x else sa[-1]
    m = s = 0
    if dtype != "float32":
        product = float(np.float32(np.float32(a.scale0) * np.float32(b.scale0)))
        m, s = qm.quantize_multiplier(product / float(np.float32(y.scale0)))
    if dtype == "int8":
        ctx.require(depth < 2 ** 15, f"a shared dimension of {depth} (int32 sums hold 2^15 "
                                     "products)")
    if dtype == "int16":
        ctx.require(depth < 2 ** 16, f"a shared dimension of {depth} (the reference's int64 "
                                     "requantization takes sums below 2^47)")
        wide.wide_multipliers(ctx, [m], [s])
    params = BatchMatMulParams(
        batch=out_batch, lhs_batch_stride=_batch_strides(sa),
        rhs_batch_stride=_batch_strides(sb), rows=rows, cols=cols, depth=depth,
        lhs_row_stride=1 if adj_x else depth, lhs_depth_stride=rows if adj_x else 1,
        rhs_depth_stride=1 if adj_y else cols, rhs_col_stride=depth if adj_y else 1,
        lhs_offset=-a.zp0, rhs_offset=-b.zp0, output_offset=y.zp0, multiplier=m, shift=s)
    consts: list = []
    args = [_operand(ctx, a, "lhs", consts), _operand(ctx, b, "rhs", consts), TensorArg(y.index)]
    reads = [t.index for t in (a, b) if not t.is_constant]
    kernel = {"int8": BATCH_MATMUL, "int16": BATCH_MATMUL_S16, "float32": BATCH_MATMUL_F32}[dtype]
    return Layer(ctx.op, kernel, params, consts, args, reads, [y.index], macs=y.size * depth)


def _generate(rng: np.random.Generator, _type: str) -> GeneratedOp:
    import keras
    import tensorflow as tf

    L = keras.layers
    m, k, n = (int(rng.integers(1, 7)) for _ in range(3))
    adj_x, adj_y = bool(rng.integers(2)), bool(rng.integers(2))
    # batch dimensions after Keras' batch of 1: none, equal, or broadcast against each other
    kind = ["none", "same", "broadcast"][int(rng.integers(3))]
    bx: tuple[int, ...] = ()
    by: tuple[int, ...] = ()
    if kind == "same":
        bx = by = (int(rng.integers(2, 4)),)
    elif kind == "broadcast":
        bx, by = (int(rng.integers(2, 4)), 1), (int(rng.integers(2, 4)),)
    constant = rng.random() < 0.4
    sx = bx + ((k, m) if adj_x else (m, k))
    sy = by + ((n, k) if adj_y else (k, n))
    scale = float(rng.uniform(0.5, 4.0))
    xin = keras.Input(sx, batch_size=1, name="in0")
    if constant:  # batch dimensions keep the converter from making it a FULLY_CONNECTED
        sy = (by or (2,)) + sy[len(by):]
        rhs = tf.constant(rng.normal(0, 1, sy).astype(np.float32))
        out = L.Lambda(lambda t: tf.matmul(t, rhs, adjoint_a=adj_x, adjoint_b=adj_y))(xin)
        inputs, reps = xin, [rng.normal(0, scale, (32, *sx)).astype(np.float32)]
    else:
        yin = keras.Input(sy, batch_size=1, name="in1")
        out = L.Lambda(lambda ts: tf.matmul(ts[0], ts[1], adjoint_a=adj_x, adjoint_b=adj_y))(
            [xin, yin])
        inputs = [xin, yin]
        reps = [rng.normal(0, scale, (32, *s)).astype(np.float32) for s in (sx, sy)]
    return GeneratedOp(f"batch_matmul lhs={(1, *sx)} rhs={sy if constant else (1, *sy)} "
                       f"adj=({adj_x}, {adj_y}) constant_rhs={constant}",
                       keras.Model(inputs, out), reps)


register(OpSpec("BATCH_MATMUL", {("int8", "int8"): _lower, ("int16", "int16"): _lower,
                                  ("float32", "float32"): _lower},
                inputs=(2, 2), options="BatchMatMulOptions", weights=1, infer_shape=_infer,
                kernels=(BATCH_MATMUL, BATCH_MATMUL_S16, BATCH_MATMUL_F32), generate=_generate))
