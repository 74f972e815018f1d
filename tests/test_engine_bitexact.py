"""The generated C, compiled for the host, against TFLite's reference kernels: bit for bit."""

import numpy as np
import pytest

from conftest import REFERENCE_MODELS, shared_model
from opgen import make_model
from tinydeploy.compiler import compile_model
from tinydeploy.host_runner import HostModel
from tinydeploy.reference import ReferenceInterpreter
from tinydeploy.verify import random_inputs


def assert_bitexact(model, count: int, seed: int = 0) -> None:
    cm = compile_model(model)
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


CASES = ([("conv", s) for s in range(10)] + [("depthwise", s) for s in range(8)]
         + [("dense", s) for s in range(5)] + [("avgpool", s) for s in range(4)]
         + [("maxpool", s) for s in range(3)] + [("add", s) for s in range(4)]
         + [("mul", s) for s in range(3)] + [("pad", s) for s in range(2)]
         + [("concat", s) for s in range(2)] + [("softmax", s) for s in range(4)]
         + [("logistic", s) for s in range(2)] + [("tanh", s) for s in range(2)]
         + [("hard_swish", s) for s in range(3)] + [("mean", s) for s in range(6)]
         + [("gap", s) for s in range(3)])


@pytest.mark.parametrize("kind,seed", CASES, ids=[f"{k}-{s}" for k, s in CASES])
def test_random_single_op_model(kind, seed):
    tflite, desc = make_model(kind, seed)
    ops = {op.opcode for op in compile_model(tflite).model.operators}
    assert ops, desc
    try:
        assert_bitexact(tflite, count=8, seed=seed)
    except AssertionError as exc:
        raise AssertionError(f"{desc}: {exc}") from None
