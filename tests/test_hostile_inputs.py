"""Broken and hostile .tflite files: each failure the fault campaign found is a one-line error
naming the node or tensor and the field, never an exception, a crash or C that writes out of
bounds. Files are made here by editing a real model (tflite_writer.unpack/pack) or from scratch."""

import math
import subprocess
import sys

import numpy as np
import pytest

from tinydeploy.compiler import compile_model
from tinydeploy.errors import TinyDeployError
from tinydeploy.host_runner import run_checked
from tinydeploy.tflite_writer import Op, T, build, pack, unpack

Q = dict(scale=[0.05], zero_point=[0])


def edited(path, fn) -> bytes:
    m = unpack(path.read_bytes())
    fn(m)
    return pack(m)


def refused(data: bytes, *patterns: str) -> str:
    with pytest.raises(TinyDeployError) as info:
        compile_model(data, name="hostile")
    text = str(info.value)
    for p in patterns:
        assert p in text, text
    return text


def fc_model(in_shape=(1, 8), units=4, out_shape=None) -> bytes:
    rng = np.random.default_rng(0)
    tensors = [T(in_shape, **Q), T((units, 8), data=rng.integers(-127, 128, (units, 8)), **Q),
               T((units,), "int32", data=rng.integers(-100, 100, units)),
               T(out_shape or (math.prod(in_shape) // 8, units), scale=[0.1], zero_point=[3])]
    return build(tensors, [Op("FULLY_CONNECTED", [0, 1, 2], [3], "FullyConnectedOptions")], [0], [3])


def test_a_written_fc_model_compiles_and_matches():
    cm = compile_model(fc_model())
    x = np.random.default_rng(1).integers(-128, 128, (3, 1, 8)).astype(np.int8)
    run = run_checked([cm], [(0, [xi], False) for xi in x])
    assert run.ok, run.report


def test_fc_whose_input_grows_the_batch_is_refused():
    """The campaign's out-of-bounds FC: an input dimension patched so `batches` grows while the
    output keeps its size. TFLite resizes the output; we refuse the file."""
    refused(fc_model(in_shape=(4, 8), out_shape=(1, 4)), "node 0 (FULLY_CONNECTED)", "output 0",
            "[1, 4]", "[4, 4]")


def test_elementwise_output_smaller_than_input_is_refused(tiny_image):
    def shrink(m):
        g = m.subgraphs[0]
        add = next(op for op in g.operators if m.operatorCodes[op.opcodeIndex].builtinCode == 0)
        g.tensors[add.outputs[0]].shape = [1, 2, 2, 8]
    refused(edited(tiny_image, shrink), "(ADD)", "output 0", "[1, 2, 2, 8]")


@pytest.mark.parametrize("scale,what", [(0.0, "0.0"), (float("inf"), "inf"), (float("nan"), "nan"),
                                        (-0.5, "-0.5")])
def test_bad_scales_are_refused(tiny_fc, scale, what):
    def patch(m):
        m.subgraphs[0].tensors[m.subgraphs[0].inputs[0]].quantization.scale = [scale]
    refused(edited(tiny_fc, patch), "quantization scale", what, "not finite and positive")


def test_zero_point_outside_its_type_is_refused(tiny_fc):
    def patch(m):
        m.subgraphs[0].tensors[m.subgraphs[0].inputs[0]].quantization.zeroPoint = [2 ** 40]
    refused(edited(tiny_fc, patch), "zero point", "outside int8")


def test_quantized_dimension_outside_the_rank_is_refused(tiny_kws):
    def patch(m):
        g = m.subgraphs[0]
        w = g.tensors[g.operators[0].inputs[1]]
        w.quantization.quantizedDimension = 2 ** 31 - 1
    refused(edited(tiny_kws, patch), "quantized_dimension 2147483647")


def test_too_few_inputs_is_refused(tiny_kws):
    def patch(m):
        m.subgraphs[0].operators[0].inputs = m.subgraphs[0].operators[0].inputs[:1]
    refused(edited(tiny_kws, patch), "node 0 (CONV_2D)", "has 1 inputs")


def test_negative_dimension_is_refused(tiny_fc):
    def patch(m):
        m.subgraphs[0].tensors[m.subgraphs[0].inputs[0]].shape = [1, -1]
    refused(edited(tiny_fc, patch), "negative (dynamic) dimension")


def test_schema_version_is_checked(tiny_fc):
    def patch(m):
        m.version = 4
    refused(edited(tiny_fc, patch), "schema version 4")


def test_graph_output_on_a_constant_is_refused(tiny_fc):
    """The campaign's silent wrong result: a graph output re-pointed at a constant tensor got an
    arena slot no node writes."""
    def patch(m):
        g = m.subgraphs[0]
        g.outputs = [g.operators[0].inputs[1]]
    refused(edited(tiny_fc, patch), "graph output", "no node writes it")


def test_reading_a_tensor_nobody_wrote_is_refused(tiny_fc):
    def patch(m):
        g = m.subgraphs[0]
        t = T((1, 16), **Q)
        m2 = unpack(build([t], [], [], []))
        g.tensors.append(m2.subgraphs[0].tensors[0])
        g.operators[1].inputs[0] = len(g.tensors) - 1
    refused(edited(tiny_fc, patch), "node 1 (FULLY_CONNECTED)", "before any node writes it")


def test_huge_multiplier_is_refused():
    """Scales whose ratio needs a shift past 31 bits: host and Arm would disagree (UB)."""
    data = fc_model()
    m = unpack(data)
    m.subgraphs[0].tensors[0].quantization.scale = [1e30]
    refused(pack(m), "node 0 (FULLY_CONNECTED)", "multiplier")


def test_options_of_another_operator_are_refused(tiny_kws):
    from ai_edge_litert import schema_py_generated as s

    def patch(m):
        op = m.subgraphs[0].operators[0]
        op.builtinOptionsType = s.BuiltinOptions.Pool2DOptions
        op.builtinOptions = s.Pool2DOptionsT()
    refused(edited(tiny_kws, patch), "carries Pool2DOptions", "Conv2DOptions")


def test_unknown_options_type_is_an_error(tiny_kws):
    data = bytearray(tiny_kws.read_bytes())
    m = unpack(bytes(data))
    m.subgraphs[0].operators[0].builtinOptionsType = 250
    m.subgraphs[0].operators[0].builtinOptions = None
    refused(pack(m), "builtin options of unknown type 250")


def test_field_too_large_for_its_c_type_is_refused():
    """Parameter structs are range-checked against their C field types."""
    from tinydeploy.ops.activations import HardSwishParams
    from tinydeploy.ops.base import Unsupported

    with pytest.raises(Unsupported, match="reluish_multiplier = 40000 does not fit .* int16_t"):
        HardSwishParams(size=4, input_zero_point=0, output_zero_point=0,
                        reluish_multiplier=40000, output_multiplier=1, reluish_exponent=0,
                        output_exponent=0)


def test_checked_build_catches_a_kernel_writing_outside_its_tensors(tiny_fc):
    """The debug build's write check: a model whose plan is tampered with (an output offset past
    its real place) makes the kernel write where it may not, and the run reports the layer."""
    cm = compile_model(tiny_fc, prefix="tampered")
    y = cm.model.tensors[cm.layers[0].outputs[0]]
    y.shape = (1, 8)  # the allowed range now ends 8 bytes before what the kernel writes
    x = np.zeros((1, 1), np.int8)
    run = run_checked([cm], [(0, [x], False)])
    assert not run.ok and "td-check: layer 0:FULLY_CONNECTED wrote arena byte" in run.report


def test_verify_exit_statuses(tiny_fc, tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "tinydeploy.cli", "verify", *map(str, args)],
                              capture_output=True, text=True, timeout=300)
    ok = cli(tiny_fc, "--inputs", "3")
    assert ok.returncode == 0, ok.stderr
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"junk" * 10)
    r = cli(bad)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    # per-channel scales on a 1-D bias that say quantized_dimension 3, as TFLite Micro's person
    # detection model has them: LiteRT refuses the file, TFLite Micro runs it
    m = unpack(tiny_fc.read_bytes())
    g = m.subgraphs[0]
    bias = g.tensors[g.operators[0].inputs[2]]
    bias.quantization.scale = [0.001] * bias.shape[0]
    bias.quantization.zeroPoint = [0] * bias.shape[0]
    bias.quantization.quantizedDimension = 3
    odd = tmp_path / "odd.tflite"
    odd.write_bytes(pack(m))
    r = cli(odd, "--inputs", "2", "--oracle", "litert")
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert r.returncode == 3, r.stderr
    assert len(lines) == 1 and "reference interpreter rejects this file: LiteRT" in lines[0]
    assert "Traceback" not in r.stderr
    # with the oracle chain, TFLite Micro answers (and rounds its own way): bit-exact
    r = cli(odd, "--inputs", "4", "--json", tmp_path / "v.json")
    assert r.returncode == 0, r.stderr
    import json

    assert json.loads((tmp_path / "v.json").read_text())["oracle"] == "tflm"
