"""TFLite's integer and float32 arithmetic, step for step in Python, for the tables and constants
the math operators (binary.py, compare.py, unary.py) compute at compile time.

Everything here follows the C++ that LiteRT's reference kernels run on x86-64, including what C++
leaves undefined and x86 defines: int32 products and shifts wrap, a float-to-int32 conversion out
of range (or of NaN) gives INT32_MIN (cvttss2si), and a shift count is taken modulo 32. The
kernels' results on those edges are LiteRT's, so the tables must be too.

No function reads the build machine's libm: transcendental functions are evaluated in double
precision (Python's math module) and rounded once to float32, which is what a correctly rounded
float32 libm returns; tests compare them with the C library's float functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
f32 = np.float32


def i32(x: int) -> int:
    """x wrapped to int32, as an overflowing int32 expression gives on x86."""
    return ((int(x) + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def srdhm(a: int, b: int) -> int:
    """gemmlowp's SaturatingRoundingDoublingHighMul."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    num = ab + ((1 << 30) if ab >= 0 else 1 - (1 << 30))
    q = abs(num) >> 31
    return q if num >= 0 else -q


def rdbpot(x: int, exponent: int) -> int:
    """gemmlowp's RoundingDivideByPOT as x86 runs it: the mask is computed in 64 bits and
    truncated to 32, the shift count is taken modulo 32 (exponents past 31 happen in int8 DIV)."""
    assert 0 <= exponent <= 62, exponent
    mask = i32((1 << exponent) - 1)
    remainder = i32(x & mask)
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return i32((x >> (exponent & 31)) + (1 if remainder > threshold else 0))


