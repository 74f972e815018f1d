"""The .tflite reader: real models parse with the right graph; damaged files fail cleanly."""

import numpy as np
import pytest

from conftest import REFERENCE_MODELS, shared_model
from tinydeploy.errors import TinyDeployError
from tinydeploy.tflite_reader import load_model, parse_model


def test_kws01_graph(kws01):
    m = load_model(kws01)
    assert [op.opcode for op in m.operators] == (
        ["CONV_2D"] + ["DEPTHWISE_CONV_2D", "CONV_2D"] * 4
        + ["AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"])
    first = m.operators[0]
    assert first.options == {"padding": "SAME", "stride_w": 2, "stride_h": 2,
                             "fused_activation_function": "RELU", "dilation_w_factor": 1,
                             "dilation_h_factor": 1, "quantized_bias_type": 0}
    assert first.options_type == "Conv2DOptions"
    x, w, b = (m.tensors[i] for i in first.inputs)
    assert x.shape == (1, 49, 10, 1) and x.dtype == "int8"
    assert w.shape == (64, 10, 4, 1) and len(w.scale) == 64 and w.is_constant
    assert b.dtype == "int32" and b.array().shape == (64,)
    assert m.tensors[m.outputs[0]].shape == (1, 12)


@pytest.mark.parametrize("name", REFERENCE_MODELS)
def test_reference_models_parse(name):
    m = load_model(shared_model(name))
    assert m.operators and len(m.inputs) == 1 and len(m.outputs) == 1
    for t in m.tensors:
        if t.is_constant and t.dtype in ("int8", "int32"):
            assert t.array().size == t.size


def test_too_short_and_wrong_identifier():
    with pytest.raises(TinyDeployError, match="too short"):
        parse_model(b"\x00" * 8, "x.tflite")
    with pytest.raises(TinyDeployError, match="TFL3"):
        parse_model(b"\x10\x00\x00\x00NOPE" + b"\x00" * 64, "x.tflite")


def test_missing_file(tmp_path):
    with pytest.raises(TinyDeployError, match="no such model file"):
        load_model(tmp_path / "nope.tflite")


def test_truncated_file_is_a_clear_error(tiny_kws):
    data = tiny_kws.read_bytes()
    for cut in (100, 1000, len(data) // 2, len(data) - 10):
        with pytest.raises(TinyDeployError, match="corrupt or truncated"):
            parse_model(data[:cut], "cut.tflite")


def test_random_corruption_never_crashes(tiny_kws):
    """Flip bytes all over a real model: parsing either succeeds or raises TinyDeployError."""
    data = bytearray(tiny_kws.read_bytes())
    rng = np.random.default_rng(0)
    errors = 0
    for _ in range(300):
        d = bytearray(data)
        for pos in rng.integers(0, 4096, size=4):  # the table region, not only weights
            d[int(pos)] = int(rng.integers(0, 256))
        try:
            parse_model(bytes(d), "fuzz.tflite")
        except TinyDeployError:
            errors += 1
    assert errors > 0  # corruption in the header region is detected
