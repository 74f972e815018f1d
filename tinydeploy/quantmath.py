"""Compile-time quantization arithmetic, following TensorFlow Lite's reference rules exactly.

Everything the int8 kernels need that depends only on scales and zero points is computed here, in
the same float/double precision TFLite uses, so the C kernels only do integer work and the
results match the TFLite reference interpreter bit for bit.
"""

from __future__ import annotations

import math

import numpy as np

from tinydeploy.errors import TinyDeployError

INT8_MIN, INT8_MAX = -128, 127


MAX_LEFT_SHIFT = 30  # x * 2^shift must stay inside the int32 arithmetic the kernels do


def quantize_multiplier(real: float) -> tuple[int, int]:
    """A real multiplier as (Q31 significand, power-of-two shift), as TFLite's QuantizeMultiplier.
    A multiplier the int32 arithmetic cannot apply (not finite, negative, or needing a left shift
    past 30 bits, where C's shifts are undefined) is an error naming the value."""
    if not math.isfinite(real) or real < 0:
        raise TinyDeployError(f"requantization multiplier {real!r} (a ratio of scales) is not a "
                              "finite positive number", "check the model's quantization scales")
    if real == 0.0:
        return 0, 0
    frac, shift = math.frexp(real)
    q = round_half_away(frac * (1 << 31))
    if q == (1 << 31):
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > MAX_LEFT_SHIFT:
        raise TinyDeployError(f"requantization multiplier {real:.3g} (a ratio of scales) needs a "
                              f"left shift of {shift} bits; the int32 arithmetic allows "
                              f"{MAX_LEFT_SHIFT}", "check the model's quantization scales")
    return int(q), int(shift)


def round_half_away(x: float) -> int:
    """C's round(): halves go away from zero (Python's round() goes to even)."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def quantize_value(value: float, scale: float, zero_point: int) -> int:
    """TFLite's `zero_point + round(value / scale)`, the division done in float32."""
    q = np.float32(value) / np.float32(scale)
    return zero_point + round_half_away(float(q))


def activation_range(activation: str, scale: float, zero_point: int,
                     qmin: int = INT8_MIN, qmax: int = INT8_MAX) -> tuple[int, int]:
    """The clamp range a fused activation implies on the quantized output."""
    if activation == "NONE":
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, quantize_value(0.0, scale, zero_point)), qmax
    if activation == "RELU6":
        return (max(qmin, quantize_value(0.0, scale, zero_point)),
                min(qmax, quantize_value(6.0, scale, zero_point)))
    if activation == "RELU_N1_TO_1":
        return (max(qmin, quantize_value(-1.0, scale, zero_point)),
                min(qmax, quantize_value(1.0, scale, zero_point)))
    raise TinyDeployError(f"fused activation {activation} is not supported by the int8 kernels",
                          "use NONE, RELU, RELU6 or RELU_N1_TO_1 in the model")


