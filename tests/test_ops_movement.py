"""Data-movement operators, bit for bit against LiteRT's reference kernels: random int8 models of
every operator with its options (TensorFlow writes them), every type each operator is keyed for
(models written directly, their output shapes asked of the reference: what the validator's shape
rules must reproduce), strided slices over every mask, run-time gather indices, casts at the edges
of each type, BROADCAST_ARGS on run-time and constant shapes, and a PyTorch-style model that takes
NCHW input. On the host, in the sanitized
write-checked build, and in QEMU on a Cortex-M4 and a Cortex-M0."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from generated import cached_tflite
from ophelp import _same, assert_host_bitexact, assert_qemu_bitexact, reference_cases
from opgen import op_model
from tinydeploy.batch import run_batch
from tinydeploy.boards import get_board
from tinydeploy.compiler import compile_model
from tinydeploy.errors import TinyDeployError
from tinydeploy.host_runner import HostLibrary, run_checked
from tinydeploy.ops import get_spec
from tinydeploy.ops.movegen import single_op
from tinydeploy.reference import ReferenceInterpreter
from tinydeploy.tflite_reader import parse_model
from tinydeploy.tflite_writer import TYPE_CODES

BOARDS = ("qemu-m4", "qemu-m0")

# random int8 models per operator (Keras + the converter; a few written directly)
SEEDS = {"TRANSPOSE": 5, "STRIDED_SLICE": 8, "SLICE": 4, "SPLIT": 4, "SPLIT_V": 4, "PACK": 4,
         "UNPACK": 4, "GATHER": 6, "GATHER_ND": 4, "EXPAND_DIMS": 3, "DEPTH_TO_SPACE": 3,
         "SPACE_TO_DEPTH": 3, "BATCH_TO_SPACE_ND": 5, "SPACE_TO_BATCH_ND": 5, "ZEROS_LIKE": 3,
         "FILL": 3, "SHAPE": 3, "CAST": 7, "BROADCAST_TO": 4, "MIRROR_PAD": 5, "REVERSE_V2": 4}


def _made(opcode: str, seeds: int) -> list[tuple[Path, str]]:
    return [op_model(opcode, s) for s in range(seeds)]


@pytest.mark.parametrize("opcode", sorted(SEEDS))
def test_random_int8_models(opcode):
    """Each model holds the operator (the converter did not fold it away) and equals the
    reference input by input."""
    made = _made(opcode, SEEDS[opcode])
    for path, desc in made:
        ops = [o.opcode for o in parse_model(path.read_bytes()).operators]
        assert opcode in ops, f"{desc}: the converter wrote {ops}"
    assert_host_bitexact([p for p, _ in made], count=6, describe=[d for _, d in made])


# the operators TensorFlow's converter quantizes to 16x8 (int16 activations) on its own: not
# DEPTH_TO_SPACE, SPACE_TO_DEPTH or CAST; PACK's inputs it requantizes with an int16 QUANTIZE
INT16X8 = ("BATCH_TO_SPACE_ND", "BROADCAST_TO", "FILL", "GATHER", "GATHER_ND", "MIRROR_PAD",
           "REVERSE_V2", "SLICE", "SPACE_TO_BATCH_ND", "SPLIT", "SPLIT_V", "STRIDED_SLICE",
           "TRANSPOSE", "UNPACK")


def _made16(seeds: int) -> list[tuple[Path, str]]:
    return [op_model(op, s, "int16") for op in INT16X8 for s in range(seeds)]


def test_random_int16x8_models():
    """The same generators converted with int16 activations (TensorFlow's 16x8 mode)."""
    made = _made16(2)
    for path, desc in made:
        assert "int16" in {t.dtype for t in parse_model(path.read_bytes()).tensors}, desc
    assert_host_bitexact([p for p, _ in made], count=4, describe=[d for _, d in made])


# ---- every keyed type, in models written directly ----

def _rand_shape(rng: np.random.Generator, lo: int, hi: int, rank_lo: int = 1,
                rank_hi: int = 4) -> tuple[int, ...]:
    return tuple(int(d) for d in rng.integers(lo, hi, int(rng.integers(rank_lo, rank_hi + 1))))


def _i32(values) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.asarray(values, np.int32)


def _typed_case(opcode: str, t: str, rng: np.random.Generator):  # type: ignore[no-untyped-def]
    """(inputs, output types, options table, option values) of a random `opcode` node of type t:
    inputs as (shape, type, constant data or None)."""
    if opcode == "TRANSPOSE":
        x = _rand_shape(rng, 1, 5, 2, 5)
        return [(x, t, None), ((len(x),), "int32", _i32(rng.permutation(len(x))))], [t], None, {}
    if opcode == "STRIDED_SLICE":
        x = _rand_shape(rng, 2, 6, 1, 4)
        n = len(x)
        b = _i32([int(rng.integers(-d, d)) for d in x])
        e = _i32([int(rng.integers(-d - 1, d + 2)) for d in x])
        s = _i32(rng.choice([1, 2, -1, -2], n))
        e = np.where((s > 0) & (e <= b), b + 1, e).astype(np.int32)
        return ([(x, t, None), ((n,), "int32", b), ((n,), "int32", e), ((n,), "int32", s)], [t],
                "StridedSliceOptions", dict(beginMask=int(rng.integers(0, 1 << n)),
                                            endMask=int(rng.integers(0, 1 << n))))
    if opcode == "SLICE":
        x = _rand_shape(rng, 1, 6)
        it = str(rng.choice(["int32", "int64"]))
        b = [int(rng.integers(0, d)) for d in x]
        z = [int(rng.integers(1, d - v + 1)) if rng.random() < 0.7 else -1 for v, d in zip(b, x)]
        return ([(x, t, None), ((len(x),), it, np.array(b, it)), ((len(x),), it, np.array(z, it))],
                [t], None, {})
    if opcode == "REVERSE_V2":
        x = _rand_shape(rng, 1, 5, 1, 4)
        a0 = int(rng.integers(0, len(x)))
        a1 = int(rng.integers(a0, len(x)))
        axes = [a - len(x) if rng.random() < 0.3 else a for a in range(a0, a1 + 1)]
        return [(x, t, None), ((len(axes),), "int32", _i32(axes))], [t], None, {}
    if opcode == "BROADCAST_TO":
        target = _rand_shape(rng, 1, 5, 1, 5)
        drop = int(rng.integers(0, len(target)))
        x = tuple(d if rng.random() < 0.5 else 1 for d in target[drop:])
        it = str(rng.choice(["int32", "int64"]))
        return [(x, t, None), ((len(target),), it, np.array(target, it))], [t], None, {}
    if opcode == "MIRROR_PAD":
        x = _rand_shape(rng, 2, 5, 1, 4)
        mode = int(rng.integers(0, 2))
        pads = [[int(rng.integers(0, d - 1 + mode + 1)) for _ in range(2)] for d in x]
        it = str(rng.choice(["int32", "int64"]))
        return ([(x, t, None), ((len(x), 2), it, np.array(pads, it))], [t], "MirrorPadOptions",
                dict(mode=mode))
    if opcode == "EXPAND_DIMS":
        x = _rand_shape(rng, 1, 5, 1, 4)
        axis = int(rng.integers(-len(x) - 1, len(x) + 1))
        return [(x, t, None), ((), "int32", _i32(axis))], [t], None, {}
    if opcode in ("DEPTH_TO_SPACE", "SPACE_TO_DEPTH"):
        bs = int(rng.integers(1, 4))
        n, h, w, c = (int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(1, 4)),
                      int(rng.integers(1, 4)))
        x = (n, h, w, c * bs * bs) if opcode == "DEPTH_TO_SPACE" else (n, h * bs, w * bs, c)
        table = "DepthToSpaceOptions" if opcode == "DEPTH_TO_SPACE" else "SpaceToDepthOptions"
        return [(x, t, None)], [t], table, dict(blockSize=bs)
    if opcode in ("BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND"):
        spatial = int(rng.integers(1, 3))
        block = [int(rng.integers(1, 4)) for _ in range(spatial)]
        space = [int(rng.integers(2, 5)) for _ in range(spatial)]
        c = int(rng.integers(1, 4))
        if opcode == "BATCH_TO_SPACE_ND":
            pads = [[int(rng.integers(0, b)), int(rng.integers(0, b))] for b in block]
            x = (int(np.prod(block)) * int(rng.integers(1, 3)), *space, c)
        else:
            pads = []
            for b, s in zip(block, space):
                p0 = int(rng.integers(0, 3))
                pads.append([p0, (-(s + p0)) % b + b * int(rng.integers(0, 2))])
            x = (int(rng.integers(1, 3)), *space, c)
        return ([(x, t, None), ((spatial,), "int32", _i32(block)),
                 ((spatial, 2), "int32", _i32(pads))], [t], None, {})
    if opcode in ("SPLIT", "SPLIT_V"):
        x = list(_rand_shape(rng, 1, 5, 1, 4))
        axis = int(rng.integers(0, len(x)))
        n = int(rng.integers(1, 4))
        if opcode == "SPLIT":
            x[axis] = n * int(rng.integers(1, 3))
            a = axis - len(x) if rng.random() < 0.4 else axis
            return ([((), "int32", _i32(a)), (tuple(x), t, None)], [t] * n, "SplitOptions",
                    dict(numSplits=n))
        sizes = [int(v) for v in rng.integers(0, 3, n)]
        x[axis] = sum(sizes)
        if rng.random() < 0.5:
            sizes[int(rng.integers(n))] = -1
        return ([(tuple(x), t, None), ((n,), "int32", _i32(sizes)), ((), "int32", _i32(axis))],
                [t] * n, "SplitVOptions", dict(numSplits=n))
    if opcode == "UNPACK":
        x = _rand_shape(rng, 1, 4, 1, 4)
        axis = int(rng.integers(-len(x), len(x)))
        return [(x, t, None)], [t] * x[axis], "UnpackOptions", dict(num=x[axis], axis=axis)
    if opcode == "PACK":
        x = _rand_shape(rng, 1, 4, 1, 3)
        n = int(rng.integers(1, 4))
        axis = int(rng.integers(-len(x) - 1, len(x) + 1))
        return [(x, t, None)] * n, [t], "PackOptions", dict(valuesCount=n, axis=axis)
    if opcode == "GATHER":
        x = _rand_shape(rng, 1, 5, 1, 4)
        axis = int(rng.integers(0, len(x)))
        bd = int(rng.integers(0, axis + 1))
        it = str(rng.choice(["int16", "int32", "int64"]))
        shape = x[:bd] + _rand_shape(rng, 1, 4, 0, 2)
        idx = rng.integers(0, x[axis], shape).astype(it)
        return ([(x, t, None), (shape, it, idx)], [t], "GatherOptions",
                dict(axis=axis - len(x) if rng.random() < 0.3 else axis, batchDims=bd))
    if opcode == "GATHER_ND":
        x = _rand_shape(rng, 1, 5, 1, 4)
        depth = int(rng.integers(1, len(x) + 1))
        it = str(rng.choice(["int16", "int32", "int64"]))
        lead = _rand_shape(rng, 1, 4, 1, 2)
        idx = np.stack([rng.integers(0, d, lead) for d in x[:depth]], -1).astype(it)
        return [(x, t, None), (idx.shape, it, idx)], [t], None, {}
    if opcode == "ZEROS_LIKE":
        return [(_rand_shape(rng, 1, 5), t, None)], [t], None, {}
    if opcode == "FILL":
        dims = _rand_shape(rng, 1, 5, 1, 3)
        it = str(rng.choice(["int32", "int64"]))
        return [((len(dims),), it, np.array(dims, it)), ((), t, None)], [t], None, {}
    if opcode == "SHAPE":
        out = str(rng.choice(["int32", "int64"]))
        x = _rand_shape(rng, 1, 5, 1, 5)
        return [(x, t, None)], [out], "ShapeOptions", dict(outType=TYPE_CODES[out])
    raise AssertionError(opcode)


