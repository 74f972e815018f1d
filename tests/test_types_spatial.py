"""16x8 (int16 activations) and float32 versions of the pooling (L2_POOL_2D: float32 only, as in
TFLite), reduction, resize, softmax and lookup operators (tinydeploy/ops/pooling.py, reduce.py,
reductions.py, argminmax.py, resize.py, softmax.py, log_softmax.py, l2_norm.py, embedding.py)
against TFLite's reference kernels: int16 bit for bit, float32 within compare.TOLERANCE (the
largest absolute and relative errors are printed); random single-op models of every operator and
type with all their options, inputs that reach the kernels' edge cases, on the host and on a
simulated Cortex-M4 (hard float) and Cortex-M0 (soft float).

16x8 models come from tests/opgen.op_model(opcode, seed, "int16"); float32 ones from the same
generators converted without quantization (or written directly where a generator writes them).
The oracle is LiteRT's BUILTIN_REF, except for int16 SUM: LiteRT 2.3 reads the int16 buffer as
unsigned bytes (the defect of its int8 SUM), so tinydeploy/reference.py sends those models to
TFLite Micro, which sums in int32, requantizes and clamps. TFLite has no int16 ARG_MAX, ARG_MIN,
LOG_SOFTMAX or L2_NORMALIZATION.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest

from generated import cached_tflite
from ophelp import Inputs, reference_cases
from opgen import op_model
from tinydeploy.batch import run_batch
from tinydeploy.boards import get_board
from tinydeploy.compare import TOLERANCE, Agreement
from tinydeploy.compiler import CompiledModel, compile_model
from tinydeploy.host_runner import HostLibrary
from tinydeploy.ops import get_spec
from tinydeploy.reference import ReferenceInterpreter
from tinydeploy.tflite_reader import load_model
from tinydeploy.tflite_writer import Op, T, build
from tinydeploy.verify import random_inputs

# random models per operator: 16x8 where TFLite has an int16 kernel, float32 for every operator
SEEDS_16X8 = {"AVERAGE_POOL_2D": 8, "MAX_POOL_2D": 6, "MEAN": 8, "SUM": 8, "REDUCE_MAX": 6,
              "REDUCE_MIN": 6, "REDUCE_PROD": 6, "RESIZE_NEAREST_NEIGHBOR": 8,
              "RESIZE_BILINEAR": 10, "SOFTMAX": 10}
SEEDS_F32 = {"AVERAGE_POOL_2D": 6, "MAX_POOL_2D": 6, "MEAN": 6, "SUM": 6, "REDUCE_MAX": 6,
             "REDUCE_MIN": 6, "REDUCE_PROD": 6, "ARG_MAX": 6, "ARG_MIN": 6,
             "RESIZE_NEAREST_NEIGHBOR": 6, "RESIZE_BILINEAR": 8, "SOFTMAX": 8, "LOG_SOFTMAX": 6,
             "L2_NORMALIZATION": 6, "EMBEDDING_LOOKUP": 6, "L2_POOL_2D": 8}
NO_INT16 = ("ARG_MAX", "ARG_MIN", "LOG_SOFTMAX", "L2_NORMALIZATION")
QEMU_SEEDS = 2  # per operator and type in the emulator runs


# ---- models ----

def float_model(opcode: str, seed: int) -> tuple[Path, str]:
    """A random float32 model from the operator's generator: its Keras model converted without
    quantization (or the model it writes), cached like tests/opgen.py's."""
    spec = get_spec(opcode)
    assert spec is not None and spec.generate is not None
    described: list[str] = []

    def convert() -> bytes:
        import keras
        import tensorflow as tf

        from tinydeploy.captured_output import captured_output

        keras.utils.set_random_seed(seed)
        gen = spec.generate(np.random.default_rng(seed), "float32")  # type: ignore[misc]
        described.append(gen.description)
        if gen.tflite is not None:
            return gen.tflite
        with captured_output():
            return bytes(tf.lite.TFLiteConverter.from_keras_model(gen.keras_model).convert())

    path = cached_tflite(f"{opcode}-float32-{seed}", convert,
                         Path(inspect.getfile(spec.generate)))
    note = path.with_suffix(".txt")
    if described:
        note.write_text(described[0])
    return path, f"{note.read_text() if note.is_file() else opcode} float32"


