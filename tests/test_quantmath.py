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
