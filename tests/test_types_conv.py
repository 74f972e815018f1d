"""16x8 and float32 models of the convolution family (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED,
TRANSPOSE_CONV, BATCH_MATMUL, UNIDIRECTIONAL_SEQUENCE_LSTM, SVDF) against TFLite's reference
kernels (LiteRT's BUILTIN_REF): 16x8 bit for bit, float32 within compare.TOLERANCE (the largest
absolute and relative errors seen are printed); random single-op models with their options on the
host and on simulated Cortex-M4 (hard float) and Cortex-M0 (soft float) boards; float activations
with int8 weights (dynamic range) refused in one line.

16x8 models come from the converter's 16x8 mode (opgen.op_model(..., qtype="int16")); there are
no 16x8 UNIDIRECTIONAL_SEQUENCE_LSTM and SVDF (LiteRT has no int16 kernel for either, the converter
refuses a 16x8 LSTM). float32 models are the generators' Keras models converted without
quantization (qtype "float32"; LSTM through the converter's LSTM fusion, SVDF written directly);
the LSTM options the converter never writes (CIFG, peephole, projection, layer norm, clips,
batches) are added to converted models. 16x8 biases are int64 (LiteRT misreads an int32 one:
refused, tested here).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pytest

from generated import cached_tflite
from opgen import op_model
from ophelp import reference_cases
from tinydeploy import tflite_writer as tw
from tinydeploy.batch import run_batch
from tinydeploy.boards import get_board
from tinydeploy.compare import Agreement
from tinydeploy.compiler import compile_model
from tinydeploy.errors import TinyDeployError
from tinydeploy.firmware import ram_needed
from tinydeploy.host_runner import HostLibrary
from tinydeploy.ops import sequence
from tinydeploy.tflite_reader import load_model

LSTM = "UNIDIRECTIONAL_SEQUENCE_LSTM"
SEEDS = {  # (operator, model type): random models on the host
    ("CONV_2D", "int16"): 10, ("CONV_2D", "float32"): 12,
    ("DEPTHWISE_CONV_2D", "int16"): 10, ("DEPTHWISE_CONV_2D", "float32"): 10,
    ("FULLY_CONNECTED", "int16"): 8, ("FULLY_CONNECTED", "float32"): 8,
    ("TRANSPOSE_CONV", "int16"): 10, ("TRANSPOSE_CONV", "float32"): 10,
    ("BATCH_MATMUL", "int16"): 10, ("BATCH_MATMUL", "float32"): 10,
    (LSTM, "float32"): 6, ("SVDF", "float32"): 10,
}
QEMU_SEEDS = 3  # per operator and type in the emulator runs (those that fit the M0's RAM)
SOURCES = (Path(__file__), Path(sequence.__file__))


def models(opcode: str, qtype: str, seeds: range) -> tuple[list[Path], list[str]]:
    """Random models of the operator in the type, each checked to hold the operator in it."""
    made = [op_model(opcode, s, qtype) for s in seeds]
    for path, desc in made:
        g = load_model(path).main
        ops = [op for op in g.operators if op.opcode == opcode]
        assert ops, desc
        want = "float32" if qtype == "float32" else "int16"
        assert g.tensors[ops[0].outputs[0]].dtype == want, desc
    return [p for p, _ in made], [f"{opcode} {qtype}: {d}" for _, d in made]


# ---- checks: integer outputs bit for bit, float32 within the tolerance ----

def check(paths: list[Path], describe: list[str], board: str | None = None,
          count: int = 6) -> Agreement:
    """Every model on the host (board None) or on a simulated board, input by input against the
    reference; the agreement (float errors) is returned, any mismatch raises."""
    models_, cases, expected = reference_cases(paths, count)
    if board is None:
        lib = HostLibrary(models_)
        got = []
        for index, inputs, reset in cases:
            if reset:
                lib.reset(index)
            got.append(lib.run(index, inputs))
    else:
        with tempfile.TemporaryDirectory(prefix="td-types-") as work:
            got = run_batch(models_, cases, get_board(board), Path(work)).outputs
    agreement = Agreement()
    for (index, _, _), g, want in zip(cases, got, expected):
        if not agreement.add(g, want):
            raise AssertionError(f"{describe[index]} on {board or 'the host'}: {g} vs {want}")
    return agreement


def report(what: str, agreement: Agreement) -> None:
    if agreement.float_outputs:
        print(f"{what}: {agreement.cases} cases, largest errors abs {agreement.max_abs_error:.3g}"
              f" rel {agreement.max_rel_error:.3g}")


# ---- float32 LSTM options the converter does not write ----

def _float_tensor(m, values: np.ndarray, name: str) -> int:  # type: ignore[no-untyped-def]
    """Append a constant float32 tensor to subgraph 0 of an unpacked model; its index."""
    from ai_edge_litert import schema_py_generated as s

    t = s.TensorT()
    t.shape, t.type, t.name = list(values.shape), tw.TYPE_CODES["float32"], name
    buf = s.BufferT()
    buf.data = np.frombuffer(np.ascontiguousarray(values, np.float32).tobytes(), np.uint8)
    m.buffers.append(buf)
    t.buffer = len(m.buffers) - 1
    m.subgraphs[0].tensors.append(t)
    return len(m.subgraphs[0].tensors) - 1


def lstm_f32_variant(base: bytes, seed: int, cifg: bool = False, peephole: bool = False,
                     projection: int = 0, proj_bias: bool = False, layer_norm: bool = False,
                     cell_clip: float = 0.0, proj_clip: float = 0.0, batch: int = 1) -> bytes:
    """The converted float LSTM in `base` without its input gate (CIFG), with peephole weights,
    a projection to `projection` outputs, layer norm, clips or a batch."""
    rng = np.random.default_rng(seed)
    m = tw.unpack(base)
    g = m.subgraphs[0]
    op = g.operators[0]
    ins = [int(i) for i in op.inputs] + [-1] * (24 - len(op.inputs))
    x, y = g.tensors[ins[0]], g.tensors[int(op.outputs[0])]
    n_cell = int(g.tensors[ins[4]].shape[0])
    n_out = projection or n_cell
    if cifg:
        ins[1] = ins[5] = ins[12] = -1
    gates = [k for k in range(4) if not (cifg and k == 0)]
    if peephole:
        for k, slot in ((0, 9), (1, 10), (3, 11)):
            if k in gates:
                ins[slot] = _float_tensor(m, rng.normal(0, 0.5, n_cell), f"peephole{k}")
    if projection:
        for k in gates:
            ins[5 + k] = _float_tensor(m, rng.normal(0, 1 / math.sqrt(n_out), (n_cell, n_out)),
                                       f"recurrent{k}")
        ins[16] = _float_tensor(m, rng.normal(0, 1 / math.sqrt(n_cell), (n_out, n_cell)),
                                "projection")
        if proj_bias:
            ins[17] = _float_tensor(m, rng.normal(0, 0.2, n_out), "projection_bias")
        y.shape = list(y.shape[:-1]) + [n_out]
        g.tensors[ins[18]].shape = [1, n_out]
    if layer_norm:
        for k in gates:
            ins[20 + k] = _float_tensor(m, rng.normal(1, 0.3, n_cell), f"ln{k}")
            ins[12 + k] = _float_tensor(m, rng.normal(0, 0.3, n_cell), f"ln_bias{k}")
    if batch > 1:
        axis = 1 if op.builtinOptions.timeMajor else 0
        for t in (x, y):
            t.shape = [batch if d == axis else v for d, v in enumerate(t.shape)]
        for slot in (18, 19):
            g.tensors[ins[slot]].shape = [batch, int(g.tensors[ins[slot]].shape[-1])]
    op.inputs = ins
    op.builtinOptions.cellClip, op.builtinOptions.projClip = cell_clip, proj_clip
    return tw.pack(m)


LSTM_VARIANTS = {  # name: (base model seed, changes)
    "cifg": (4, dict(cifg=True)),
    "peephole+cell_clip": (1, dict(peephole=True, cell_clip=0.3)),
    "cifg+peephole": (2, dict(cifg=True, peephole=True)),
    "projection+bias+clip": (0, dict(projection=5, proj_bias=True, proj_clip=0.1)),
    "layer_norm": (3, dict(layer_norm=True)),
    "layer_norm+cifg+peephole+projection": (5, dict(layer_norm=True, cifg=True, peephole=True,
                                                    projection=7)),
    "batch3": (2, dict(batch=3)),
    "batch2+projection": (0, dict(batch=2, projection=4)),
}


def lstm_variants() -> tuple[list[Path], list[str]]:
    paths, describe = [], []
    for k, (name, (seed, kw)) in enumerate(LSTM_VARIANTS.items()):
        base, desc = op_model(LSTM, seed, "float32")
        paths.append(cached_tflite(
            f"lstm-f32-variant-{k}",
            lambda base=base, k=k, kw=kw: lstm_f32_variant(base.read_bytes(), k, **kw),
            *SOURCES))
        describe.append(f"float32 LSTM {name}: {desc}")
    return paths, describe


# ---- tests ----

@pytest.mark.parametrize("opcode,qtype", sorted(SEEDS))
def test_random_models_on_the_host(opcode, qtype):
    """Random single-op models with all the options their generator draws, input by input."""
    paths, describe = models(opcode, qtype, range(SEEDS[(opcode, qtype)]))
    report(f"{opcode} {qtype} host", check(paths, describe))


def test_float_lstm_options_on_the_host():
    paths, describe = lstm_variants()
    report("LSTM float32 options host", check(paths, describe))


def _qemu_models(board: str) -> tuple[list[Path], list[str]]:
    """A few models of every operator and type, and the LSTM options, that fit the board."""
    paths, describe = [], []
    for opcode, qtype in sorted(SEEDS):
        p, d = models(opcode, qtype, range(QEMU_SEEDS))
        paths += p
        describe += d
    p, d = lstm_variants()
    paths, describe = paths + p[::2], describe + d[::2]
    ram = get_board(board).ram_size
    fits = [ram_needed(compile_model(p)) <= ram for p in paths]
    return ([p for p, ok in zip(paths, fits) if ok],
            [d for d, ok in zip(describe, fits) if ok])


@pytest.mark.parametrize("board", ["qemu-m4", "qemu-m0"])
def test_models_in_qemu(board):
    """Hard float on the M4, soft float (libgcc) on the M0; 16x8 bit-exact on both."""
    paths, describe = _qemu_models(board)
    assert len(paths) >= 30
    report(f"all float32 models {board}", check(paths, describe, board, count=3))


def _hybrid(opcode: str) -> bytes:
    """A float32 model of `opcode` whose weights are int8 (dynamic-range quantization)."""
    from tinydeploy.tflite_writer import Op, T, build

    w8 = dict(dtype="int8", scale=[0.02], zero_point=[0])
    f = "float32"
    if opcode == "CONV_2D":
        t = [T((1, 5, 5, 3), f), T((4, 3, 3, 3), data=np.ones((4, 3, 3, 3), np.int8), **w8),
             T((1, 5, 5, 4), f)]
        ops = [Op(opcode, [0, 1, -1], [2], "Conv2DOptions", {"strideW": 1, "strideH": 1})]
    elif opcode == "DEPTHWISE_CONV_2D":
        t = [T((1, 5, 5, 3), f), T((1, 3, 3, 3), data=np.ones((1, 3, 3, 3), np.int8), **w8),
             T((1, 5, 5, 3), f)]
        ops = [Op(opcode, [0, 1, -1], [2], "DepthwiseConv2DOptions",
                  {"strideW": 1, "strideH": 1, "depthMultiplier": 1})]
    elif opcode == "FULLY_CONNECTED":
        t = [T((1, 8), f), T((4, 8), data=np.ones((4, 8), np.int8), **w8), T((1, 4), f)]
        ops = [Op(opcode, [0, 1, -1], [2], "FullyConnectedOptions", {})]
    elif opcode == "TRANSPOSE_CONV":
        t = [T((4,), "int32", np.array([1, 6, 6, 2], np.int32)),
             T((2, 3, 3, 3), data=np.ones((2, 3, 3, 3), np.int8), **w8), T((1, 3, 3, 3), f),
             T((1, 6, 6, 2), f)]
        ops = [Op(opcode, [0, 1, 2], [3], "TransposeConvOptions", {"strideW": 2, "strideH": 2})]
    elif opcode == "BATCH_MATMUL":
        t = [T((1, 3, 4), f), T((4, 5), data=np.ones((4, 5), np.int8), **w8), T((1, 3, 5), f)]
        ops = [Op(opcode, [0, 1], [2], "BatchMatMulOptions", {})]
    else:  # SVDF
        t = [T((1, 6), f), T((4, 6), data=np.ones((4, 6), np.int8), **w8),
             T((4, 3), data=np.ones((4, 3), np.int8), **w8), T((1, 12), f, variable=True),
             T((1, 2), f)]
        ops = [Op(opcode, [0, 1, 2, -1, 3], [4], "SVDFOptions", {"rank": 2})]
    return build(t, ops, [0] if opcode != "TRANSPOSE_CONV" else [2], [len(t) - 1])


def _hybrid_lstm() -> bytes:
    """The float LSTM with int8 input-to-gate weights, as dynamic-range quantization makes it."""
    from ai_edge_litert import schema_py_generated as s

    base, _ = op_model(LSTM, 0, "float32")
    m = tw.unpack(base.read_bytes())
    g = m.subgraphs[0]
    for slot in (1, 2, 3, 4):
        t = g.tensors[int(g.operators[0].inputs[slot])]
        values = np.frombuffer(bytes(m.buffers[t.buffer].data), np.float32)
        m.buffers[t.buffer].data = np.frombuffer(
            np.clip(np.round(values / 0.02), -127, 127).astype(np.int8).tobytes(), np.uint8)
        t.type = tw.TYPE_CODES["int8"]
        t.quantization = s.QuantizationParametersT()
        t.quantization.scale, t.quantization.zeroPoint = [0.02], [0]
    return tw.pack(m)


@pytest.mark.parametrize("opcode", ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED",
                                    "TRANSPOSE_CONV", "BATCH_MATMUL", LSTM, "SVDF"])
def test_hybrid_models_are_refused_in_one_line(opcode):
    data = _hybrid_lstm() if opcode == LSTM else _hybrid(opcode)
    with pytest.raises(TinyDeployError) as info:
        compile_model(data)
    problem = info.value.problem
    assert problem.startswith(f"node 0 ({opcode}) [") and "\n" not in problem, problem
    assert "float activations with int8 weights (dynamic-range or hybrid" in problem, problem
    assert "full-integer quantization" in info.value.fix, info.value.fix


def test_an_int32_bias_in_16x8_is_refused():
    """LiteRT reads a 16x8 convolution's bias as int64 whatever its type: an int32 one would be
    misread, so it is refused with the reason."""
    from tinydeploy.tflite_writer import Op, T, build

    t = [T((1, 4, 4, 2), "int16", scale=[1e-3]),
         T((3, 1, 1, 2), "int8", np.ones((3, 1, 1, 2), np.int8), [0.01], [0]),
         T((3,), "int32", np.ones(3, np.int32), [1e-5], [0]), T((1, 4, 4, 3), "int16",
                                                                 scale=[1e-2])]
    data = build(t, [Op("CONV_2D", [0, 1, 2], [3], "Conv2DOptions",
                        {"strideW": 1, "strideH": 1})], [0], [3])
    with pytest.raises(TinyDeployError, match="bias is int32, this kernel takes int64"):
        compile_model(data)


def test_16x8_convolutions_without_a_bias():
    """A 16x8 CONV_2D and FULLY_CONNECTED with no bias sum in int64 all the same (LiteRT takes its
    int64 path for them); written directly, as the converter always writes a bias."""
    from tinydeploy.tflite_writer import Op, T, build

    rng = np.random.default_rng(3)
    conv = build([T((1, 6, 6, 24), "int16", scale=[3e-4]),
                  T((40, 3, 3, 24), "int8", rng.integers(-127, 128, (40, 3, 3, 24)),
                    list(rng.uniform(0.002, 0.01, 40)), [0] * 40),
                  T((1, 6, 6, 40), "int16", scale=[2e-2])],
                 [Op("CONV_2D", [0, 1, -1], [2], "Conv2DOptions",
                     {"strideW": 1, "strideH": 1})], [0], [2])
    fc = build([T((2, 30), "int16", scale=[3e-4]),
                T((12, 30), "int8", rng.integers(-127, 128, (12, 30)), [0.004], [0]),
                T((2, 12), "int16", scale=[2e-2])],
               [Op("FULLY_CONNECTED", [0, 1, -1], [2], "FullyConnectedOptions", {})], [0], [2])
    with tempfile.TemporaryDirectory() as d:
        paths = [Path(d) / "conv.tflite", Path(d) / "fc.tflite"]
        paths[0].write_bytes(conv)
        paths[1].write_bytes(fc)
        check(paths, ["16x8 CONV_2D without bias", "16x8 FULLY_CONNECTED without bias"],
              count=20)


def test_float_weights_with_infinities_are_refused():
    """Float constants become C literals: an infinite or NaN weight is a one-line error naming
    the tensor, not a compiler failure."""
    from tinydeploy.tflite_writer import Op, T, build

    w = np.ones((4, 8), np.float32)
    w[1, 2] = np.inf
    data = build([T((1, 8), "float32"), T((4, 8), "float32", w, name="weights"),
                  T((1, 4), "float32")],
                 [Op("FULLY_CONNECTED", [0, 1, -1], [2], "FullyConnectedOptions", {})], [0], [2])
    with pytest.raises(TinyDeployError, match="constant tensor 'weights' holds infinities"):
        compile_model(data)