def _models(opcode: str, qtype: str, seeds: range) -> tuple[list[Path], list[str]]:
    """The models, each checked to hold the operator alone, on inputs of the type asked for."""
    made = [float_model(opcode, s) if qtype == "float32" else op_model(opcode, s, qtype)
            for s in seeds]
    for path, desc in made:
        g = load_model(path).main
        assert [op.opcode for op in g.operators] == [opcode], desc
        op = g.operators[0]
        data = op.inputs[1] if opcode == "EMBEDDING_LOOKUP" else op.inputs[0]
        assert g.tensors[data].dtype == qtype, f"{desc}: {opcode} is not {qtype}"
    return [p for p, _ in made], [d if qtype == "float32" else f"{d} 16x8" for _, d in made]


# ---- inputs ----

def lookup_inputs(cm: CompiledModel, seed: int, count: int = 6) -> list[list[np.ndarray]]:
    """Ids inside the table (TFLite stops with an error on others), table values at random."""
    g = cm.model.main
    rows = g.tensors[g.operators[0].inputs[1]].shape[0]
    rng = np.random.default_rng(seed)
    return [[rng.integers(0, rows, t.shape).astype(np.int32) if t.dtype == "int32" else
             rng.normal(0, 2, t.shape).astype(np.float32) for t in cm.input_tensors]
            for _ in range(count)]


def default_inputs(opcode: str) -> Inputs:
    if opcode == "EMBEDDING_LOOKUP":
        return lookup_inputs
    return lambda cm, seed: random_inputs(cm, 6, seed=seed)


def extreme_inputs(cm: CompiledModel, seed: int) -> list[list[np.ndarray]]:
    """int16 inputs at the ends of the range (sums and products that saturate, interpolations of
    +-32768), and few distinct values (ties)."""
    rng = np.random.default_rng(seed)
    t = cm.input_tensors[0]
    return [[np.full(t.shape, -32768, np.int16)], [np.full(t.shape, 32767, np.int16)],
            [rng.choice(np.array([-32768, 32767], np.int16), t.shape)],
            [rng.integers(-2, 3, t.shape).astype(np.int16)]]


def special_inputs(cm: CompiledModel, seed: int, nan: bool = True) -> list[list[np.ndarray]]:
    """float32 inputs with NaN, infinities, signed zeros and ties among ordinary values: the
    order of TFLite's comparisons (a NaN never wins a maximum, a NaN first value of a reduction
    over every axis stays), the signs of its zero sums (checked bit for bit) and its epsilon
    (all-zero rows of L2_NORMALIZATION)."""
    rng = np.random.default_rng(seed)
    t = cm.input_tensors[0]
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0][0 if nan else 1:],
                       np.float32)
    out = [[np.full(t.shape, -0.0, np.float32)], [np.full(t.shape, -np.inf, np.float32)],
           [rng.integers(-2, 3, t.shape).astype(np.float32)]]
    for _ in range(3):
        x = rng.normal(0, 1, t.shape).astype(np.float32)
        mask = rng.random(t.shape) < 0.3
        x[mask] = rng.choice(special, int(mask.sum()))
        out.append([x])
    return out


def ordered_inputs(cm: CompiledModel, seed: int) -> list[list[np.ndarray]]:
    """special_inputs without NaN (ARG_MAX and ARG_MIN along any axis: LiteRT's last-axis path
    answers rows holding a NaN by the length of the row)."""
    return special_inputs(cm, seed, nan=False)


# ---- checks that report the float errors ----

LIBM_OPS = ("SOFTMAX", "LOG_SOFTMAX")  # float kernels calling expf/logf, whose last bits differ
                                       # between the device's newlib and the host's glibc


