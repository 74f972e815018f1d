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

def _tensor(m, shape, dtype, data=None, scale=None, zp=None, name=""):  # type: ignore[no-untyped-def]
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
    assert_host_bitexact([p for p, _ in made], count=6, describe=[d for _, d in made])


def test_lstm_options_the_converter_does_not_write():
    made = _variant_paths()
    assert_host_bitexact([p for p, _ in made], count=6, describe=[d for _, d in made])


def test_svdf_random_models():
    made = [op_model("SVDF", s) for s in range(SVDF_SEEDS)]
    assert_host_bitexact([p for p, _ in made], count=8, describe=[d for _, d in made])
