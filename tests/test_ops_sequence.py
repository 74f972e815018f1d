"""UNIDIRECTIONAL_SEQUENCE_LSTM and SVDF, int8: bit-exact with TFLite's reference kernels on the
host and in QEMU, state carried across several inputs in sequence (ophelp resets each model at its
first input only).

LSTM models come from Keras LSTM weights through the converter's LSTM fusion (the converter writes
UNIDIRECTIONAL_SEQUENCE_LSTM, which each test checks); the options the converter never writes for a
Keras layer (CIFG, peephole, projection, layer norm, clips, batch > 1) are added to such a model
with the schema's object API. SVDF models are written directly (Keras has no SVDF layer), with
quantization calibrated on the float SVDF.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pytest

from generated import cached_tflite
from ophelp import assert_host_bitexact, assert_qemu_bitexact, reference_cases
from opgen import op_model
from tinydeploy import tflite_writer as tw
from tinydeploy.batch import run_batch
from tinydeploy.boards import get_board
from tinydeploy.compiler import compile_model
from tinydeploy.errors import TinyDeployError
from tinydeploy.ops import sequence
from tinydeploy.tflite_reader import parse_model

LSTM_SEEDS, SVDF_SEEDS = 10, 10
SOURCES = (Path(sequence.__file__), Path(__file__))


def _opcodes(path: Path) -> list[str]:
    return [op.opcode for op in parse_model(path.read_bytes()).operators]


# ---- LSTM variants: a converted model with the options the converter does not write ----

def _tensor(m, shape, dtype, data=None, scale=None, zp=None,  # type: ignore[no-untyped-def]
            name=""):
    """Append a tensor (and its buffer) to subgraph 0 of an unpacked model; its index."""
    from ai_edge_litert import schema_py_generated as s

    t = s.TensorT()
    t.shape, t.type, t.name, t.buffer = list(shape), tw.TYPE_CODES[dtype], name, 0
    if data is not None:
        buf = s.BufferT()
        buf.data = np.frombuffer(np.ascontiguousarray(data, dtype).tobytes(), np.uint8)
        m.buffers.append(buf)
        t.buffer = len(m.buffers) - 1
    if scale is not None:
        q = s.QuantizationParametersT()
        q.scale, q.zeroPoint = [float(v) for v in scale], [int(v) for v in (zp or [0] * len(scale))]
        t.quantization = q
    m.subgraphs[0].tensors.append(t)
    return len(m.subgraphs[0].tensors) - 1


def _sym(rng: np.random.Generator, shape: tuple[int, ...], bits: int, sd: float
         ) -> tuple[np.ndarray, float]:
    values = rng.normal(0, sd, shape)
    q, scale = sequence._symmetric(values, bits)
    return q, scale


def lstm_variant(base: bytes, seed: int, cifg: bool = False, peephole: bool = False,
                 projection: int = 0, proj_bias: bool = False, layer_norm: bool = False,
                 cell_clip: float = 0.0, proj_clip: float = 0.0, batch: int = 1) -> bytes:
    """The converted LSTM in `base` with input gate removed (CIFG), peephole weights, a projection
    to `projection` outputs, layer norm (coefficients, biases, gate scales), clips or a batch."""
    from ai_edge_litert import schema_py_generated as schema

    rng = np.random.default_rng(seed)
    m = tw.unpack(base)
    g = m.subgraphs[0]
    op = g.operators[0]
    ins = [int(i) for i in op.inputs]
    x, y = g.tensors[ins[0]], g.tensors[int(op.outputs[0])]
    n_cell = int(g.tensors[ins[4]].shape[0])
    n_out = projection or n_cell
    if cifg:
        ins[1] = ins[5] = ins[12] = -1
    gates = [k for k in range(4) if not (cifg and k == 0)]
    if peephole:
        for k, slot in ((0, 9), (1, 10), (3, 11)):
            if k in gates:
                q, s = _sym(rng, (n_cell,), 16, 0.3)
                ins[slot] = _tensor(m, (n_cell,), "int16", q, [s], name=f"peephole{k}")
    if projection:
        for k in gates:
            old = g.tensors[ins[5 + k]]
            q, _ = _sym(rng, (n_cell, n_out), 8, 1.0)
            ins[5 + k] = _tensor(m, (n_cell, n_out), "int8", q, list(old.quantization.scale),
                                 name=f"recurrent{k}")
        q, s = _sym(rng, (n_out, n_cell), 8, 1 / math.sqrt(n_cell))
        ins[16] = _tensor(m, (n_out, n_cell), "int8", q, [s], name="projection")
        hidden = g.tensors[int(op.intermediates[4])].quantization.scale[0]
        if proj_bias:
            ins[17] = _tensor(m, (n_out,), "int32", rng.integers(-2000, 2000, n_out),
                              [s * hidden], name="projection_bias")
        y.shape = list(y.shape[:-1]) + [n_out]
        g.tensors[ins[18]].shape = [1, n_out]
    if layer_norm:
        for k in gates:
            q, s = _sym(rng, (n_cell,), 16, 1.0)
            ins[20 + k] = _tensor(m, (n_cell,), "int16", q + 9000, [s], name=f"ln{k}")
            ins[12 + k] = _tensor(m, (n_cell,), "int32", rng.integers(-2 ** 18, 2 ** 18, n_cell),
                                  [1e-6], name=f"ln_bias{k}")
        for k in range(4):  # the gates' scales, the absent input gate's too
            mid = g.tensors[int(op.intermediates[k])]
            mid.quantization = schema.QuantizationParametersT()
            mid.quantization.scale = [float(rng.uniform(2e-4, 2e-3))]
            mid.quantization.zeroPoint = [0]
    if batch > 1:
        time_major = bool(op.builtinOptions.timeMajor)
        axis = 1 if time_major else 0
        for t in (x, y):
            t.shape = [batch if d == axis else v for d, v in enumerate(t.shape)]
        for slot in (18, 19):
            g.tensors[ins[slot]].shape = [batch, int(g.tensors[ins[slot]].shape[-1])]
    op.inputs = ins
    op.builtinOptions.cellClip, op.builtinOptions.projClip = cell_clip, proj_clip
    return tw.pack(m)


VARIANTS = {  # name: (base model seed, changes)
    "cifg": (4, dict(cifg=True)),
    "peephole": (1, dict(peephole=True)),
    "cifg+peephole": (6, dict(cifg=True, peephole=True)),
    "projection": (0, dict(projection=5)),
    "projection+bias+clip": (7, dict(projection=9, proj_bias=True, proj_clip=0.05)),
    "cell_clip": (2, dict(cell_clip=0.25)),
    "layer_norm": (8, dict(layer_norm=True)),
    "layer_norm+cifg+peephole+projection": (3, dict(layer_norm=True, cifg=True, peephole=True,
                                                    projection=13, proj_bias=True)),
    "batch3": (9, dict(batch=3)),
    "batch2 time-major": (1, dict(batch=2, projection=4)),
}


def _variant_paths() -> list[tuple[Path, str]]:
    out = []
    for k, (name, (seed, kw)) in enumerate(VARIANTS.items()):
        base, desc = op_model("UNIDIRECTIONAL_SEQUENCE_LSTM", seed)
        path = cached_tflite(f"lstm-variant-{k}", lambda: lstm_variant(base.read_bytes(), k, **kw),
                             *SOURCES)
        out.append((path, f"{name}: {desc}"))
    return out


# ---- tests ----

def test_converter_writes_the_fused_lstm():
    path, _ = op_model("UNIDIRECTIONAL_SEQUENCE_LSTM", 0)
    assert _opcodes(path) == ["UNIDIRECTIONAL_SEQUENCE_LSTM"]
    op = parse_model(path.read_bytes()).operators[0]
    assert len(op.intermediates) == 5


def test_lstm_random_models():
    made = [op_model("UNIDIRECTIONAL_SEQUENCE_LSTM", s) for s in range(LSTM_SEEDS)]
    assert all(_opcodes(p) == ["UNIDIRECTIONAL_SEQUENCE_LSTM"] for p, _ in made)
    for layout in ("int16", "int8", "rows"):  # the weight matrices' layouts (td_matmul.h)
        assert_host_bitexact([p for p, _ in made], count=6, layout=layout,
                             describe=[d for _, d in made])


def test_lstm_options_the_converter_does_not_write():
    made = _variant_paths()
    for layout in ("int16", "int8"):
        assert_host_bitexact([p for p, _ in made], count=6, layout=layout,
                             describe=[d for _, d in made])


def test_svdf_random_models():
    made = [op_model("SVDF", s) for s in range(SVDF_SEEDS)]
    assert_host_bitexact([p for p, _ in made], count=8, describe=[d for _, d in made])


# ---- keyword spotters ----

def lstm_kws() -> bytes:
    """49 frames of 10 MFCCs -> LSTM(64), full sequence -> dense(12) -> softmax."""
    import keras

    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    units, frames, mfcc, labels = 64, 49, 10, 12
    head = [(rng.normal(0, 1 / math.sqrt(frames * units), (frames * units, labels)).astype(
        np.float32), rng.normal(0, 0.1, labels).astype(np.float32))]
    reps = rng.normal(0, 2.0, (64, 1, frames, mfcc)).astype(np.float32)
    return sequence.keras_lstm_tflite(units, frames, mfcc, reps, head=head, softmax=True)


def svdf_kws() -> bytes:
    """Streaming keyword spotting as Google's SVDF models do it: one frame of 40 filterbank
    energies per invocation -> SVDF(64, rank 1, memory 8) -> SVDF(64, rank 1, memory 8) ->
    SVDF(32, rank 2, memory 4) -> dense(12) -> softmax, the time context held in the SVDF states."""
    from tinydeploy.tflite_writer import Op, T, build

    rng = np.random.default_rng(5)
    frames = np.abs(rng.normal(0, 3.0, (96, 1, 40)))
    tensors, ops, _, _, s_in, zp_in, h = sequence.svdf_layers(
        rng, 40, [(64, 1, 8), (64, 1, 8), (32, 2, 4)], 1, frames)
    w = rng.normal(0, 1 / math.sqrt(32), (12, 32))
    b = rng.normal(0, 0.1, 12)
    qw, sw = sequence._symmetric(w, 8)
    logits = h.reshape(-1, 32) @ w.T + b
    s_out, zp_out = sequence._asymmetric(float(logits.min()), float(logits.max()))
    last, base = len(tensors) - 1, len(tensors)
    tensors += [T((12, 32), "int8", qw, [sw], [0], name="dense_weights"),
                T((12,), "int32", np.round(b / (s_in * sw)).astype(np.int32), [s_in * sw], [0],
                  name="dense_bias"),
                T((1, 12), "int8", None, [s_out], [zp_out], name="logits"),
                T((1, 12), "int8", None, [1 / 256], [-128], name="probabilities")]
    ops += [Op("FULLY_CONNECTED", [last, base, base + 1], [base + 2], "FullyConnectedOptions", {}),
            Op("SOFTMAX", [base + 2], [base + 3], "SoftmaxOptions", {"beta": 1.0})]
    return build(tensors, ops, [0], [base + 3])


def _kws_paths() -> list[tuple[Path, str]]:
    return [(cached_tflite("kws-lstm", lstm_kws, *SOURCES), "LSTM keyword spotter"),
            (cached_tflite("kws-svdf", svdf_kws, *SOURCES), "SVDF keyword spotter")]


def test_keyword_spotters_on_the_host():
    made = _kws_paths()
    assert _opcodes(made[0][0]) == ["UNIDIRECTIONAL_SEQUENCE_LSTM", "RESHAPE", "FULLY_CONNECTED",
                                    "SOFTMAX"]
    assert _opcodes(made[1][0]) == ["SVDF"] * 3 + ["FULLY_CONNECTED", "SOFTMAX"]
    for layout in ("int16", "int8"):
        assert_host_bitexact([p for p, _ in made], count=10, layout=layout,
                             describe=[d for _, d in made])


def _qemu_models() -> list[tuple[Path, str]]:
    variants = _variant_paths()
    return ([op_model("UNIDIRECTIONAL_SEQUENCE_LSTM", s) for s in range(3)]
            + [op_model("SVDF", s) for s in range(4)]
            + [variants[i] for i in (1, 4, 7, 9)] + _kws_paths())


@pytest.mark.parametrize("board", ["qemu-m4", "qemu-m0"])
def test_sequence_models_in_qemu(board):
    """Random LSTM and SVDF models, the LSTM options and both keyword spotters on a simulated
    Cortex-M4 and Cortex-M0 (16 KB of RAM: every one of them fits), state carried."""
    made = _qemu_models()
    assert_qemu_bitexact([p for p, _ in made], (board,), count=4, describe=[d for _, d in made])


def test_keyword_spotter_instructions_on_m4():
    """Instructions per inference on qemu-m4 (a timer tick is 40 instructions there), with the
    outputs checked too; the LSTM spotter runs 49 steps per inference, the SVDF one a frame."""
    made = _kws_paths()
    models, cases, expected = reference_cases([p for p, _ in made], 6)
    with tempfile.TemporaryDirectory(prefix="td-kws-") as work:
        result = run_batch(models, cases, get_board("qemu-m4"), Path(work))
    for (index, _, _), got, want in zip(cases, result.outputs, expected):
        np.testing.assert_array_equal(got[0], want[0].reshape(got[0].shape), made[index][1])
    for index, (_, what) in enumerate(made):
        ticks = [t for (i, _, _), t in zip(cases, result.ticks) if i == index]
        instructions = 40 * sum(ticks) / len(ticks)
        print(f"{what}: {instructions:,.0f} instructions per inference, "
              f"{instructions / models[index].macs:.2f} per MAC")


def _rewrite(path: Path, change) -> bytes:  # type: ignore[no-untyped-def]
    m = tw.unpack(path.read_bytes())
    change(m.subgraphs[0].operators[0])
    return tw.pack(m)


@pytest.mark.parametrize("what,model,change", [
    ("the reference's integer SVDF takes RELU only", "SVDF",
     lambda op: setattr(op.builtinOptions, "fusedActivationFunction", 0)),
    ("needs 5 intermediate tensors", "UNIDIRECTIONAL_SEQUENCE_LSTM",
     lambda op: setattr(op, "intermediates", [])),
    ("diagonal recurrent weights", "UNIDIRECTIONAL_SEQUENCE_LSTM",
     lambda op: setattr(op.builtinOptions, "diagonalRecurrentTensors", True)),
])
def test_what_the_kernels_do_not_take_is_one_clear_error(what, model, change):
    path, _ = op_model(model, 0)
    with pytest.raises(TinyDeployError, match=what) as err:
        compile_model(_rewrite(path, change))
    assert err.value.problem.startswith("node 0 (")