def bit_identical(got: list[np.ndarray], want: list[np.ndarray]) -> bool:
    """Every float32 output the same bits as the reference's (any NaN matching any NaN): the
    kernels follow the reference's order of operations, so only libm calls may differ."""
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w).reshape(np.shape(g))
        if g.dtype == np.float32 and not np.all((g.view(np.uint32) == w.view(np.uint32))
                                                | (np.isnan(g) & np.isnan(w))):
            return False
    return True


def _report(where: str, agreement: Agreement) -> None:
    if agreement.float_outputs:
        print(f"\n{where}: {agreement.cases} cases, largest absolute error "
              f"{agreement.max_abs_error:.3g}, largest relative error "
              f"{agreement.max_rel_error:.3g} ({TOLERANCE})")


def check_host(paths: list[Path], describe: list[str], inputs: list[Inputs],
               where: str) -> None:
    """Every model on the host equals the reference case by case: int16 bit for bit, float32
    too (the host's libm is the reference's), which is more than the tolerance asks."""
    models, cases, expected = reference_cases(paths, 6, inputs=inputs)
    lib = HostLibrary(models)
    agreement = Agreement()
    for (index, xs, reset), want in zip(cases, expected):
        if reset:
            lib.reset(index)
        got = lib.run(index, xs)
        assert agreement.add(got, want), f"{describe[index]}: host {got} vs reference {want}"
        assert bit_identical(got, want), f"{describe[index]}: host {got} vs reference {want}"
    _report(f"{where} on the host", agreement)


def check_qemu(paths: list[Path], describe: list[str], inputs: list[Inputs], board: str) -> None:
    """The same on a simulated board (a few firmware images, one emulator run each): int16 bit
    for bit, float32 within the tolerance, and bit for bit where no libm call is involved."""
    import tempfile

    models, cases, expected = reference_cases(paths, 3, inputs=inputs)
    with tempfile.TemporaryDirectory(prefix="td-batch-") as work:
        result = run_batch(models, cases, get_board(board), Path(work))
    libm = {i for i, p in enumerate(paths)
            if load_model(p).main.operators[0].opcode in LIBM_OPS}
    agreement = Agreement()
    by_model: dict[int, Agreement] = {}
    for (index, _, _), got, want in zip(cases, result.outputs, expected):
        assert agreement.add(got, want), f"{describe[index]} on {board}: {got} vs {want}"
        assert index in libm or bit_identical(got, want), \
            f"{describe[index]} on {board}: {got} vs {want}"
        by_model.setdefault(index, Agreement()).add(got, want)
    _report(f"float32 models on {board}", agreement)
    for index, a in sorted(by_model.items()):
        if a.max_abs_error > 0:
            _report(f"  {describe[index]}", a)


# ---- random models of every operator and type ----

@pytest.mark.parametrize("opcode", sorted(SEEDS_16X8))
def test_random_16x8_models(opcode):
    """16x8 models with all the operator's options, bit for bit on the host."""
    paths, describe = _models(opcode, "int16", range(SEEDS_16X8[opcode]))
    check_host(paths, describe, [default_inputs(opcode)] * len(paths), f"{opcode} 16x8")


@pytest.mark.parametrize("opcode", sorted(SEEDS_F32))
def test_random_float_models(opcode):
    """float32 models with all the operator's options, within the tolerance on the host."""
    paths, describe = _models(opcode, "float32", range(SEEDS_F32[opcode]))
    check_host(paths, describe, [default_inputs(opcode)] * len(paths), f"{opcode} float32")


def test_types_are_registered():
    """`tinydeploy ops` lists 16x8 wherever TFLite has an int16 kernel, float32 everywhere."""
    for opcode in SEEDS_F32:
        types = get_spec(opcode).types  # type: ignore[union-attr]
        assert "float32" in types, opcode
        assert ("int16x8" in types) == (opcode in SEEDS_16X8), (opcode, types)


