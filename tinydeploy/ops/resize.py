"""RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR, int8, int16 (16x8 models) and float32, NHWC,
with align_corners and half_pixel_centers (resize_nearest_*.c, resize_bilinear_*.c).

Where each output row and column reads from depends only on the sizes and the two flags, so it is
computed here once, exactly as TFLite's reference kernels compute it, and the kernels read tables:
- nearest (every type): GetNearestNeighbor's float32 arithmetic (scale, + 0.5 for half pixel
  centres, round half away from zero with align_corners, else floor; clamped to the input), one
  source index per output row and column;
- bilinear, int8 and int16: ResizeBilinearInteger's 10-bit fixed point (scale rounded to 1/1024,
  half pixel centres as + scale/2 - 512, C's truncating division), per output row and column its
  two source indices and the fraction (in 1/1024) towards the second. The kernels weigh the four
  values in 20 bits and round half away from zero, as the reference does (int16 in int64);
- bilinear, float32: ResizeBilinear's float arithmetic (scale = in / out or (in - 1) / (out - 1)
  in float32, (i + 0.5) * scale - 0.5 for half pixel centres, floor and ceil clamped to the
  input), per output row and column its two source indices and the weights 1 - d and d in
  float32; the kernel sums v00 (1 - dy)(1 - dx) + v10 dy (1 - dx) + v01 (1 - dy) dx + v11 dy dx
  in that order.
Neither integer kernel requantizes: TFLite's reference copies and interpolates the stored values
whatever the two tensors' quantization (the converter gives them the same).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinydeploy.ops import register
from tinydeploy.ops.base import (GeneratedOp, Kernel, Layer, OpContext, OpSpec, Params,
                                 TensorArg, cfield)


@dataclass
class ResizeParams(Params):
    C_NAME = "td_resize_params"
    C_DOC = ("RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR, NHWC: source rows and columns per "
             "output row and column, precomputed.")
    batches: int = cfield("int32_t")
    in_h: int = cfield("int32_t")
    in_w: int = cfield("int32_t")
    c: int = cfield("int32_t")
    out_h: int = cfield("int32_t")
    out_w: int = cfield("int32_t")
    rows: str | None = cfield("const int32_t *", "nearest: out_h source rows; bilinear: out_h "
                                                 "{y0, y1, fraction in 1/1024}")
    cols: str | None = cfield("const int32_t *", "the same per output column")


@dataclass
class ResizeF32Params(Params):
    C_NAME = "td_resize_f32_params"
    C_DOC = ("RESIZE_BILINEAR on float32, NHWC: per output row and column the two source indices "
             "and their two weights, precomputed.")
    batches: int = cfield("int32_t")
    in_h: int = cfield("int32_t")
    in_w: int = cfield("int32_t")
    c: int = cfield("int32_t")
    out_h: int = cfield("int32_t")
    out_w: int = cfield("int32_t")
    rows: str | None = cfield("const int32_t *", "out_h {y0, y1}")
    cols: str | None = cfield("const int32_t *", "out_w {x0, x1}")
    row_weights: str | None = cfield("const float *", "out_h {1 - dy, dy}")
    col_weights: str | None = cfield("const float *", "out_w {1 - dx, dx}")


_ARGS = ("const int8_t *in", "int8_t *out")
NEAREST = Kernel("td_resize_nearest_s8", ResizeParams, _ARGS)
BILINEAR = Kernel("td_resize_bilinear_s8", ResizeParams, _ARGS)
_ARGS16 = ("const int16_t *in", "int16_t *out")
NEAREST_S16 = Kernel("td_resize_nearest_s16", ResizeParams, _ARGS16)
BILINEAR_S16 = Kernel("td_resize_bilinear_s16", ResizeParams, _ARGS16)
NEAREST_F32 = Kernel("td_resize_nearest_f32", ResizeParams, ("const float *in", "float *out"))
BILINEAR_F32 = Kernel("td_resize_bilinear_f32", ResizeF32Params,
                      ("const float *in", "float *out"))
_KERNELS = {False: {"int8": NEAREST, "int16": NEAREST_S16, "float32": NEAREST_F32},
            True: {"int8": BILINEAR, "int16": BILINEAR_S16, "float32": BILINEAR_F32}}


def _size(ctx: OpContext) -> tuple[int, int]:
    s = ctx.input(1)
    ctx.require(s.dtype == "int32", f"size is {s.dtype}, int32 is required")
    values = ctx.constant(1, "size").reshape(-1)
    ctx.require(values.size == 2, f"size has {values.size} values, 2 are required")
    h, w = int(values[0]), int(values[1])
    ctx.require(h > 0 and w > 0, f"size {[h, w]} must be positive")
    return h, w


def _infer(ctx: OpContext) -> list[tuple[int, ...]]:
    x = ctx.input(0)
    ctx.require(len(x.shape) == 4, f"input has shape {list(x.shape)}, 4-D NHWC is required")
    h, w = _size(ctx)
    return [(x.shape[0], h, w, x.shape[3])]


def nearest_index(out_size: int, in_size: int, align: bool, half: bool) -> list[int]:
    """TFLite's GetNearestNeighbor for every output index, in float32 as the reference does."""
    f32 = np.float32
    if align and out_size > 1:
        scale = f32(in_size - 1) / f32(out_size - 1)
    else:
        scale = f32(in_size) / f32(out_size)
    offset = f32(0.5 if half else 0.0)
    out = []
    for i in range(out_size):
        v = float((f32(i) + offset) * scale)
        src = math.floor(abs(v) + 0.5) * (1 if v >= 0 else -1) if align else math.floor(v)
        src = min(int(src), in_size - 1)
        out.append(max(0, src) if half else src)
    return out