def mbqm(x: int, multiplier: int, shift: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplier (double rounding), int32 wrapping included."""
    left, right = max(shift, 0), max(-shift, 0)
    return rdbpot(srdhm(i32(x * (1 << left)), multiplier), right)


def sat_shift_left(x: int, exponent: int) -> int:
    """gemmlowp's SaturatingRoundingMultiplyByPOT for a positive exponent."""
    threshold = (1 << (31 - exponent)) - 1
    if x > threshold:
        return INT32_MAX
    if x < -threshold:
        return INT32_MIN
    return i32(x << exponent)


def rounding_half_sum(a: int, b: int) -> int:
    """gemmlowp's RoundingHalfSum: (a + b + sign) / 2 in 64 bits, truncating."""
    s = a + b + (1 if a + b >= 0 else -1)
    return (abs(s) // 2) * (1 if s >= 0 else -1)


def one_over_one_plus_x(a: int) -> int:
    """gemmlowp's one_over_one_plus_x_for_x_in_0_1 on a Q0.31 raw value (Newton-Raphson in
    Q2.29)."""
    half_denominator = rounding_half_sum(a, INT32_MAX)
    x = i32(1515870810 + srdhm(half_denominator, -1010580540))
    for _ in range(3):
        one_minus = i32((1 << 29) - srdhm(half_denominator, x))
        x = i32(x + sat_shift_left(srdhm(x, one_minus), 2))
    return sat_shift_left(x, 1)


def reciprocal(x: int) -> tuple[int, int]:
    """TFLite's GetReciprocal(x, 31): (Q0.31 significand of 1/x, bits of x above one)."""
    clz = 32 - int(x).bit_length()
    shifted = i32((x << clz) - (1 << 31))
    return one_over_one_plus_x(shifted), 31 - clz


def inv_sqrt_multiplier(value: int) -> tuple[int, int]:
    """TFLite's GetInvSqrtQuantizedMultiplierExp(value, kReverseShift) for value > 0."""
    if value <= 1:
        return INT32_MAX, 0
    shift = 11
    while value >= (1 << 29):
        value //= 4
        shift += 1
    pairs = (32 - value.bit_length() - 1) // 2 - 1
    shift -= pairs
    value <<= 2 * pairs
    half_input = rdbpot(value >> 1, 1)
    x = 1 << 28  # 1.0 in Q3.28
    for _ in range(5):
        x3 = sat_shift_left(srdhm(srdhm(x, x), x), 6)
        x = sat_shift_left(i32(srdhm(402653184, x) - srdhm(half_input, x3)), 3)
    x = srdhm(x, 1518500250)  # * sqrt(2) / 2
    if shift < 0:
        x = i32(x << -shift)
        shift = 0
    return x, -shift


def cvt_f2i_x86(v: np.float32) -> int:
    """static_cast<int32_t>(float) as x86's cvttss2si does it: truncation, INT32_MIN when the
    value is NaN or outside int32."""
    fv = float(v)
    if not math.isfinite(fv) or fv >= 2.0 ** 31 or fv < -(2.0 ** 31):
        return INT32_MIN
    return int(fv)


def roundf(v: np.float32) -> np.float32:
    """C's roundf: halves away from zero (infinities and NaN pass through)."""
    fv = float(v)
    if not math.isfinite(fv):
        return f32(fv)
    return f32(math.copysign(math.floor(abs(fv) + 0.5), fv))


def lut_populate(x_scale: float, x_zp: int, y_scale: float, y_zp: int,
                 fn: Callable[[np.float32], np.float32]) -> np.ndarray:
    """TFLite's LUTPopulate<int8_t>: each int8 value dequantized, transformed and requantized in
    float32; indexed by the input byte read as uint8."""
    inv = f32(1) / f32(y_scale)
    table = np.zeros(256, np.int64)
    with np.errstate(all="ignore"):
        for v in range(-128, 128):
            deq = f32(x_scale) * f32(v - x_zp)
            rescaled = roundf(f32(fn(deq)) * inv)
            q = cvt_f2i_x86(rescaled + f32(y_zp))
            table[v & 0xFF] = min(127, max(-128, q))
    return table


def byte_table(fn: Callable[[int], int]) -> np.ndarray:
    """A 256-entry table of fn(v) for every int8 v, indexed by the byte read as uint8."""
    table = np.zeros(256, np.int64)
    for v in range(-128, 128):
        table[v & 0xFF] = fn(v)
    return table


# ---- float32 functions as a correctly rounded libm computes them ----

def exp_f32(v: np.float32) -> np.float32:
    with np.errstate(over="ignore"):
        return f32(math.exp(min(float(v), 200.0)))


def expm1_f32(v: np.float32) -> np.float32:
    with np.errstate(over="ignore"):
        return f32(math.expm1(min(float(v), 200.0)))


def log_f32(v: np.float32) -> np.float32:
    fv = float(v)
    if fv < 0 or math.isnan(fv):
        return f32("nan")
    return f32(math.log(fv)) if fv > 0 else f32("-inf")


def sqrt_f32(v: np.float32) -> np.float32:
    fv = float(v)
    return f32(math.sqrt(fv)) if fv >= 0 else f32("nan")


def tanh_f32(v: np.float32) -> np.float32:
    return f32(math.tanh(float(v)))


def erfc_f32(v: np.float32) -> np.float32:
    return f32(math.erfc(float(v)))


# ---- int16 (16x8) ----

def lut_populate_int16(x_scale: float, x_zp: int, y_scale: float, y_zp: int,
                       fn: Callable[[np.float32], np.float32]) -> np.ndarray:
    """TFLite's LUTPopulate<int16_t>: 512 samples of fn over the input's whole range, each
    biased by half the error a linear interpolation makes at the middle of its segment, and one
    last sample at the top, all in float32 (LUTLookup interpolates between them with the low 7
    bits of the input)."""
    input_min = f32(x_scale) * f32(-32768 - x_zp)
    input_max = f32(x_scale) * f32(32767 - x_zp)
    output_min = f32(y_scale) * f32(-32768 - y_zp)
    output_max = f32(y_scale) * f32(32767 - y_zp)
    step = (input_max - input_min) / f32(512)
    half_step = step / f32(2)
    inv = f32(65536) / (output_max - output_min)

    def to_int16(v: np.float32) -> int:
        clamped = f32(min(max(float(v), -32768.0), 32767.0)) if not np.isnan(v) else v
        return ((cvt_f2i_x86(clamped) + 32768) & 0xFFFF) - 32768

    table = np.zeros(513, np.int64)
    with np.errstate(all="ignore"):
        for i in range(512):
            at = input_min + f32(i) * step
            val, mid = f32(fn(at)), f32(fn(at + half_step))
            after = f32(fn(input_min + f32(i + 1) * step))
            sample = roundf(val * inv)
            interpolated = roundf((after * inv + roundf(val * inv)) / f32(2))
            bias = roundf((interpolated - roundf(mid * inv)) / f32(2))
            table[i] = to_int16(sample - bias)
        table[512] = to_int16(roundf(f32(fn(input_max)) * inv))
    return table


def checked_log2(x: float) -> tuple[bool, int]:
    """TFLite's CheckedLog2: (x is a power of two to within 1e-3 of its log, the rounded log),
    in float32."""
    with np.errstate(divide="ignore"):
        lg = f32(np.log(f32(x))) * (f32(1) / f32(np.log(f32(2))))
    rounded = roundf(lg)
    return bool(abs(float(lg - rounded)) < 1e-3), int(rounded)
