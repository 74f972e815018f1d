"""The efficient zoo families (MobileNetV2, EfficientNet-Lite, MCUNet-style, SqueezeNet) and the
named size knobs: each family compiles with our engine and runs bit-exact in QEMU on a Cortex-M4
and a Cortex-M0 (whose 16 KB of RAM the small instances fit)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from generated import cached_tflite
from ophelp import assert_host_bitexact, assert_qemu_bitexact
from tinydeploy import zoo
from tinydeploy.compiler import compile_model
from tinydeploy.errors import TinyDeployError

# one small instance per new family (8x8 inputs: each fits qemu-m0), and a residual one with 5x5
# kernels on 49x10 MFCCs
FAMILIES = [("mobilenet_v2:alpha=0.25,depth=3", (8, 8, 1)),
            ("efficientnet_lite:width=0.25,stages=3", (8, 8, 1)),
            ("mcunet:width=8,kernels=3-5-7,expansions=3-6-4", (8, 8, 1)),
            ("squeezenet:width=4,depth=4", (8, 8, 1)),
            ("mobilenet_v2:alpha=0.25,depth=2,kernel=5", (49, 10, 1))]


def _family_model(spec: str, shape: tuple[int, ...]) -> Path:
    """The spec's model with random weights and batch-norm statistics (so that folding is
    exercised), quantized on random inputs; cached by the zoo's source."""

    def build() -> bytes:
        import keras

        from tinydeploy.quantize import quantize_int8

        keras.utils.set_random_seed(5)
        name, knobs = zoo.parse_spec(spec)
        net = zoo.build(name, shape, 10, **knobs)
        rng = np.random.default_rng(5)
        for layer in net.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                c = layer.gamma.shape[0]
                layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.2, c),
                                   rng.normal(0, 0.2, c), rng.uniform(0.5, 2.0, c)])
        return quantize_int8(net, rng.normal(0.5, 0.3, (32, *shape)).astype(np.float32))

    key = spec.replace(":", "_").replace(",", "_").replace("=", "") + f"_{shape[0]}x{shape[1]}"
    return cached_tflite(key, build, Path(zoo.__file__))


def test_named_knobs_parse_and_print_back():
    name, knobs = zoo.parse_spec("mcunet:width=8,kernels=3-5-7,expansions=3-6-4")
    assert name == "mcunet" and knobs == {"width": 8, "kernels": "3-5-7", "expansions": "3-6-4"}
    assert zoo.parse_spec(zoo.spec_string(name, knobs)) == (name, knobs)
    assert zoo.spec_string("ds_cnn", {"size": "xs"}) == "ds_cnn:xs"
    assert zoo.parse_spec("mobilenet_v2:0.5") == ("mobilenet_v2", {"alpha": 0.5})
    with pytest.raises(TinyDeployError, match="no knob 'colour'"):
        zoo.parse_spec("squeezenet:colour=3")
    with pytest.raises(TinyDeployError, match="not a valid depth"):
        zoo.parse_spec("squeezenet:depth=two")


def test_families_keep_their_blocks():
    """The defining blocks are there: residual adds (inverted residuals), concatenations (fire
    modules), mixed depthwise kernel sizes (MCUNet), 5x5 stages (EfficientNet-Lite)."""
    ops, dw_kernels = {}, {}
    for spec, shape in FAMILIES[:4]:
        m = compile_model(_family_model(spec, shape))
        family = spec.split(":")[0]
        ops[family] = {lay.op.opcode for lay in m.layers}
        dw_kernels[family] = {tuple(m.model.tensors[lay.op.inputs[1]].shape[1:3])
                              for lay in m.layers if lay.op.opcode == "DEPTHWISE_CONV_2D"}
    assert "ADD" in ops["mobilenet_v2"] and "CONCATENATION" in ops["squeezenet"]
    assert {(3, 3), (5, 5), (7, 7)} <= dw_kernels["mcunet"]
    assert {(3, 3), (5, 5)} <= dw_kernels["efficientnet_lite"]


def test_families_bitexact_on_host():
    paths = [_family_model(s, shape) for s, shape in FAMILIES]
    assert_host_bitexact(paths, count=4, describe=[s for s, _ in FAMILIES])


@pytest.mark.slow
def test_families_bitexact_in_qemu():
    small = FAMILIES[:4]
    assert_qemu_bitexact([_family_model(s, shape) for s, shape in small], ("qemu-m4", "qemu-m0"),
                         count=3, describe=[s for s, _ in small])
    spec, shape = FAMILIES[4]   # 49x10 feature maps need more than qemu-m0's RAM
    assert_qemu_bitexact([_family_model(spec, shape)], ("qemu-m4",), count=3, describe=[spec])
