"""The generated C, compiled for the host, against TFLite's reference kernels: bit for bit."""

import numpy as np
import pytest

from conftest import REFERENCE_MODELS, shared_model
from opgen import make_model
from tinydeploy.compiler import compile_model
from tinydeploy.host_runner import HostModel
from tinydeploy.reference import ReferenceInterpreter
from tinydeploy.verify import random_inputs


def assert_bitexact(model, count: int, seed: int = 0, layout: str = "int16") -> None:
    cm = compile_model(model, layout=layout)
    host, ref = HostModel(cm), ReferenceInterpreter(model)
    for inputs in random_inputs(cm, count, seed):
        for a, b in zip(host.run(inputs), ref.run(inputs)):
            np.testing.assert_array_equal(a, b.reshape(a.shape))


@pytest.mark.parametrize("name", REFERENCE_MODELS)
def test_reference_model_bitexact(name):
    assert_bitexact(shared_model(name), count=25)


def test_kws01_reference_input(kws01, kws01_input):
    cm = compile_model(kws01)
    out = HostModel(cm).run([kws01_input])[0]
    ref = ReferenceInterpreter(kws01).run([kws01_input])[0]
    np.testing.assert_array_equal(out, ref)
    assert int(np.argmax(out)) == int(np.argmax(ref))


CASES = ([("CONV_2D", s) for s in range(10)] + [("DEPTHWISE_CONV_2D", s) for s in range(8)]
         + [("FULLY_CONNECTED", s) for s in range(5)] + [("AVERAGE_POOL_2D", s) for s in range(4)]
         + [("MAX_POOL_2D", s) for s in range(3)] + [("ADD", s) for s in range(4)]
         + [("MUL", s) for s in range(3)] + [("PAD", s) for s in range(2)]
         + [("CONCATENATION", s) for s in range(2)] + [("SOFTMAX", s) for s in range(4)]
         + [("LOGISTIC", s) for s in range(2)] + [("TANH", s) for s in range(2)]
         + [("HARD_SWISH", s) for s in range(3)] + [("MEAN", s) for s in range(9)])


@pytest.mark.parametrize("kind,seed", CASES, ids=[f"{k}-{s}" for k, s in CASES])
def test_random_single_op_model(kind, seed):
    tflite, desc = make_model(kind, seed)
    ops = {op.opcode for op in compile_model(tflite).model.operators}
    assert ops, desc
    # every weight layout where the op has weights
    weighted = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
    for layout in ("int16", "int8", "rows") if kind in weighted else ("int16",):
        try:
            assert_bitexact(tflite, count=8, seed=seed, layout=layout)
        except AssertionError as exc:
            raise AssertionError(f"{desc} (layout {layout}): {exc}") from None


@pytest.mark.parametrize("k,pad", [(3, "same"), (5, "same"), ((4, 2), "same")])
def test_conv_in_place_through_row_ring(k, pad):
    """A same-shape convolution writes over its own input through a ring of output rows."""
    import keras

    from tinydeploy.quantize import quantize_int8

    keras.utils.set_random_seed(5)
    m = keras.Sequential([keras.Input((9, 7, 6), batch_size=1),
                          keras.layers.Conv2D(6, k, padding=pad, activation="relu")])
    tflite = quantize_int8(m, np.random.default_rng(0).normal(0, 1, (16, 9, 7, 6)))
    cm = compile_model(tflite)
    conv = next(lay for lay in cm.layers if lay.op.opcode == "CONV_2D")
    assert conv.inplace and conv.params.ring_rows > 0
    assert cm.plan.offsets[conv.inputs[0]] == cm.plan.offsets[conv.outputs[0]]
    assert_bitexact(tflite, count=6)


@pytest.mark.parametrize("hwc,pad,act", [((7, 5, 8), "same", "relu"), ((6, 9, 4), "valid", "relu6"),
                                         ((5, 4, 12), "same", None), ((3, 3, 4), "same", "relu6")])
def test_depthwise_3x3_tap_pairs(hwc, pad, act):
    """A 3x3 stride-1 depthwise layer on channels in fours runs as pairs of vertical taps
    (td_depthwise_conv3x3_s8): odd and even row counts, both paddings, ReLU6's clamp beside the
    int8 range's, and the same shape written over its own input."""
    import keras

    from tinydeploy.quantize import quantize_int8

    keras.utils.set_random_seed(7)
    m = keras.Sequential([keras.Input(hwc, batch_size=1),
                          keras.layers.DepthwiseConv2D(3, padding=pad, activation=act)])
    tflite = quantize_int8(m, np.random.default_rng(1).normal(0, 1, (16, *hwc)))
    cm = compile_model(tflite)
    dw = next(lay for lay in cm.layers if lay.op.opcode == "DEPTHWISE_CONV_2D")
    assert dw.func == "td_depthwise_conv3x3_s8"
    if pad == "same":
        assert dw.inplace and cm.plan.offsets[dw.inputs[0]] == cm.plan.offsets[dw.outputs[0]]
    assert_bitexact(tflite, count=8)