def per_channel_multipliers(input_scale: float, filter_scales: np.ndarray, output_scale: float,
                            channels: int) -> tuple[list[int], list[int]]:
    """Conv/depthwise requantization per output channel (a single filter scale is broadcast)."""
    mults, shifts = [], []
    for c in range(channels):
        fs = float(filter_scales[c] if len(filter_scales) > 1 else filter_scales[0])
        m, s = quantize_multiplier(float(np.float32(input_scale)) * fs / float(np.float32(output_scale)))
        mults.append(m)
        shifts.append(s)
    return mults, shifts


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplier on Python ints (the kernels' td_mbqm)."""
    a = x << max(shift, 0)
    if a == multiplier == -2 ** 31:
        return 2 ** 31 - 1
    ab = a * multiplier
    num = ab + (1 << 30 if ab >= 0 else 1 - (1 << 30))
    high = abs(num) >> 31
    high = high if num >= 0 else -high  # division truncating toward zero
    e = max(-shift, 0)
    mask = (1 << e) - 1
    threshold = (mask >> 1) + (1 if high < 0 else 0)
    return (high >> e) + (1 if (high & mask) > threshold else 0)


def add_input_table(zero_point: int, left_shift: int, multiplier: int, shift: int) -> np.ndarray:
    """ADD's rescaled input for every int8 value, indexed by the value's byte (uint8)."""
    values = [multiply_by_quantized_multiplier((((b + 128) % 256 - 128) - zero_point) << left_shift,
                                               multiplier, shift) for b in range(256)]
    return np.array(values, dtype=np.int64)


def requant_records(mults: list[int], shifts: list[int], output_offset: int,
                    acc_ranges: np.ndarray | None, act: tuple[int, int] = (-128, 127)
                    ) -> np.ndarray | None:
    """Records {multiplier, e, 2^(e-1) + output_offset * 2^e} for the kernels' fast requantization
    (firmware/kernels/td_quant.h), or None where it would not be exact.

    acc_ranges ([channels, 2]: the least and greatest accumulator each channel can reach) selects
    the convolution form, td_requant_conv: it needs |acc| < 2^30, a right shift e = -shift >= 1 and
    the rounding term plus |acc| inside int32. A channel whose output is the same (after the
    activation clamp `act`) for every reachable accumulator gets the record {0, 1, 1 + 2 * out},
    which yields that output. None selects the fully connected form, td_requant_fc, with
    e = -shift - 1 >= 1 and a rounding term well inside int32.
    """
    def output(acc: int, m: int, s: int) -> int:
        return min(max(multiply_by_quantized_multiplier(acc, m, s) + output_offset, act[0]), act[1])

    conv = acc_ranges is not None
    ranges = np.asarray(acc_ranges, dtype=np.int64).reshape(-1, 2) if conv else None
    records = []
    for i, (m, s) in enumerate(zip(mults, shifts)):
        bound = 2 ** 30  # FC: |floor(acc * m / 2^32)| < 2^30
        if ranges is not None:
            lo, hi = int(ranges[i % len(ranges), 0]), int(ranges[i % len(ranges), 1])
            if output(lo, m, s) == output(hi, m, s):  # monotone: constant over [lo, hi]
                records.append([0, 1, 1 + 2 * output(lo, m, s)])
                continue
            bound = max(abs(lo), abs(hi))
            if bound >= 2 ** 30:
                return None
        e = -s if conv else -s - 1
        k = (1 << (e - 1)) + output_offset * (1 << e) if e >= 1 else 0
        if e < 1 or bound + abs(k) + 1 >= 2 ** 31:
            return None
        records.append([m, e, k])
    return np.array(records, dtype=np.int64).reshape(-1)


def softmax_params(beta: float, input_scale: float) -> tuple[int, int, int]:
    """(input_multiplier, input_left_shift, diff_min) of TFLite's reference int8 softmax."""
    integer_bits = 5
    real = min(float(np.float32(beta)) * float(np.float32(input_scale)) * (1 << (31 - integer_bits)),
               float((1 << 31) - 1))
    mult, left_shift = quantize_multiplier(real)
    if left_shift < 0:
        raise TinyDeployError("softmax input scale is too small for the int8 softmax kernel",
                              "re-quantize the model so the softmax input has a larger scale")
    radius = math.floor(1.0 * ((1 << integer_bits) - 1) * (1 << (31 - integer_bits)) / (1 << left_shift))
    return mult, left_shift, -int(radius)


def add_params(scale1: float, scale2: float, out_scale: float) -> dict[str, int]:
    """Multipliers of TFLite's int8 ADD: inputs rescaled to a common scale with 20 bits of headroom."""
    left_shift = 20
    twice_max = float(np.float32(2) * max(np.float32(scale1), np.float32(scale2)))
    m1, s1 = quantize_multiplier(float(np.float32(scale1)) / twice_max)
    m2, s2 = quantize_multiplier(float(np.float32(scale2)) / twice_max)
    mo, so = quantize_multiplier(twice_max / float(np.float32(1 << left_shift) * np.float32(out_scale)))
    return {"left_shift": left_shift, "input1_multiplier": m1, "input1_shift": s1,
            "input2_multiplier": m2, "input2_shift": s2, "output_multiplier": mo, "output_shift": so}


def mean_multiplier(input_scale: float, output_scale: float, count: int) -> tuple[int, int]:
    """Requantization of a sum of `count` int8 values to their mean, with 1/count folded into the
    multiplier as TFLite 2.21's int8 MEAN does (measured bit-exact against its interpreter)."""
    m, s = quantize_multiplier(float(np.float32(input_scale)) / float(np.float32(output_scale)))
    extra = min(63 - (64 - int(count).bit_length()), 32, 31 + s)
    return (m << extra) // count, s - extra