def bilinear_index(out_size: int, in_size: int, align: bool, half: bool) -> list[int]:
    """ResizeBilinearInteger's {lower, upper, fraction in 1/1024} for every output index."""
    def cdiv(a: int, b: int) -> int:  # C's division, truncating toward zero
        q = abs(a) // abs(b)
        return q if (a >= 0) == (b >= 0) else -q

    if align and out_size > 1:
        scale = cdiv((1 << 10) * (in_size - 1) + (out_size - 1) // 2, out_size - 1)
    else:
        scale = cdiv((1 << 10) * in_size + out_size // 2, out_size)
    out = []
    for i in range(out_size):
        v = i * scale + scale // 2 - (1 << 9) if half else i * scale
        lo = max(cdiv(v, 1 << 10), 0)
        hi = min(cdiv(v + (1 << 10) - 1, 1 << 10), in_size - 1)
        out += [lo, hi, v - (1 << 10) * lo]
    return out


def bilinear_float_index(out_size: int, in_size: int, align: bool, half: bool
                         ) -> tuple[list[int], list[float]]:
    """ResizeBilinear's (ComputeInterpolationValues) {lower, upper} and {1 - d, d} for every
    output index, in float32 as the reference computes them."""
    f32 = np.float32
    if align and out_size > 1:
        scale = f32(in_size - 1) / f32(out_size - 1)
    else:
        scale = f32(in_size) / f32(out_size)
    index: list[int] = []
    weights: list[float] = []
    for i in range(out_size):
        v = (f32(i) + f32(0.5)) * scale - f32(0.5) if half else f32(i) * scale
        lo = max(int(math.floor(v)), 0)
        hi = min(int(math.ceil(v)), in_size - 1)
        d = f32(v - f32(lo))
        index += [lo, hi]
        weights += [float(f32(1) - d), float(d)]
    return index, weights


def _lower(ctx: OpContext, bilinear: bool, dtype: str = "int8") -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    ctx.require_type((dtype,), x, y)
    align = bool(ctx.option("align_corners", False))
    half = bool(ctx.option("half_pixel_centers", False))
    ctx.require(not (align and half), "align_corners and half_pixel_centers are both set")
    n, in_h, in_w, c = x.shape
    out_h, out_w = _size(ctx)
    if bilinear and dtype == "float32":
        return _lower_bilinear_f32(ctx, align, half)
    index = bilinear_index if bilinear else nearest_index
    rows, cols = index(out_h, in_h, align, half), index(out_w, in_w, align, half)
    sources = (rows[0::3] + rows[1::3], cols[0::3] + cols[1::3]) if bilinear else (rows, cols)
    ctx.require(all(0 <= i < in_h for i in sources[0]) and all(0 <= i < in_w for i in sources[1]),
                f"resize {in_h}x{in_w} -> {out_h}x{out_w} reads outside the input (TFLite's "
                "reference would too)")
    if bilinear:
        # the weights 1024 - f and f stay within 2^11, so the four 20-bit products of int8
        # values sum inside int32 (int16 ones inside the int64 its kernel uses)
        ctx.require(all(-(1 << 10) <= f <= (1 << 10) for f in rows[2::3] + cols[2::3]),
                    f"resize {in_h}x{in_w} -> {out_h}x{out_w} needs fractions outside one pixel")
    params = ResizeParams(batches=n, in_h=in_h, in_w=in_w, c=c, out_h=out_h, out_w=out_w,
                          rows=f"{ctx.name}_rows", cols=f"{ctx.name}_cols")
    consts = [ctx.const("rows", "int32_t", np.array(rows, np.int64)),
              ctx.const("cols", "int32_t", np.array(cols, np.int64))]
    return Layer(ctx.op, _KERNELS[bilinear][dtype], params, consts,
                 [TensorArg(x.index), TensorArg(y.index)], [x.index], [y.index])


def _lower_bilinear_f32(ctx: OpContext, align: bool, half: bool) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    n, in_h, in_w, c = x.shape
    out_h, out_w = _size(ctx)
    rows, row_w = bilinear_float_index(out_h, in_h, align, half)
    cols, col_w = bilinear_float_index(out_w, in_w, align, half)
    ctx.require(all(0 <= i < in_h for i in rows) and all(0 <= i < in_w for i in cols),
                f"resize {in_h}x{in_w} -> {out_h}x{out_w} reads outside the input (TFLite's "
                "reference would too)")
    params = ResizeF32Params(batches=n, in_h=in_h, in_w=in_w, c=c, out_h=out_h, out_w=out_w,
                             rows=f"{ctx.name}_rows", cols=f"{ctx.name}_cols",
                             row_weights=f"{ctx.name}_row_w", col_weights=f"{ctx.name}_col_w")
    consts = [ctx.const("rows", "int32_t", np.array(rows, np.int64)),
              ctx.const("cols", "int32_t", np.array(cols, np.int64)),
              ctx.const("row_w", "float", np.array(row_w, np.float32)),
              ctx.const("col_w", "float", np.array(col_w, np.float32))]
    return Layer(ctx.op, BILINEAR_F32, params, consts,
                 [TensorArg(x.index), TensorArg(y.index)], [x.index], [y.index])


def _generate(rng: np.random.Generator, bilinear: bool) -> GeneratedOp:
    import keras
    import tensorflow as tf

    L = keras.layers
    h, w, c = int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 5))
    size = [int(rng.integers(1, 13)), int(rng.integers(1, 13))]
    mode = ["v2", "plain", "align", "half"][int(rng.integers(4))]
    v1 = tf.compat.v1.image

    def fn(t):  # type: ignore[no-untyped-def]
        if mode == "v2":  # TensorFlow 2's resize: half pixel centres
            return tf.image.resize(t, size, method="bilinear" if bilinear else "nearest")
        v1_fn = v1.resize_bilinear if bilinear else v1.resize_nearest_neighbor
        return v1_fn(t, size, align_corners=mode == "align", half_pixel_centers=mode == "half")

    x = keras.Input((h, w, c), batch_size=1)
    y = L.Lambda(fn, output_shape=(*size, c))(x)
    scale = float(rng.uniform(0.5, 4.0))
    return GeneratedOp(f"resize_{'bilinear' if bilinear else 'nearest'} hwc={(h, w, c)} "
                       f"size={size} mode={mode}", keras.Model(x, y),
                       [rng.normal(0, scale, (32, h, w, c)).astype(np.float32)])


_OPTIONS = {False: "ResizeNearestNeighborOptions", True: "ResizeBilinearOptions"}
register(*(OpSpec(op, {(t, None): lambda ctx, b=b, t=t: _lower(ctx, b, t)
                       for t in ("int8", "int16", "float32")},
                  inputs=(2, 2), options=_OPTIONS[b], infer_shape=_infer,
                  kernels=tuple(_KERNELS[b].values()),
                  generate=lambda rng, t, b=b: _generate(rng, b))
           for op, b in (("RESIZE_NEAREST_NEIGHBOR", False), ("RESIZE_BILINEAR", True))))
