"""LOG_SOFTMAX over the last dimension: int8 in, int8 out with scale 16/256 and zero point 127
(log_softmax_s8.c), and float32 (log_softmax_f32.c). TFLite has no int16 kernel (its LOG_SOFTMAX
takes float32, uint8 and int8; the converter refuses 16x8 models with the op).

int8, TFLite's reference fixed point: the differences to the row maximum are scaled to Q5.26,
their exps summed in Q12.19, the log of the sum taken in Q5.26 (gemmlowp's
log_x_for_x_greater_than_or_equal_to_1), and each output is (difference - log sum) rounded to
Q4.3 plus 127. Differences below a bound (diff_min, or what the log sum pushes out of range)
give -128. The constants are PreprocessLogSoftmaxScalingExp's, computed here.

float32, as reference_ops::LogSoftmax: the row maximum, the sum from 0 of exp(x - max) (expf of
the device's libm), its logf, and each output (x - max) - log sum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydeploy import quantmath as qm
from tinydeploy.ops import register
from tinydeploy.ops.base import (GeneratedOp, Kernel, Layer, OpContext, OpSpec, Params, TensorArg,
                                 cfield, same_shape_as_input)


@dataclass
class LogSoftmaxParams(Params):
    C_NAME = "td_log_softmax_params"
    outer: int = cfield("int32_t", "rows")
    depth: int = cfield("int32_t", "values per row (the last dimension)")
    input_multiplier: int = cfield("int32_t")
    input_left_shift: int = cfield("int32_t")
    reverse_multiplier: int = cfield("int32_t", "Q5.26 back to input units (the log sum's bound)")
    reverse_shift: int = cfield("int32_t", "td_mbqm shift, <= 0")
    diff_min: int = cfield("int32_t")


@dataclass
class RowsParams(Params):
    C_NAME = "td_rows_params"
    C_DOC = "A row-wise float32 kernel's geometry: rows of the last dimension."
    outer: int = cfield("int32_t", "rows")
    depth: int = cfield("int32_t", "values per row (the last dimension)")


LOG_SOFTMAX = Kernel("td_log_softmax_s8", LogSoftmaxParams, ("const int8_t *in", "int8_t *out"))
LOG_SOFTMAX_F32 = Kernel("td_log_softmax_f32", RowsParams, ("const float *in", "float *out"))


def _lower(ctx: OpContext) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    ctx.require_type(("int8",), x, y)
    ctx.require(y.zp0 == 127 and np.float32(y.scale0) == np.float32(16 / 256),
                "int8 log softmax output must have scale 16/256 and zero point 127")
    ctx.require(len(x.shape) >= 1 and x.shape[-1] >= 1, f"input shape {list(x.shape)}")
    mult, left, diff_min = qm.softmax_params(1.0, x.scale0)
    ctx.require(left >= 1, "log softmax input scale is too large for TFLite's int8 kernel "
                           "(its reverse scaling needs a left shift of at least 1)")
    reverse = (1 << (31 - left)) / float(mult)
    ctx.require(0.0 < reverse < 1.0, f"log softmax reverse scaling {reverse:.3g} is not in (0, 1)")
    rev_mult, rev_shift = qm.quantize_multiplier(reverse)
    depth = x.shape[-1]
    params = LogSoftmaxParams(outer=x.size // depth, depth=depth, input_multiplier=mult,
                              input_left_shift=left, reverse_multiplier=rev_mult,
                              reverse_shift=rev_shift, diff_min=diff_min)
    return Layer(ctx.op, LOG_SOFTMAX, params, [], [TensorArg(x.index), TensorArg(y.index)],
                 [x.index], [y.index])


def rows_layer(ctx: OpContext, kernel: Kernel) -> Layer:
    """A float32 kernel over the rows of the last dimension (LOG_SOFTMAX, L2_NORMALIZATION)."""
    x, y = ctx.input(0), ctx.output(0)
    ctx.require_type(("float32",), x, y)
    ctx.require(len(x.shape) >= 1 and x.shape[-1] >= 1, f"input shape {list(x.shape)}")
    depth = x.shape[-1]
    return Layer(ctx.op, kernel, RowsParams(outer=x.size // depth, depth=depth), [],
                 [TensorArg(x.index), TensorArg(y.index)], [x.index], [y.index])


def _generate(rng: np.random.Generator, _type: str) -> GeneratedOp:
    import keras
    import tensorflow as tf

    L = keras.layers
    rank = int(rng.integers(2, 5))
    shape = tuple(int(rng.integers(1, 9)) for _ in range(rank - 2)) + (int(rng.integers(1, 40)),)
    x = keras.Input(shape, batch_size=1)
    y = L.Lambda(lambda t: tf.nn.log_softmax(t, axis=-1))(x)
    scale = float(np.exp(rng.uniform(np.log(0.2), np.log(30.0))))
    return GeneratedOp(f"log_softmax shape={(1, *shape)} input scale~{scale:.2f}",
                       keras.Model(x, y), [rng.normal(0, scale, (32, *shape)).astype(np.float32)])


register(OpSpec("LOG_SOFTMAX", {("int8", None): _lower,
                                ("float32", None): lambda ctx: rows_layer(ctx, LOG_SOFTMAX_F32)},
                inputs=(1, 1), options="LogSoftmaxOptions", infer_shape=same_shape_as_input,
                kernels=(LOG_SOFTMAX, LOG_SOFTMAX_F32), generate=_generate))