def _probe_shapes(opcode, inputs, outs, table, values):  # type: ignore[no-untyped-def]
    """The model with the output shapes the reference's Prepare gives it (written first with
    placeholder shapes: of the data input's rank, which SLICE's Prepare insists on, else 1-D)."""
    ranks = dict.fromkeys([len(next(s for s, _, d in inputs if d is None)), 1])
    for rank in ranks:
        first = single_op(opcode, inputs, [((1,) * rank, t) for t in outs], table, **values)
        try:
            shapes = [s for _, s in ReferenceInterpreter(first, "litert").outputs]
            break
        except TinyDeployError:
            if rank == list(ranks)[-1]:
                raise
    return single_op(opcode, inputs, list(zip(shapes, outs)), table, **values)


def typed_model(opcode: str, dtype: str, seed: int = 0) -> Path:
    """A random `opcode` node of `dtype` (the type its lowering is keyed by), cached on disk."""
    def build() -> bytes:
        rng = np.random.default_rng(seed + 1000 * sorted(SEEDS).index(opcode))
        return _probe_shapes(opcode, *_typed_case(opcode, dtype, rng))

    return cached_tflite(f"typed-{opcode}-{dtype}-{seed}", build, Path(__file__))


def _typed_models() -> list[tuple[Path, str]]:
    out = []
    for opcode in sorted(SEEDS):
        if opcode == "CAST":
            continue
        spec = get_spec(opcode)
        for dtype in sorted({a for a, _ in spec.lowerings}):
            out.append((typed_model(opcode, dtype), f"{opcode} {dtype}"))
    return out


