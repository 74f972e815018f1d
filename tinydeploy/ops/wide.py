"""What the 16x8 and float32 lowerings of the convolution family share (conv, fully connected,
transposed convolution, batch matmul, LSTM, SVDF): TFLite's 16x8 rules (symmetric int16
activations, requantization of int64 sums), fused activations as the float kernels take them,
and operands that are constants in flash or tensors of the arena alike. This module registers no
operator."""

from __future__ import annotations

import numpy as np

from tinydeploy import quantmath as qm
from tinydeploy.ops.base import Arg, ConstArg, ConstArray, OpContext, TensorArg
from tinydeploy.ops.binary import ACTIVATIONS
from tinydeploy.tflite_reader import Tensor

INT16_MIN, INT16_MAX = -32768, 32767
# LiteRT's 16x8 kernels read the bias as int64 whatever its type (an int32 bias is misread,
# measured on CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED): int64 only
BIAS16 = ("int64",)
CTYPES = {"float32": "float", "int8": "int8_t", "int16": "int16_t", "int32": "int32_t",
          "int64": "int64_t"}


def float_activation(ctx: OpContext) -> int:
    """The fused activation as its TD_ACT_* code (the float kernels clamp to its bounds)."""
    act = ctx.activation
    ctx.require(act in ACTIVATIONS, f"fused activation {act}")
    return ACTIVATIONS[act]


def int16_activation_range(ctx: OpContext, y: Tensor) -> tuple[int, int]:
    """The clamp range of the fused activation on an int16 output, as TFLite computes it."""
    act = ctx.activation
    ctx.require(act in ACTIVATIONS, f"fused activation {act}")
    return qm.activation_range(act, y.scale0, y.zp0, INT16_MIN, INT16_MAX)


def require_symmetric(ctx: OpContext, *tensors: Tensor) -> None:
    """TFLite's 16x8 kernels take zero points of 0 (its Prepare checks them)."""
    for t in tensors:
        ctx.require(not np.any(t.zero_point), f"tensor '{t.name}' has zero point {t.zp0}; "
                                               "16x8 tensors are symmetric (zero point 0)")


def wide_multipliers(ctx: OpContext, mult: list[int], shift: list[int]) -> None:
    """td_mbqm64 shifts by 15 - shift bits: the shifts TFLite allows it (below 8) and a few more,
    never a shift of 15 or more, where its rounding term would not exist."""
    ctx.require(max(shift) < 15, f"a requantization shift of {max(shift)} (the ratio of scales "
                                 "is far above 1)", "check the model's quantization scales")


def require_finite(ctx: OpContext, t: Tensor, values: np.ndarray) -> None:
    """Float constants become C literals: infinities and NaNs are refused by name."""
    if np.issubdtype(values.dtype, np.floating):
        ctx.require(bool(np.all(np.isfinite(values))),
                    f"constant tensor '{t.name}' holds infinities or NaNs")


def operand(ctx: OpContext, t: Tensor, suffix: str, consts: list[ConstArray], reads: list[int],
            ctype: str | None = None) -> Arg:
    """A constant tensor as an array in flash (converted to `ctype`), any other as the arena
    tensor it is (added to the layer's reads)."""
    if t.is_constant:
        ctype = ctype or CTYPES[t.dtype]
        values = t.array().reshape(-1)
        require_finite(ctx, t, values)
        consts.append(ctx.const(suffix, ctype, values.astype(np.float32 if ctype == "float"
                                                             else np.int64)))
        return ConstArg(f"{ctx.name}_{suffix}")
    ctx.require(ctype is None or CTYPES.get(t.dtype) == ctype,
                f"tensor '{t.name}' ({t.dtype}) is computed at run time; the kernel reads it "
                f"as {ctype}")
    reads.append(t.index)
    return TensorArg(t.index)


def bias_operand(ctx: OpContext, b: Tensor | None, n: int, allowed: tuple[str, ...],
                 consts: list[ConstArray], reads: list[int], ctype: str) -> Arg:
    """An optional bias of n values in one of the allowed types, read by the kernel as `ctype`;
    None where absent."""
    if b is None:
        return None
    ctx.require(b.dtype in allowed, f"bias is {b.dtype}, this kernel takes "
                                    f"{' or '.join(allowed)}",
                "TFLite's 16x8 kernels read the bias as int64 (the converter's 16x8 mode writes "
                "int64 biases)" if allowed == BIAS16 else "")
    ctx.require(b.size == n, f"bias has {b.size} values for {n} outputs")
    ctx.require(b.is_constant or CTYPES[b.dtype] == ctype,
                f"bias '{b.name}' is computed at run time")
    return operand(ctx, b, "bias", consts, reads, ctype)
