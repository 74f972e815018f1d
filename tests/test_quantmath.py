"""Compile-time quantization math against hand-computed TFLite values."""

import math

import numpy as np
import pytest

from tinydeploy import quantmath as qm


@pytest.mark.parametrize("real,expected", [
    (0.5, (1 << 30, 0)),
    (0.25, (1 << 30, -1)),
    (1.0, (1 << 30, 1)),
    (0.0, (0, 0)),
    (0.75, (1610612736, 0)),
])
def test_quantize_multiplier(real, expected):
    assert qm.quantize_multiplier(real) == expected


def test_quantize_multiplier_reconstructs():
    for real in (1e-5, 0.0031, 0.77, 3.3, 123.0):
        m, s = qm.quantize_multiplier(real)
        assert (1 << 30) <= m < (1 << 31)
        assert math.isclose(m * 2.0 ** (s - 31), real, rel_tol=1e-9)


def test_round_half_away_from_zero():
    assert [qm.round_half_away(v) for v in (0.5, 1.5, 2.5, -0.5, -1.5, 0.49)] == [1, 2, 3, -1, -2, 0]


def test_activation_ranges():
    assert qm.activation_range("NONE", 0.1, 3) == (-128, 127)
    assert qm.activation_range("RELU", 0.1, -20) == (-20, 127)
    assert qm.activation_range("RELU6", 0.05, -128) == (-128, -8)
    assert qm.activation_range("RELU6", 0.01, -128) == (-128, 127)
    with pytest.raises(Exception, match="TANH"):
        qm.activation_range("TANH", 0.1, 0)


def test_softmax_params_for_kws01_scale():
    mult, left, diff_min = qm.softmax_params(1.0, 0.15)
    real = float(np.float32(0.15)) * (1 << 26)  # TFLite scales are float32
    assert math.isclose(mult * 2.0 ** (left - 31), real, rel_tol=1e-9)
    assert diff_min < 0


def test_fast_requantization_records_are_exact():
    """The kernels' one-multiply requantization (td_quant.h) against TFLite's arithmetic, on the
    records the compiler emits, at random and at rounding ties."""
    rng = np.random.default_rng(0)
    for _ in range(300):
        m, s = int(rng.integers(2 ** 30, 2 ** 31)), int(rng.integers(-20, 0))
        zp = int(rng.integers(-128, 128))
        conv = qm.requant_records([m], [s], zp, np.array([[-2 ** 30 + 1, 2 ** 30 - 1]]))
        fc = qm.requant_records([m], [s], zp, None)
        accs = list(rng.integers(-2 ** 30 + 1, 2 ** 30, 40)) + [k << (-s - 1) for k in range(-9, 10)]
        for acc in map(int, accs):
            if conv is not None:
                t = (2 * acc * int(conv[0]) + 2 ** 31) >> 32          # SMMULR
                got = (t + int(conv[2]) + (-1 if t < 0 else 0)) >> int(conv[1])
                assert got == qm.multiply_by_quantized_multiplier(acc, m, s) + zp
            if fc is not None:
                got = (((acc * int(fc[0])) >> 32) + int(fc[2])) >> int(fc[1])  # SMMUL
                assert got == ((acc * m + (1 << (30 - s))) >> (31 - s)) + zp
    # where it would not be exact, no records
    assert qm.requant_records([2 ** 30], [0], 0, np.array([[-5000, 5000]])) is None
    assert qm.requant_records([2 ** 30], [-1], 0, None) is None
    assert qm.requant_records([2 ** 30], [-3], 0, np.array([[-2 ** 30, 0]])) is None
    # a channel that cannot leave one output: a record that gives it
    rec = qm.requant_records([2 ** 30], [-28], -128, np.array([[2 ** 30, 2 ** 30 + 4000]]))
    assert rec is not None and list(rec) == [0, 1, 1 + 2 * (2 - 128)]  # 2^29 >> 28 = 2