def _cast_models() -> list[tuple[Path, str]]:
    types = sorted({a for a, _ in get_spec("CAST").lowerings})
    out = []
    for a in types:
        for b in types:
            def build(a=a, b=b) -> bytes:  # type: ignore[no-untyped-def]
                return single_op("CAST", [((2, 3, 5), a, None)], [((2, 3, 5), b)])
            out.append((cached_tflite(f"cast-{a}-{b}", build, Path(__file__)), f"CAST {a}->{b}"))
    return out


def test_every_keyed_type():
    """Every type each operator is keyed for, one random node each, compiles (the validator's
    shape rules agree with the reference's Prepare) and equals the reference. (CAST's pairs:
    test_gather_indices_and_cast_edges_on_the_host.)"""
    made = _typed_models()
    assert len(made) > 120
    assert_host_bitexact([p for p, _ in made], count=3, describe=[d for _, d in made])


def test_typed_models_stay_inside_their_tensors():
    """The same models built with AddressSanitizer, UBSan (alignment included) and the write
    checks: no kernel reads or writes outside its tensors."""
    made = _typed_models()
    models, cases, expected = reference_cases([p for p, _ in made], 1)
    run = run_checked(models, cases)
    assert run.ok, run.report
    for (i, _, _), got, want in zip(cases, run.outputs, expected):
        assert _same(got, want), made[i][1]