@pytest.mark.parametrize("opcode", NO_INT16)
def test_tflite_has_no_int16_kernel(opcode):
    """The operators without a 16x8 lowering: LiteRT's reference refuses an int16 node (and the
    converter refuses to write one), so there is nothing to match."""
    from tinydeploy.reference import OracleError

    q = {"scale": [0.01], "zero_point": [0]}
    shape = (1, 3, 4)
    if opcode.startswith("ARG"):
        options = ("ArgMaxOptions" if opcode == "ARG_MAX" else "ArgMinOptions", {"outputType": 2})
        tensors = [T(shape, "int16", **q), T((1,), "int32", data=np.array([2], np.int32)),
                   T((1, 3), "int32")]
        model = build(tensors, [Op(opcode, [0, 1], [2], *options)], [0], [2])
    else:
        options = {"LOG_SOFTMAX": "LogSoftmaxOptions", "L2_NORMALIZATION": "L2NormOptions"}
        tensors = [T(shape, "int16", **q), T(shape, "int16", scale=[1 / 32768], zero_point=[0])]
        model = build(tensors, [Op(opcode, [0], [1], options[opcode], {})], [0], [1])
    with pytest.raises(OracleError):
        ReferenceInterpreter(model, oracle="litert").run([np.zeros(shape, np.int16)])


# ---- edge cases ----

def _softmax_sweep(rows: int, scale: float, beta: float) -> bytes:
    """An int16 SOFTMAX over rows (a, 32767): differences a - 32767 across [-65535, 0], every
    part of the exp table; and a row of 2 and its sums near 2^16 for the reciprocal table."""
    shape = (rows, 2)
    tensors = [T(shape, "int16", scale=[scale], zero_point=[0]),
               T(shape, "int16", scale=[1 / 32768], zero_point=[0])]
    return build(tensors, [Op("SOFTMAX", [0], [1], "SoftmaxOptions", {"beta": beta})], [0], [1])


