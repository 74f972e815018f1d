"""DEPTH_TO_SPACE, SPACE_TO_DEPTH and BATCH_TO_SPACE_ND, any type, as remap tables (remap.c):
their index arithmetic splits into one term per output axis. SPACE_TO_BATCH_ND pads as it
rearranges (a padded position depends on two output axes at once), so it has its own kernel
(space_to_batch.c); its padding is the output's zero point for 8- and 16-bit types and 0 otherwise,
as LiteRT pads.

3-D inputs of the batch/space pair are [batch, space, channels]: one spatial axis, as TFLite
handles them (4-D with a width of 1)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydeploy.ops import register
from tinydeploy.ops.base import (GeneratedOp, Kernel, Layer, OpContext, OpSpec, Params, TensorArg,
                                 cfield)
from tinydeploy.ops.movegen import lambda_model
from tinydeploy.ops.remap import BYTE_TYPES, REMAP, remap_layer, row_major_strides
from tinydeploy.qtype import qtype


@dataclass
class SpaceToBatchParams(Params):
    C_NAME = "td_space_to_batch_params"
    C_DOC = "SPACE_TO_BATCH_ND over [batch, height, width, depth] (3-D inputs: width 1)."
    in_batch: int = cfield("int32_t")
    in_h: int = cfield("int32_t")
    in_w: int = cfield("int32_t")
    out_batch: int = cfield("int32_t")
    out_h: int = cfield("int32_t")
    out_w: int = cfield("int32_t")
    block_h: int = cfield("int32_t")
    block_w: int = cfield("int32_t")
    pad_top: int = cfield("int32_t")
    pad_left: int = cfield("int32_t")
    depth_bytes: int = cfield("int32_t", "bytes per pixel (channels x element size)")
    elem: int = cfield("int32_t", "element size in bytes")
    pad_value: int = cfield("int32_t", "8- and 16-bit types: the padding element; else 0")


SPACE_TO_BATCH = Kernel("td_space_to_batch", SpaceToBatchParams,
                        ("const uint8_t *in", "uint8_t *out"))


def _block(ctx: OpContext, in_rank: int = 4) -> int:
    x = ctx.input(0)
    ctx.require(len(x.shape) == in_rank, f"input of shape {list(x.shape)}; 4-D is required")
    bs = int(ctx.option("block_size", 0))
    ctx.require(bs >= 1, f"block_size {bs}")
    return bs


# ---- DEPTH_TO_SPACE / SPACE_TO_DEPTH ----

def _infer_d2s(ctx: OpContext) -> list[tuple[int, ...]]:
    bs = _block(ctx)
    n, h, w, c = ctx.input(0).shape
    ctx.require(c % (bs * bs) == 0, f"depth {c} is not a multiple of block_size^2 = {bs * bs}")
    return [(n, h * bs, w * bs, c // (bs * bs))]


def _lower_d2s(ctx: OpContext) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    bs = _block(ctx)
    n, ho, wo, co = y.shape
    s = row_major_strides(x.shape)
    oh, ow = np.arange(ho), np.arange(wo)
    return remap_layer(ctx, x, y, [np.arange(n) * s[0], (oh // bs) * s[1] + (oh % bs) * bs * co,
                                   (ow // bs) * s[2] + (ow % bs) * co, np.arange(co)])


def _infer_s2d(ctx: OpContext) -> list[tuple[int, ...]]:
    bs = _block(ctx)
    n, h, w, c = ctx.input(0).shape
    ctx.require(h % bs == 0 and w % bs == 0, f"height {h} and width {w} are not multiples of "
                                             f"block_size {bs}")
    return [(n, h // bs, w // bs, c * bs * bs)]


def _lower_s2d(ctx: OpContext) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    bs = _block(ctx)
    n, ho, wo, do = y.shape
    c = x.shape[3]
    s = row_major_strides(x.shape)
    od = np.arange(do)
    return remap_layer(ctx, x, y, [np.arange(n) * s[0], np.arange(ho) * bs * s[1],
                                   np.arange(wo) * bs * s[2],
                                   (od // c // bs) * s[1] + (od // c % bs) * s[2] + od % c])


def _generate_d2s(rng: np.random.Generator, _type: str) -> GeneratedOp:
    import tensorflow as tf

    bs = int(rng.integers(2, 4))
    shape = (1, int(rng.integers(1, 5)), int(rng.integers(1, 5)), bs * bs * int(rng.integers(1, 4)))
    return lambda_model(f"depth_to_space {shape} block={bs}", [shape],
                        lambda t: tf.nn.depth_to_space(t, bs), rng)


def _generate_s2d(rng: np.random.Generator, _type: str) -> GeneratedOp:
    import tensorflow as tf

    bs = int(rng.integers(2, 4))
    shape = (1, bs * int(rng.integers(1, 4)), bs * int(rng.integers(1, 4)), int(rng.integers(1, 5)))
    return lambda_model(f"space_to_depth {shape} block={bs}", [shape],
                        lambda t: tf.nn.space_to_depth(t, bs), rng)


# ---- BATCH_TO_SPACE_ND / SPACE_TO_BATCH_ND ----

def _block_pads(ctx: OpContext, what: str) -> tuple[list[int], np.ndarray]:
    """Block shape and crops/paddings, one per spatial axis (1 for a 3-D input, 2 for 4-D)."""
    x = ctx.input(0)
    rank = len(x.shape)
    ctx.require(rank in (3, 4), f"input of shape {list(x.shape)}; 3-D or 4-D is required")
    spatial = rank - 2
    b, p = ctx.input(1), ctx.input(2)
    ctx.require(b.dtype == "int32" and b.shape == (spatial,), f"block_shape of shape "
                                                              f"{list(b.shape)} ({b.dtype})")
    ctx.require(p.dtype == "int32" and p.shape == (spatial, 2), f"{what} of shape "
                                                               f"{list(p.shape)} ({p.dtype})")
    block = [int(v) for v in ctx.constant(1, "block_shape").reshape(-1)]
    pads = ctx.constant(2, what).astype(np.int64).reshape(spatial, 2)
    ctx.require(all(v >= 1 for v in block), f"block_shape {block}")
    ctx.require(bool((pads >= 0).all()), f"negative {what} {pads.tolist()}")
    return block, pads


def _as_4d(shape: tuple[int, ...], block: list[int], pads: np.ndarray
           ) -> tuple[list[int], list[int], np.ndarray]:
    if len(shape) == 3:
        return [shape[0], shape[1], 1, shape[2]], block + [1], np.vstack([pads, [[0, 0]]])
    return list(shape), block, pads


def _infer_b2s(ctx: OpContext) -> list[tuple[int, ...]]:
    x = ctx.input(0)
    block, crops = _block_pads(ctx, "crops")
    batch = x.shape[0]
    out = list(x.shape)
    for i, b in enumerate(block):
        ctx.require(batch % b == 0, f"batch {x.shape[0]} is not a multiple of block_shape {block}")
        batch //= b
        out[i + 1] = x.shape[i + 1] * b - int(crops[i, 0]) - int(crops[i, 1])
        ctx.require(out[i + 1] >= 0, f"crops {crops.tolist()} remove more than the block gives")
    out[0] = batch
    return [tuple(out)]


def _lower_b2s(ctx: OpContext) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    block, crops = _block_pads(ctx, "crops")
    shape4, (bh, bw), crops = _as_4d(x.shape, block, crops)
    s = row_major_strides(shape4)
    n, ho = y.shape[0], y.shape[1]
    wo = y.shape[2] if len(y.shape) == 4 else 1
    h = np.arange(ho) + int(crops[0, 0])
    w = np.arange(wo) + int(crops[1, 0])
    # the source batch of output (b, h, w) is (h % bh * bw + w % bw) * n + b
    return remap_layer(ctx, x, y, [np.arange(n) * s[0], (h % bh) * bw * n * s[0] + (h // bh) * s[1],
                                   (w % bw) * n * s[0] + (w // bw) * s[2], np.arange(shape4[3])])


def _infer_s2b(ctx: OpContext) -> list[tuple[int, ...]]:
    x = ctx.input(0)
    block, pads = _block_pads(ctx, "paddings")
    out = list(x.shape)
    for i, b in enumerate(block):
        full = x.shape[i + 1] + int(pads[i, 0]) + int(pads[i, 1])
        ctx.require(full % b == 0, f"padded size {full} is not a multiple of block {b}")
        out[i + 1] = full // b
        out[0] *= b
    return [tuple(out)]


def _lower_s2b(ctx: OpContext) -> Layer:
    x, y = ctx.input(0), ctx.output(0)
    ctx.require(x.dtype == y.dtype, f"input {x.dtype}, output {y.dtype}")
    block, pads = _block_pads(ctx, "paddings")
    shape4, (bh, bw), pads = _as_4d(x.shape, block, pads)
    out4 = [y.shape[0], y.shape[1], 1, y.shape[2]] if len(y.shape) == 3 else list(y.shape)
    q = qtype(x.dtype, f"{ctx.where}: tensor '{x.name}'")
    if x.dtype in ("int8", "int16", "uint8"):
        ctx.require_same_quantization(x, y, "SPACE_TO_BATCH_ND")
    pad_value = y.zp0 if q.size <= 2 else 0
    params = SpaceToBatchParams(
        in_batch=shape4[0], in_h=shape4[1], in_w=shape4[2], out_batch=out4[0], out_h=out4[1],
        out_w=out4[2], block_h=bh, block_w=bw, pad_top=int(pads[0, 0]), pad_left=int(pads[1, 0]),
        depth_bytes=shape4[3] * q.size, elem=q.size, pad_value=pad_value)
    return Layer(ctx.op, SPACE_TO_BATCH, params, [], [TensorArg(x.index), TensorArg(y.index)],
                 [x.index], [y.index])


def _generate_b2s(rng: np.random.Generator, _type: str) -> GeneratedOp:
    import tensorflow as tf

    three = rng.random() < 0.3
    block = [int(rng.integers(1, 4))] + ([] if three else [int(rng.integers(1, 4))])
    space = [int(rng.integers(2, 5)) for _ in block]
    crops = [[int(rng.integers(0, b)), int(rng.integers(0, b))] for b in block]
    depth = int(rng.integers(1, 4))
    copies = int(np.prod(block))
    # Keras models have a batch of 1: the input holds the batch along its first spatial axis
    shape = (1, copies * space[0], *space[1:], depth)
    batch = (copies, *space, depth)
    return lambda_model(f"batch_to_space_nd {batch} block={block} crops={crops}", [shape],
                        lambda t: tf.compat.v1.batch_to_space_nd(tf.reshape(t, batch), block,
                                                                 crops), rng)


def _generate_s2b(rng: np.random.Generator, _type: str) -> GeneratedOp:
    import tensorflow as tf

    three = rng.random() < 0.3
    block = [int(rng.integers(1, 4))] + ([] if three else [int(rng.integers(1, 4))])
    pads, space = [], []
    for b in block:
        s = int(rng.integers(1, 6))
        p0 = int(rng.integers(0, 3))
        p1 = (-(s + p0)) % b + b * int(rng.integers(0, 2))
        pads.append([p0, p1])
        space.append(s)
    shape = (1, *space, int(rng.integers(1, 4)))
    return lambda_model(f"space_to_batch_nd {shape} block={block} pads={pads}", [shape],
                        lambda t: tf.space_to_batch_nd(t, block, pads), rng)


# LiteRT's depth/space kernels take neither int16 nor bool
DEPTH_SPACE_TYPES = tuple(t for t in BYTE_TYPES if t not in ("int16", "bool"))

register(
    OpSpec("DEPTH_TO_SPACE", {(t, None): _lower_d2s for t in DEPTH_SPACE_TYPES}, inputs=(1, 1),
           options="DepthToSpaceOptions", infer_shape=_infer_d2s, kernels=(REMAP,),
           generate=_generate_d2s),
    OpSpec("SPACE_TO_DEPTH", {(t, None): _lower_s2d for t in DEPTH_SPACE_TYPES}, inputs=(1, 1),
           options="SpaceToDepthOptions", infer_shape=_infer_s2d, kernels=(REMAP,),
           generate=_generate_s2d),
    OpSpec("BATCH_TO_SPACE_ND", {(t, None): _lower_b2s for t in BYTE_TYPES}, inputs=(3, 3),
           options="BatchToSpaceNDOptions", infer_shape=_infer_b2s, kernels=(REMAP,),
           generate=_generate_b2s),
    OpSpec("SPACE_TO_BATCH_ND", {(t, None): _lower_s2b for t in BYTE_TYPES}, inputs=(3, 3),
           options="SpaceToBatchNDOptions", infer_shape=_infer_s2b, kernels=(SPACE_TO_BATCH,),
           generate=_generate_s2b),
)