# ---- STRIDED_SLICE: every mask ----

def _slice_spec(rng: np.random.Generator):  # type: ignore[no-untyped-def]
    x = _rand_shape(rng, 1, 6, 1, 4)
    cnt = int(rng.integers(1, len(x) + 2))
    b, e = _i32(rng.integers(-7, 7, cnt)), _i32(rng.integers(-7, 7, cnt))
    s = _i32(rng.choice([1, 1, 2, 3, -1, -2], cnt))
    opts = dict(beginMask=int(rng.integers(0, 1 << cnt)), endMask=int(rng.integers(0, 1 << cnt)),
                ellipsisMask=(1 << int(rng.integers(0, cnt))) if rng.random() < 0.3 else 0,
                newAxisMask=int(rng.integers(0, 1 << cnt)) if rng.random() < 0.3 else 0,
                shrinkAxisMask=int(rng.integers(0, 1 << cnt)) if rng.random() < 0.3 else 0,
                offset=bool(rng.random() < 0.15))
    if opts["offset"]:
        e = _i32(rng.integers(0, 4, cnt))
    t = str(rng.choice(["int8", "int16", "float32", "int32", "bool"]))
    return [(x, t, None), ((cnt,), "int32", b), ((cnt,), "int32", e), ((cnt,), "int32", s)], \
        [t], "StridedSliceOptions", opts


