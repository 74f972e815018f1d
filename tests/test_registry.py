"""The operator registry as the one place an operator's knowledge lives: the header the kernels
include is generated from it, each kernel's own scratch arithmetic agrees with its lowering's, and
compiled models are reentrant (several per library, any arena)."""

import ctypes
import subprocess
import sys

import numpy as np
import pytest

from conftest import REFERENCE_MODELS, shared_model_if_present
from generated import MODELS, generated_model
from opgen import op_model
from tinydeploy import kernel_header
from tinydeploy.compiler import compile_model
from tinydeploy.host_runner import HostLibrary, HostModel
from tinydeploy.ops import all_specs, get_spec
from tinydeploy.paths import ROOT


def test_kernel_header_is_generated_from_the_registry():
    assert kernel_header.main(["--check"]) == 0, "run: python -m tinydeploy.kernel_header"


def test_schema_tables_are_generated_from_litert():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_tflite_schema.py"),
                           "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_every_operator_states_its_rules():
    for spec in all_specs():
        assert spec.lowerings, spec.opcode
        assert spec.infer_shape is not None, f"{spec.opcode}: no shape rule for the validator"
        assert spec.inputs[0] <= spec.inputs[1], spec.opcode
        for kernel in spec.kernels:
            assert kernel.name.startswith("td_"), kernel.name


def _scratch_models():
    paths = [p for n in REFERENCE_MODELS if (p := shared_model_if_present(n)) is not None]
    paths += [generated_model(n) for n in sorted(MODELS)]
    for opcode in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        paths += [op_model(opcode, s)[0] for s in range(6)]
    return paths


@pytest.mark.parametrize("layout", ["int16", "int8", "rows"])
def test_kernel_scratch_agrees_with_the_lowering(layout):
    """Each kernel with a scratch buffer exports `<kernel>_scratch(p)`, the bytes its C uses for
    the given parameters; it must equal what the lowering asked the memory plan for."""
    models = [compile_model(p, layout=layout, prefix=f"m{i}")
              for i, p in enumerate(_scratch_models())]
    lib = HostLibrary(models)
    checked = 0
    for m in models:
        params = (ctypes.c_void_p * 1000).in_dll(lib._lib, f"{m.prefix}_layer_params")
        calls = [(step, lay) for step, lay in enumerate(m.layers) if lay.kernel]
        for i, (step, lay) in enumerate(calls):
            if not lay.kernel.scratch:
                continue
            fn = getattr(lib._lib, f"{lay.kernel.name}_scratch")
            fn.restype, fn.argtypes = ctypes.c_int32, [ctypes.c_void_p]
            planned = lay.scratch_bytes + (lay.fast_scratch if step in m.plan.fast else 0)
            assert fn(params[i]) == planned, f"{m.name} {lay.op.opcode} {lay.kernel.name}"
            checked += 1
    assert checked > 20


def test_tables_do_not_depend_on_the_build_machines_libm():
    """LOGISTIC and TANH tables are computed without the C library, yet equal what TFLite's
    reference builds with expf/tanhf, over many scales and zero points."""
    import ctypes.util

    from tinydeploy.ops.activations import float_lut, logistic_f32, tanh_f32
    from tinydeploy.tflite_reader import Tensor

    libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
    for fn in ("tanhf", "expf"):
        getattr(libm, fn).restype = ctypes.c_float
        getattr(libm, fn).argtypes = [ctypes.c_float]

    def c_logistic(v):
        return np.float32(1) / (np.float32(1) + np.float32(libm.expf(-float(v))))

    def c_tanh(v):
        return np.float32(libm.tanhf(float(v)))

    rng = np.random.default_rng(0)
    for _ in range(400):
        x = Tensor(0, "x", (1,), "int8", None, np.array([rng.uniform(0.001, 0.5)], np.float32),
                   np.array([int(rng.integers(-128, 128))]))
        for ours, theirs, scale, zp in ((logistic_f32, c_logistic, 1 / 256, -128),
                                        (tanh_f32, c_tanh, 1 / 128, 0)):
            y = Tensor(1, "y", (1,), "int8", None, np.array([scale], np.float32), np.array([zp]))
            np.testing.assert_array_equal(float_lut(x, y, ours), float_lut(x, y, theirs))


def test_models_are_reentrant(tiny_kws):
    """The same model twice in one library (two prefixes, two arenas): interleaved runs give
    what one model alone gives; nothing lives in static memory."""
    a = compile_model(tiny_kws, prefix="first")
    b = compile_model(tiny_kws, prefix="second")
    lib = HostLibrary([a, b])
    alone = HostModel(compile_model(tiny_kws))
    rng = np.random.default_rng(4)
    xs = [rng.integers(-128, 128, (1, 49, 10, 1)).astype(np.int8) for _ in range(4)]
    for x0, x1 in zip(xs, xs[1:]):
        ya, yb = lib.run(0, [x0]), lib.run(1, [x1])
        np.testing.assert_array_equal(ya[0], alone.run([x0])[0])
        np.testing.assert_array_equal(yb[0], alone.run([x1])[0])
    assert "first_invoke(int8_t *arena, int8_t *state)" in a.c.source
    assert "static int8_t" not in a.c.source  # no arena or state of its own


def test_unsupported_nodes_are_listed_together(tmp_path):
    """A model with three unsupported nodes gets one error naming all three, with fitting hints."""
    from tinydeploy.errors import TinyDeployError
    from tinydeploy.tflite_writer import Op, T, build

    q = dict(scale=[0.1], zero_point=[0])
    w = np.ones((4, 8), np.int8)
    tensors = [T((1, 8), **q), T((1, 8), **q), T((1, 8), **q), T((1, 8), "float32"),
               T((4, 8), data=w, **q), T((1, 4), "float32")]
    ops = [Op("LSH_PROJECTION", [0], [1]), Op("SKIP_GRAM", [1], [2]), Op("DEQUANTIZE", [2], [3]),
           Op("FULLY_CONNECTED", [3, 4], [5], "FullyConnectedOptions")]
    with pytest.raises(TinyDeployError) as info:
        compile_model(build(tensors, ops, [0], [5]))
    text = str(info.value)
    assert text.startswith("3 nodes are not supported")
    assert "node 0 (LSH_PROJECTION) [int8 -> int8]: operator LSH_PROJECTION is not" in text
    assert "node 1 (SKIP_GRAM)" in text
    assert "node 3 (FULLY_CONNECTED) [float32 int8 -> float32]: float activations with int8 " \
           "weights (dynamic-range" in text
    assert "full-integer quantization" in text and "tinydeploy ops" in text


def test_ops_json_lists_types_and_optimized_paths():
    import json

    proc = subprocess.run([sys.executable, "-m", "tinydeploy.cli", "ops", "--json"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    rows = {r["op"]: r for r in json.loads(proc.stdout)}
    assert len(rows) == len(all_specs())
    conv_types = ["float32", "int16x8", "int8"]
    assert rows["CONV_2D"]["types"] == conv_types
    assert "cortex-m4" in rows["CONV_2D"]["optimized"]["int8"]
    assert get_spec("CONV_2D").types == conv_types
