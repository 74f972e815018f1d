"""L2_NORMALIZATION over the last dimension: int8 in, int8 out with scale 1/128 and zero point 0
(l2_norm_s8.c), and float32 (l2_norm_f32.c). TFLite has no int16 kernel (its L2_NORMALIZATION
takes float32, uint8 and int8; the converter refuses 16x8 models with the op).

int8, as TFLite's reference: the int32 sum of squared (x - zero point) per row, its inverse square
root as a multiplier and shift (GetInvSqrtQuantizedMultiplierExp: five Newton-Raphson steps in
Q3.28), and each output (x - zero point) times that, scaled by 2^7.

float32, as reference_ops::L2Normalization: the sum of squares from 0 in order, sqrtf of it (the
device's libm; IEEE sqrt is exact), at least epsilon = 1e-6, and each value divided by it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydeploy.ops import register
from tinydeploy.ops.log_softmax import RowsParams, rows_layer
from tinydeploy.ops.base import (GeneratedOp, Kernel, Layer, OpContext, OpSpec, Params, TensorArg,
                                 cfield, same_shape_as_input)


@dataclass
class L2NormParams(Params):
    C_NAME = "td_l2_norm_params"
    outer: int = cfield("int32_t", "rows")
    depth: int = cfield("int32_t", "values per row (the last dimension)")
    input_zero_point: int = cfield("int32_t")


L2_NORM = Kernel("td_l2_norm_s8", L2NormParams, ("const int8_t *in", "int8_t *out"))
L2_NORM_F32 = Kernel("td_l2_norm_f32", RowsParams, ("const float *in", "float *out"))


def _lower(ctx: OpContext) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    ctx.require_type(("int8",), x, y)
    ctx.require(y.zp0 == 0 and np.float32(y.scale0) == np.float32(1 / 128),
                "int8 L2 normalization output must have scale 1/128 and zero point 0")
    ctx.require(ctx.activation == "NONE", f"fused activation {ctx.activation} (TFLite takes none)")
    ctx.require(len(x.shape) >= 1 and x.shape[-1] >= 1, f"input shape {list(x.shape)}")
    depth = x.shape[-1]
    ctx.require(depth * 255 * 255 < 2 ** 31, f"rows of {depth} values (the int32 sum of squares)")
    params = L2NormParams(outer=x.size // depth, depth=depth, input_zero_point=x.zp0)
    return Layer(ctx.op, L2_NORM, params, [], [TensorArg(x.index), TensorArg(y.index)],
                 [x.index], [y.index])


def _generate(rng: np.random.Generator, _type: str) -> GeneratedOp:
    import keras
    import tensorflow as tf

    L = keras.layers
    rank = int(rng.integers(2, 5))
    shape = tuple(int(rng.integers(1, 7)) for _ in range(rank - 2)) + (int(rng.integers(1, 40)),)
    x = keras.Input(shape, batch_size=1)
    y = L.Lambda(lambda t: tf.math.l2_normalize(t, axis=-1))(x)
    scale = float(np.exp(rng.uniform(np.log(0.05), np.log(20.0))))
    offset = float(rng.normal(0, scale)) if rng.random() < 0.5 else 0.0
    return GeneratedOp(f"l2_normalization shape={(1, *shape)} input scale~{scale:.2f}",
                       keras.Model(x, y),
                       [rng.normal(offset, scale, (32, *shape)).astype(np.float32)])


def _lower_f32(ctx: OpContext) -> Layer:
    ctx.require(ctx.activation == "NONE", f"fused activation {ctx.activation} (TFLite takes none)")
    return rows_layer(ctx, L2_NORM_F32)


register(OpSpec("L2_NORMALIZATION", {("int8", None): _lower, ("float32", None): _lower_f32},
                inputs=(1, 1), options="L2NormOptions", infer_shape=same_shape_as_input,
                kernels=(L2_NORM, L2_NORM_F32), generate=_generate))