def test_strided_slice_masks():
    """Random begin/end/strides with begin, end, ellipsis, new-axis and shrink masks and offset:
    wherever LiteRT's Prepare gives a shape, the engine either compiles the node to the same
    shape and the same values or refuses it in one line (where LiteRT would read past the end
    tensor or leave part of its output unwritten)."""
    rng = np.random.default_rng(11)
    paths, described, refused = [], [], 0
    for k in range(110):
        case = _slice_spec(rng)

        def build(case=case) -> bytes:  # type: ignore[no-untyped-def]
            return _probe_shapes("STRIDED_SLICE", *case)

        desc = f"{case[0][0][0]} b={case[0][1][2].tolist()} e={case[0][2][2].tolist()} " \
               f"s={case[0][3][2].tolist()} {case[3]}"
        try:
            path = cached_tflite(f"ss-{k}", build, Path(__file__))
            ReferenceInterpreter(path, "litert").run([np.zeros(case[0][0][0], case[1][0])])
        except Exception:  # noqa: BLE001 - a spec LiteRT itself refuses
            continue
        try:
            cm = compile_model(path)
        except TinyDeployError as exc:
            assert "\n" not in exc.problem and "STRIDED_SLICE" in exc.problem
            refused += 1
            continue
        if len(cm.output_tensors[0].shape) <= 6:
            paths.append(path)
            described.append(desc)
    assert len(paths) > 70 and refused < 25, (len(paths), refused)
    assert_host_bitexact(paths, count=2, describe=described)


# ---- run-time indices ----

def _gather_runtime_models() -> list[tuple[Path, str, np.ndarray]]:
    """Embedding lookups (constant params, run-time indices) and their index ranges."""
    out = []
    for k, (op, pt, it) in enumerate([("GATHER", "int8", "int32"), ("GATHER", "float32", "int64"),
                                      ("GATHER", "int16", "int16"), ("GATHER_ND", "int8", "int32"),
                                      ("GATHER_ND", "int32", "int64")]):
        rng = np.random.default_rng(k)
        params = rng.integers(-100, 100, (7, 3, 4)).astype(pt)
        idx_shape = (5,) if op == "GATHER" else (4, 2)
        opts = ("GatherOptions", dict(axis=0 if k else 1)) if op == "GATHER" else (None, {})
        case = ([((7, 3, 4), pt, params), (idx_shape, it, None)], [pt], *opts)

        def build(case=case, op=op) -> bytes:  # type: ignore[no-untyped-def]
            return _probe_shapes(op, *case)

        limit = np.array([7, 3] if op == "GATHER_ND" else [params.shape[opts[1]["axis"]]])
        out.append((cached_tflite(f"gather-rt-{k}", build, Path(__file__)),
                    f"{op} {pt} params, {it} indices", limit))
    return out