def sweep_inputs(cm: CompiledModel, seed: int) -> list[list[np.ndarray]]:
    rows = cm.input_tensors[0].shape[0]
    a = np.linspace(-32768, 32767, rows).round().astype(np.int16)
    x = np.stack([a, np.full(rows, 32767, np.int16)], axis=1)
    return [[x], [np.stack([a, a], axis=1)], [np.stack([a, a // 2], axis=1)]]


def _sum_rescaled(axes: list[int], keep: bool) -> bytes:
    """An int16 SUM whose output scale differs from its input's (TFLite Micro requantizes; the
    converter gives its 16x8 SUM models equal scales)."""
    shape = (1, 4, 3, 5)
    out = tuple((1 if i in axes else d) for i, d in enumerate(shape)) if keep else \
        tuple(d for i, d in enumerate(shape) if i not in axes)
    tensors = [T(shape, "int16", scale=[0.001], zero_point=[0]),
               T((len(axes),), "int32", data=np.array(axes, np.int32)),
               T(out, "int16", scale=[0.0037], zero_point=[0])]
    return build(tensors, [Op("SUM", [0, 1], [2], "ReducerOptions", {"keepDims": keep})],
                 [0], [2])


def _reduce_all_f32(opcode: str) -> bytes:
    """A float32 reduction whose axes name every dimension (TFLite's ReduceAllDims path, which
    starts from the first value)."""
    shape = (2, 3, 4)
    tensors = [T(shape, "float32"), T((3,), "int32", data=np.array([0, -2, 2], np.int32)),
               T((), "float32")]
    return build(tensors, [Op(opcode, [0, 1], [2], "ReducerOptions", {"keepDims": False})],
                 [0], [2])


def _edge_16x8(big: bool) -> tuple[list[Path], list[str], list[Inputs]]:
    here = Path(__file__)
    paths, describe, inputs = [], [], []
    sweeps = [(4096 if big else 256, 3.0e-4, 1.0), (4096 if big else 256, 1.1e-4, 2.7)]
    for rows, scale, beta in sweeps:
        paths.append(cached_tflite(f"types-softmax-sweep-{rows}-{scale}-{beta}",
                                   lambda r=rows, s=scale, b=beta: _softmax_sweep(r, s, b), here))
        describe.append(f"int16 softmax sweep, {rows} rows, scale {scale}, beta {beta}")
        inputs.append(sweep_inputs)
    for axes, keep in (([1, 3], True), ([2], False)):
        paths.append(cached_tflite(f"types-sum-rescaled-{axes}-{keep}",
                                   lambda a=axes, k=keep: _sum_rescaled(a, k), here))
        describe.append(f"int16 SUM axes={axes} keep={keep}, output scale != input scale")
        inputs.append(lambda cm, seed: random_inputs(cm, 4, seed=seed) + extreme_inputs(cm, seed))
    for opcode in ("AVERAGE_POOL_2D", "MEAN", "SUM", "REDUCE_PROD", "RESIZE_BILINEAR",
                   "REDUCE_MAX"):
        p, d = _models(opcode, "int16", range(2))
        paths += p
        describe += [f"{x} (extreme inputs)" for x in d]
        inputs += [extreme_inputs] * 2
    return paths, describe, inputs


def _arg_f32(opcode: str, shape: tuple[int, ...], axis: int) -> bytes:
    """A float32 ARG_MAX or ARG_MIN, int32 out."""
    options = "ArgMaxOptions" if opcode == "ARG_MAX" else "ArgMinOptions"
    out = tuple(d for i, d in enumerate(shape) if i != axis % len(shape))
    tensors = [T(shape, "float32"), T((1,), "int32", data=np.array([axis], np.int32)),
               T(out, "int32")]
    return build(tensors, [Op(opcode, [0, 1], [2], options, {"outputType": 2})], [0], [2])


def _edge_f32() -> tuple[list[Path], list[str], list[Inputs]]:
    here = Path(__file__)
    paths, describe, inputs = [], [], []
    for opcode in ("REDUCE_MAX", "REDUCE_MIN", "SUM", "REDUCE_PROD"):
        paths.append(cached_tflite(f"types-reduce-all-{opcode}",
                                   lambda o=opcode: _reduce_all_f32(o), here))
        describe.append(f"float32 {opcode} over every axis")
        inputs.append(special_inputs)
    # NaN where LiteRT's ArgMinMax takes its general path (not the last axis), and along a last
    # axis of 3 and of 16 values, where its vectorized path answers the same
    for opcode in ("ARG_MAX", "ARG_MIN"):
        for shape, axis in (((2, 6, 5), 1), ((1, 7, 3), -1), ((4, 16), 1)):
            paths.append(cached_tflite(f"types-arg-{opcode}-{shape}-{axis}",
                                       lambda o=opcode, s=shape, a=axis: _arg_f32(o, s, a), here))
            describe.append(f"float32 {opcode} {shape} axis {axis} with NaN")
            inputs.append(special_inputs)
    for opcode in ("REDUCE_MAX", "REDUCE_MIN", "MAX_POOL_2D", "AVERAGE_POOL_2D", "L2_POOL_2D",
                   "ARG_MAX", "ARG_MIN", "MEAN", "SUM", "L2_NORMALIZATION", "SOFTMAX",
                   "LOG_SOFTMAX"):
        p, d = _models(opcode, "float32", range(2))
        paths += p
        describe += [f"{x} (special values)" for x in d]
        inputs += [ordered_inputs if opcode.startswith("ARG") else special_inputs] * 2
    return paths, describe, inputs


def test_16x8_edge_cases():
    """Softmax over every difference its exp table covers, SUM requantizing to another scale,
    and inputs at the ends of the int16 range."""
    check_host(*_edge_16x8(big=True), "16x8 edge cases")


def test_float_special_values():
    """NaN, infinities and signed zeros where TFLite's comparison order, ReduceAllDims' first
    value and L2_NORMALIZATION's epsilon decide the result."""
    check_host(*_edge_f32(), "float32 special values")


# ---- the emulator ----

def _qemu_set(board: str) -> tuple[list[Path], list[str], list[Inputs]]:
    """The first random models of every operator and type, and the edge-case models, of those
    that fit the board's RAM (the Cortex-M0 has 16 KB)."""
    from tinydeploy.firmware import ram_needed

    ram = get_board(board).ram_size

    def fits(path: Path) -> bool:
        return ram_needed([compile_model(path)]) <= ram

    paths, describe, inputs = [], [], []
    for qtype, seeds in (("int16", SEEDS_16X8), ("float32", SEEDS_F32)):
        for opcode in sorted(seeds):
            taken = 0
            for s in range(seeds[opcode]):
                p, d = _models(opcode, qtype, range(s, s + 1))
                if taken < QEMU_SEEDS and fits(p[0]):
                    paths += p
                    describe += d
                    inputs.append(default_inputs(opcode))
                    taken += 1
    for more in (_edge_16x8(big=False), _edge_f32()):
        for p, d, i in zip(*more):
            if fits(p):
                paths.append(p)
                describe.append(d)
                inputs.append(i)
    return paths, describe, inputs


@pytest.mark.parametrize("board", ["qemu-m4", "qemu-m0"])
def test_models_in_qemu(board):
    """16x8 bit for bit and float32 within the tolerance on a Cortex-M4F (hard float) and a
    Cortex-M0 (soft float, libgcc's IEEE arithmetic)."""
    check_qemu(*_qemu_set(board), board)



# ---- refusals ----

def _one_op(opcode: str, tensors: list[T], n_in: int, options: str | None = None,
            **values: object) -> bytes:
    """Tensors 0..n_in-1 in (the constant ones stay constants), the last one out."""
    graph_in = [i for i in range(n_in) if tensors[i].data is None]
    out = len(tensors) - 1
    return build(tensors, [Op(opcode, list(range(n_in)), [out], options, dict(values))],
                 graph_in, [out])


def test_refusals_name_the_node_and_the_field():
    """What TFLite's Prepare refuses, the compiler refuses in one line naming the node."""
    from tinydeploy.ops.base import Unsupported

    def q(scale: float, zp: int = 0) -> dict:
        return {"scale": [scale], "zero_point": [zp]}

    axis = T((1,), "int32", data=np.array([1], np.int32))
    cases = [
        (_one_op("SOFTMAX", [T((1, 8), "int16", **q(0.001)), T((1, 8), "int16", **q(0.001))],
                 1, "SoftmaxOptions", beta=1.0), "output scale"),
        (_one_op("SOFTMAX", [T((1, 8), "int16", **q(100.0)), T((1, 8), "int16", **q(1 / 32768))],
                 1, "SoftmaxOptions", beta=1.0), "too large"),
        (_one_op("MEAN", [T((1, 4, 3), "int16", **q(0.01, 3)), axis,
                          T((1, 3), "int16", **q(0.01))], 2, "ReducerOptions", keepDims=False),
         "zero points 0"),
        (_one_op("REDUCE_MAX", [T((1, 4, 3), "int16", **q(0.01)), axis,
                                T((1, 3), "int16", **q(0.02))], 2, "ReducerOptions",
                 keepDims=False), "share scale"),
        (_one_op("L2_NORMALIZATION", [T((1, 8), "float32"), T((1, 8), "float32")], 1,
                 "L2NormOptions", fusedActivationFunction=1), "fused activation"),
        (_one_op("AVERAGE_POOL_2D", [T((1, 4, 4, 2), "float32"), T((1, 4, 4, 2), "float32")], 1,
                 "Pool2DOptions", padding=0, strideW=1, strideH=1, filterWidth=1,
                 filterHeight=1, fusedActivationFunction=5), "fused activation"),
    ]
    for model, what in cases:
        with pytest.raises(Unsupported, match=what) as info:
            compile_model(model)
        assert "node 0" in str(info.value) and "\n" not in str(info.value), str(info.value)