def _valid_indices(path: Path, limit: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    t = compile_model(path).input_tensors[0]
    if t.shape[-1] == len(limit) and len(limit) > 1:
        return [np.stack([rng.integers(0, m, t.shape[:-1]) for m in limit], -1).astype(t.dtype)]
    return [rng.integers(0, limit[0], t.shape).astype(t.dtype)]


EDGE_FLOATS = np.array([np.nan, np.inf, -np.inf, 1e10, -1e10, 3e9, -3e9, 2147483520.0,
                        2147483648.0, -2147483648.0, 9.3e18, -9.3e18, 40000.5, -40000.5, 300.7,
                        -300.2, 255.9, 256.1, 127.9, 128.0, -128.9, -129.0, 2.5, -2.5, 0.5, -0.0,
                        1.0, 0.0, 65535.9, 32767.5], np.float32)
EDGE_INTS = [1, 255, 256, 127, 128, 32767, 32768, 65535, 65536, 2 ** 31 - 1, -(2 ** 31),
             2 ** 24 + 1, 2 ** 31 + 2 ** 8, -(2 ** 24) - 1, -129, -128, -2, -1, 100, -100, 1000,
             -1000, 77, 3, 0]


def _edge_values(dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    """30 values at the edges of every cast from `dtype`."""
    if dtype == "float32":
        x = EDGE_FLOATS
    elif dtype == "bool":
        x = np.arange(30) % 2
    else:
        info = np.iinfo(dtype)
        x = np.array([int(info.min), int(info.max), int(info.min) + 1, int(info.max) - 1, 0]
                     + EDGE_INTS, np.int64).astype(np.uint64 if info.min == 0 else np.int64)
    return np.asarray(x).astype(dtype).reshape(shape)


def _custom_cases(cast_pairs: str = "all") -> tuple[list[Path], list[str], list]:
    """Models whose inputs must be chosen (run-time gather indices in range, cast edge values):
    paths, descriptions and (model index, inputs) cases. cast_pairs "wide": only casts from or
    to float32 or int64 (where a Cortex-M converts through library calls or the FPU)."""
    paths, described, cases = [], [], []
    rng = np.random.default_rng(3)
    for p, d, limit in _gather_runtime_models():
        for _ in range(3):
            cases.append((len(paths), _valid_indices(p, limit, rng)))
        paths.append(p)
        described.append(d)
    for p, d in _cast_models():
        if cast_pairs == "wide" and "float32" not in d and "int64" not in d:
            continue
        t = compile_model(p).input_tensors[0]
        cases.append((len(paths), [_edge_values(t.dtype, t.shape)]))
        paths.append(p)
        described.append(d)
    return paths, described, cases


def _bits(got: list[np.ndarray], want: list[np.ndarray]) -> bool:
    """Byte for byte (NaN equals the same NaN)."""
    return len(got) == len(want) and all(
        np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b, a.dtype).tobytes()
        for a, b in zip(got, want))


def test_gather_indices_and_cast_edges_on_the_host():
    """Run-time gather indices in range, and NaN, infinities, values past every integer range,
    halves, negative zero and each integer type's extremes through every cast: byte for byte
    the reference's."""
    paths, described, cases = _custom_cases()
    models = [compile_model(p, prefix=f"m{i}") for i, p in enumerate(paths)]
    refs = [ReferenceInterpreter(p) for p in paths]
    lib = HostLibrary(models)
    for i, inputs in cases:
        assert _bits(lib.run(i, inputs), refs[i].run(inputs)), described[i]


def test_gather_indices_out_of_range():
    """Where LiteRT fails the invocation (a negative index, one past the axis, a GATHER_ND slice
    outside params) the kernels write zeros, inside their tensors (the checked build)."""
    made = _gather_runtime_models()
    models = [compile_model(p, prefix=f"m{i}") for i, (p, _, _) in enumerate(made)]
    bad = [(i, [np.full(m.input_tensors[0].shape, v, m.input_tensors[0].dtype)], True)
           for i, m in enumerate(models) for v in (-1, 7, 30000)]
    run = run_checked(models, bad)
    assert run.ok, run.report
    assert all(not np.any(out[0]) for out in run.outputs)


# ---- BROADCAST_ARGS: shapes at run time and constant ones ----

def _broadcast_args_written(dtype: str) -> bytes:
    """Two nodes: a shape given at run time broadcast with a constant one (the kernel), and two
    constant shapes (computed by the compiler)."""
    from tinydeploy.tflite_writer import Op, T, build

    c1, c2 = np.array([3, 1, 4], dtype), np.array([2, 1, 1, 1], dtype)
    tensors = [T((2,), dtype), T((3,), dtype, data=c1), T((3,), dtype), T((4,), dtype, data=c2),
               T((4,), dtype)]
    ops = [Op("BROADCAST_ARGS", [0, 1], [2]), Op("BROADCAST_ARGS", [1, 3], [4])]
    return build(tensors, ops, [0], [2, 4])


def _broadcast_args_cases() -> tuple[list[Path], list[str], list]:
    """Random SHAPE -> BROADCAST_ARGS models (the generator's: int32 and int64, the constant
    shape longer and shorter than the input's rank) on random inputs, and the written pair on
    chosen shapes (1s on either side, a 0, sizes that meet 1s): paths, descriptions and
    (model index, inputs) cases."""
    paths, described, cases = [], [], []
    rng = np.random.default_rng(8)
    for seed in range(6):
        p, d = op_model("BROADCAST_ARGS", seed, ["int8", "float32"][seed % 2])
        t = compile_model(p).input_tensors[0]
        for _ in range(2):
            x = (rng.normal(0, 1, t.shape) if t.dtype == "float32" else
                 rng.integers(-128, 128, t.shape))
            cases.append((len(paths), [x.astype(t.dtype)]))
        paths.append(p)
        described.append(d)
    for dtype in ("int32", "int64"):
        p = cached_tflite(f"broadcast-args-{dtype}", lambda d=dtype: _broadcast_args_written(d),
                          Path(__file__))
        for shape in ([1, 1], [5, 4], [1, 4], [0, 1], [7, 1]):
            cases.append((len(paths), [np.array(shape, dtype)]))
        paths.append(p)
        described.append(f"BROADCAST_ARGS {dtype} with a run-time and a constant shape")
    return paths, described, cases


def test_broadcast_args_on_the_host():
    """Run-time shapes through the kernel and constant ones computed by the compiler equal the
    reference's, also in the sanitized write-checked build; constant shapes that do not
    broadcast (TFLite aborts) and shapes of another type are one-line errors."""
    from tinydeploy.tflite_writer import Op, T, build

    paths, described, cases = _broadcast_args_cases()
    models = [compile_model(p, prefix=f"m{i}") for i, p in enumerate(paths)]
    refs = [ReferenceInterpreter(p) for p in paths]
    lib = HostLibrary(models)
    for i, inputs in cases:
        assert _bits(lib.run(i, inputs), refs[i].run(inputs)), described[i]
    assert compile_model(paths[-1]).layers[1].func == "td_remap"  # computed, then written
    run = run_checked(models, [(i, x, True) for i, x in cases])
    assert run.ok, run.report
    bad = [build([T((2,), "int32", data=np.array([3, 4], np.int32)),
                  T((1,), "int32", data=np.array([2], np.int32)), T((2,), "int32"),
                  T((2,), "int32"), T((2,), "int32")],
                 [Op("BROADCAST_ARGS", [0, 1], [2]), Op("ADD", [2, 3], [4], "AddOptions", {})],
                 [3], [4]),
           build([T((2,), "int16"), T((2,), "int16"), T((2,), "int16")],
                 [Op("BROADCAST_ARGS", [0, 1], [2])], [0, 1], [2])]
    for data, message in zip(bad, ("do not broadcast", "not supported for these types")):
        with pytest.raises(TinyDeployError) as info:
            compile_model(data)
        assert "node 0 (BROADCAST_ARGS)" in str(info.value) and message in str(info.value)
        assert "\n" not in str(info.value)


# ---- a PyTorch-style model ----

def _pytorch_style(side: int) -> bytes:
    """NCHW input (as a PyTorch export gives it): transposed to NHWC first, then a small
    classifier, with a channel slice, a depth-to-space and a reversal on the way."""
    import keras
    import tensorflow as tf

    from tinydeploy.quantize import quantize_int8

    keras.utils.set_random_seed(21)
    L = keras.layers
    x = keras.Input((3, side, side), batch_size=1)
    y = L.Lambda(lambda t: tf.transpose(t, [0, 2, 3, 1]))(x)
    y = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(y)
    y = L.DepthwiseConv2D(3, padding="same", activation="relu")(y)
    y = L.Conv2D(12, 1, activation="relu")(y)
    y = L.MaxPooling2D(2)(y)
    y = L.Lambda(lambda t: tf.reverse(tf.nn.depth_to_space(t[:, :, :, :8], 2), [2]))(y)
    y = L.GlobalAveragePooling2D()(y)
    y = L.Dense(10)(y)
    m = keras.Model(x, L.Softmax()(y))
    return quantize_int8(m, np.random.default_rng(21).normal(0, 1, (64, 3, side, side)))


@pytest.mark.parametrize("side,boards", [(32, ("qemu-m4", "qemu-m3")), (16, ("qemu-m0",))])
def test_pytorch_style_nchw_model(side, boards):
    """3x32x32 NCHW compiles with TRANSPOSE first and runs bit-exact on the host, on a Cortex-M4
    (DSP kernels) and a Cortex-M3 (portable C; the input and its NHWC copy alone fill most of a
    16 KB Cortex-M0), and a 3x16x16 one on the Cortex-M0."""
    path = cached_tflite(f"pytorch-style-nchw-{side}", lambda: _pytorch_style(side),
                         Path(__file__))
    cm = compile_model(path)
    assert cm.layers[0].op.opcode == "TRANSPOSE"
    assert tuple(cm.input_tensors[0].shape) == (1, 3, side, side)
    opcodes = {lay.op.opcode for lay in cm.layers}
    assert {"TRANSPOSE", "STRIDED_SLICE", "DEPTH_TO_SPACE", "REVERSE_V2"} <= opcodes, opcodes
    assert_host_bitexact([path], count=10)
    assert_qemu_bitexact([path], boards, count=3)


# ---- everything in QEMU ----

@pytest.mark.parametrize("board", BOARDS)
def test_models_in_qemu(board):
    """On a simulated Cortex-M4 and Cortex-M0, in a few firmware images: the int8 models (two
    per operator) and a 16x8 one, each operator's int16 and float32 (whose rows move as halfwords
    and words: alignment matters on a Cortex-M0), run-time gather indices, the casts from or to
    float32 and int64 at the edges of each type, and BROADCAST_ARGS on run-time shapes."""
    made = [m for op in sorted(SEEDS) for m in _made(op, min(SEEDS[op], 2))] + _made16(1)
    made += [(p, d) for p, d in _typed_models() if d.split()[1] in ("int16", "float32")]
    models, cases, expected = reference_cases([p for p, _ in made], 2)
    described = [d for _, d in made]
    paths, more, custom = _custom_cases("wide")
    base = len(models)
    for i, p in enumerate(paths):
        models.append(compile_model(p, prefix=f"m{base + i}"))
        ref = ReferenceInterpreter(p)
        for k, inputs in enumerate(x for j, x in custom if j == i):
            cases.append((base + i, inputs, k == 0))
            expected.append(ref.run(inputs))
    described += more
    paths, more, custom = _broadcast_args_cases()
    base = len(models)
    for i, p in enumerate(paths):
        models.append(compile_model(p, prefix=f"m{base + i}"))
        ref = ReferenceInterpreter(p)
        for k, inputs in enumerate(x for j, x in custom if j == i):
            cases.append((base + i, inputs, k == 0))
            expected.append(ref.run(inputs))
    described += more
    with tempfile.TemporaryDirectory(prefix="td-batch-") as work:
        result = run_batch(models, cases, get_board(board), Path(work))
    for (i, _, _), got, want in zip(cases, result.outputs, expected):
        assert _bits(got, want), f"{described[i]} on {board}"
