"""The element-wise math operators (tinydeploy/ops/binary.py, compare.py, logical.py, unary.py)
and CUMSUM (cumsum.py) against TFLite's reference kernels, bit for bit: random single-op models of
every operator and type (TensorFlow writes them; a few the converter never emits are written
directly), on the host and on a simulated Cortex-M4 and Cortex-M0; rounding, floor division and
cumulative sums at their edges; every int8 table over all 256 input values; int8 DIV over every
pair of bytes; the tables' float functions against the C library's."""

import ctypes
import ctypes.util
import math

import numpy as np
import pytest
from opgen import op_model
from ophelp import assert_host_bitexact, assert_qemu_bitexact

from tinydeploy.compare import Agreement
from tinydeploy.compiler import compile_model
from tinydeploy.errors import TinyDeployError
from tinydeploy.host_runner import HostModel
from tinydeploy.ops import intmath as im
from tinydeploy.reference import ReferenceInterpreter
from tinydeploy.tflite_reader import parse_model
from tinydeploy.tflite_writer import Op, T, build, pack, unpack
from tinydeploy.verify import random_inputs

COMPARISONS = ("EQUAL", "NOT_EQUAL", "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL")
NUMERIC = {"int8": 4, "int32": 2, "float32": 2}

# operator -> {model type: random models}; "int8" is a full-integer model, "float32", "int32"
# and "bool" unquantized ones. int8 ADD_N and SQUARE models run the float op between DEQUANTIZE
# and QUANTIZE: TFLite has no int8 kernel for them.
CASES: dict[str, dict[str, int]] = {
    "SUB": {"int8": 6, "int32": 2, "float32": 3}, "DIV": {"int8": 6, "int32": 2, "float32": 3},
    "MAXIMUM": NUMERIC, "MINIMUM": NUMERIC, "SQUARED_DIFFERENCE": NUMERIC,
    "PRELU": {"int8": 4, "float32": 2}, "ADD_N": {"float32": 3, "int32": 2, "int8": 1},
    **{op: {**NUMERIC, **({"bool": 2} if op in ("EQUAL", "NOT_EQUAL") else {})}
       for op in COMPARISONS},
    "SELECT": {"int8": 2, "int32": 1, "float32": 1, "bool": 1},
    "SELECT_V2": {"int8": 3, "int32": 2, "float32": 2, "bool": 2},
    "LOGICAL_AND": {"bool": 3}, "LOGICAL_OR": {"bool": 3}, "LOGICAL_NOT": {"bool": 2},
    "ABS": {"int8": 3, "float32": 1, "int32": 2}, "NEG": {"int8": 2, "float32": 1, "int32": 2},
    "SQRT": {"int8": 3, "float32": 2}, "RSQRT": {"int8": 3, "float32": 2},
    "EXP": {"int8": 3}, "LOG": {"int8": 3}, "ELU": {"int8": 3}, "GELU": {"int8": 4},
    "LEAKY_RELU": {"int8": 3, "float32": 2}, "RELU_N1_TO_1": {"int8": 3, "float32": 1},
    "RELU_0_TO_1": {"int8": 3, "float32": 1}, "SQUARE": {"float32": 2, "int8": 1},
    "FLOOR": {"float32": 2}, "CEIL": {"float32": 2}, "ROUND": {"float32": 2},
    "COS": {"float32": 2}, "SIN": {"float32": 2},
    "FLOOR_DIV": {"float32": 4, "int32": 4}, "FLOOR_MOD": {"float32": 4, "int32": 4},
    "CUMSUM": {"float32": 4, "int32": 3, "int64": 3, "int8": 5},
}
# where the int8 model runs the op in float (no int8 kernel)
FLOAT_INSIDE = {("ADD_N", "int8"), ("SQUARE", "int8")}


def _made(opcode: str, qtype: str, count: int) -> list[tuple]:
    """The models, each checked to hold the operator itself (not a decomposition) with inputs
    of the type asked for."""
    made = [op_model(opcode, s, qtype) for s in range(count)]
    want = "float32" if (opcode, qtype) in FLOAT_INSIDE else qtype
    for path, desc in made:
        g = parse_model(path.read_bytes()).main
        ops = [op for op in g.operators if op.opcode == opcode]
        assert ops, f"{desc}: the model holds {[op.opcode for op in g.operators]}, no {opcode}"
        value = 1 if opcode.startswith("SELECT") else 0
        assert g.tensors[ops[0].inputs[value]].dtype == want, f"{desc}: {opcode} is not {want}"
    return made


@pytest.mark.parametrize("opcode", sorted(CASES))
def test_random_models_on_the_host(opcode):
    made = [m for qtype, n in CASES[opcode].items() for m in _made(opcode, qtype, n)]
    assert_host_bitexact([p for p, _ in made], count=8, describe=[d for _, d in made])


# ---- rounding, floor division and cumulative sums at their edges ----

I32 = np.iinfo(np.int32)
ROUNDING_X = np.array([-2.5, -1.5, -0.5, -0.3, -0.0, 0.0, 0.3, 0.5, 1.5, 2.5, 3.5, 0.49999997,
                       -0.49999997, 2.4999998, 1e-40, -1e-40, 8388607.5, -8388607.5, 8388609.0,
                       1e30, -1e30, np.inf, -np.inf, np.nan, 100.7, -100.7, 3e4, -3e5, 1e7],
                      np.float32)
FLOOR_INT = (np.array([I32.min, I32.min, I32.max, I32.max, -7, 7, -7, 7, 0, -6, 6, I32.min + 1,
                       -1, 1, 123456789, -123456789, 5, -5], np.int32),
             np.array([-1, 1, -1, I32.min, 2, -2, -2, 2, -3, 3, -3, I32.min, I32.max, I32.min,
                       -1000, 1000, 5, 5], np.int32))
FLOOR_FLOAT = (np.array([-7, 7, -7, 7, 0, -0.0, 6, -6, 1e30, -1e30, 1e-30, 5.5, -5.5, np.inf, 3,
                         0.1, -0.1, 1e-40, 1, 16777217, 3.0000002], np.float32),
               np.array([2, -2, -2, 2, -3, 3, -3, 3, 1e-30, 1e-30, 1e30, np.inf, np.inf, 2, -np.inf,
                         0.03, 0.03, 3, 1e-40, 0.1, -0.1], np.float32))


def _edge_models() -> list[tuple[bytes, list[np.ndarray], str]]:
    """Written models with chosen inputs: FLOOR, CEIL and ROUND at ties, signed zeros, the ends
    of float32's integers, infinities and NaN; COS and SIN far from 0; FLOOR_DIV and FLOOR_MOD
    at every sign combination, exact multiples, the int32 extremes and float quotients past
    float32's range, and with a divisor broadcast along rows (INT32_MIN // -1 gives INT32_MIN,
    TFLite's double 2^31 converted on x86; FLOOR_MOD leaves that pair out: TFLite traps); CUMSUM
    over a batch of 2, 3 and 7 along negative and positive axes, exclusive and reverse, with
    integer sums that wrap, and int8 ones at extreme zero points whose int32 sums wrap."""
    out = []
    n = ROUNDING_X.size
    for op in ("FLOOR", "CEIL", "ROUND", "COS", "SIN"):
        data = build([T((1, n), "float32"), T((1, n), "float32")], [Op(op, [0], [1])], [0], [1])
        out.append((data, [ROUNDING_X.reshape(1, n)], f"{op.lower()} of chosen values"))
    for op in ("FLOOR_DIV", "FLOOR_MOD"):
        for a, b in (FLOOR_INT[0][1:] if op == "FLOOR_MOD" else FLOOR_INT[0],
                     FLOOR_INT[1][1:] if op == "FLOOR_MOD" else FLOOR_INT[1]), FLOOR_FLOAT:
            dt = str(a.dtype)
            shape = (1, a.size)
            data = build([T(shape, dt), T(shape, dt), T(shape, dt)], [Op(op, [0, 1], [2])],
                         [0, 1], [2])
            out.append((data, [a.reshape(shape), b.reshape(shape)], f"{op.lower()} {dt} chosen"))
        rng = np.random.default_rng(len(op))
        a = rng.integers(-50, 50, (3, 4, 5)).astype(np.int32)
        b = (rng.integers(1, 7, (1, 1, 5)) * rng.choice([-1, 1], (1, 1, 5))).astype(np.int32)
        data = build([T(a.shape, "int32"), T(b.shape, "int32"), T(a.shape, "int32")],
                     [Op(op, [0, 1], [2])], [0, 1], [2])
        out.append((data, [a, b], f"{op.lower()} int32 broadcast divisor"))
    rng = np.random.default_rng(5)
    for dt, shape, axis, exclusive, reverse in (
            ("float32", (2, 3, 4), -1, True, True), ("float32", (2, 3, 4), 0, False, True),
            ("int32", (2, 5, 3), 1, True, False), ("int64", (3, 1, 4), -3, True, True),
            ("float32", (7,), 0, True, False)):
        x = (rng.normal(0, 1, shape) if dt == "float32" else
             rng.integers(np.iinfo(dt).min, np.iinfo(dt).max, shape, dtype=dt)).astype(dt)
        data = build([T(shape, dt), T((), "int32", data=np.array(axis, np.int32)), T(shape, dt)],
                     [Op("CUMSUM", [0, 1], [2], "CumsumOptions",
                         {"exclusive": exclusive, "reverse": reverse})], [0], [2])
        out.append((data, [x], f"cumsum {dt} {shape} axis={axis} exclusive={exclusive} "
                               f"reverse={reverse}"))
    for zi, zo, fill, exclusive in ((-127, 5, 127, False), (127, 0, -128, True)):
        shape = (2, 300)  # int8 sums that pass 2^31 and wrap
        x = np.full(shape, fill, np.int8)
        x[1] = rng.integers(-128, 128, 300)
        data = build([T(shape, "int8", scale=[0.1], zero_point=[zi]),
                      T((), "int32", data=np.array(-1, np.int32)),
                      T(shape, "int8", scale=[0.05], zero_point=[zo])],
                     [Op("CUMSUM", [0, 1], [2], "CumsumOptions",
                         {"exclusive": exclusive, "reverse": not exclusive})], [0], [2])
        out.append((data, [x], f"cumsum int8 {shape} zero points {zi}->{zo} wrapping"))
    return out


def test_edges_on_the_host_bit_for_bit():
    """FLOOR, CEIL, ROUND, FLOOR_DIV, FLOOR_MOD and CUMSUM equal TFLite's bits (ROUND's -0.5 is
    +0); COS and SIN within the stated tolerance (the C library's last bit)."""
    for data, inputs, what in _edge_models():
        ref = ReferenceInterpreter(data)
        cm = compile_model(data, rounding="tflm" if ref.name == "tflm" else "tflite")
        got, want = HostModel(cm).run(inputs)[0], ref.run(inputs)[0].reshape(inputs[0].shape)
        if what.startswith(("cos", "sin")):
            assert Agreement().add([got], [want]), f"{what}: {got} vs {want}"
        else:
            np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8), what)


@pytest.mark.parametrize("board", ["qemu-m4", "qemu-m0"])
def test_random_models_in_qemu(board):
    """One model of every operator and type, and the edge models, on a simulated Cortex-M4 and
    Cortex-M0."""
    made = [m for op in sorted(CASES) for qtype in CASES[op] for m in _made(op, qtype, 1)]
    edges = _edge_models()
    inputs = [lambda cm, i: random_inputs(cm, 3, seed=i)] * len(made)
    inputs += [lambda cm, i, xs=xs: [xs] for _, xs, _ in edges]
    assert_qemu_bitexact([p for p, _ in made] + [d for d, _, _ in edges], (board,),
                         describe=[d for _, d in made] + [w for _, _, w in edges],
                         inputs=inputs)


def test_models_cover_the_broadcasts_and_activations():
    """The random binary models include every broadcast kind and every fused activation."""
    descs = " ".join(d for op in ("SUB", "DIV", "MAXIMUM", "LESS", "SQUARED_DIFFERENCE")
                     for q, n in CASES[op].items() for _, d in _made(op, q, n))
    for kind in ("(same)", "(channel)", "(row)", "(first)", "(rank)"):
        assert kind in descs, kind
    for act in ("act=none", "act=relu ", "act=relu6"):
        assert act in descs + " ", act


# ---- every int8 table, every byte ----

def _unary_model(opcode: str, sx: float, zx: int, sy: float, zy: int, **options) -> bytes:
    tensors = [T((1, 256), "int8", scale=[sx], zero_point=[zx]),
               T((1, 256), "int8", scale=[sy], zero_point=[zy])]
    opts = {"LEAKY_RELU": "LeakyReluOptions", "GELU": "GeluOptions"}.get(opcode)
    model = unpack(build(tensors, [Op(opcode, [0], [1], opts, options)], [0], [1]))
    model.operatorCodes[0].version = 2 if opcode == "ELU" else 1
    return pack(model)


UNARY_INT8 = ("ABS", "NEG", "SQRT", "RSQRT", "EXP", "LOG", "ELU", "GELU", "LEAKY_RELU",
              "RELU_N1_TO_1", "RELU_0_TO_1")


@pytest.mark.parametrize("opcode", UNARY_INT8)
def test_int8_tables_on_every_byte(opcode):
    """Each table over all 256 inputs, for several scales and zero points (SQRT and RSQRT
    inputs start at the zero point: TFLite refuses values below it)."""
    rng = np.random.default_rng(sum(map(ord, opcode)))
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    for trial in range(4):
        sx, sy = (float(np.float32(rng.uniform(0.003, 0.15))) for _ in range(2))
        zx, zy = int(rng.integers(-100, 100)), int(rng.integers(-100, 100))
        if opcode in ("SQRT", "RSQRT"):
            zx = -128
        options = {"alpha": float(rng.uniform(0, 1))} if opcode == "LEAKY_RELU" else \
            {"approximate": bool(trial % 2)} if opcode == "GELU" else {}
        data = _unary_model(opcode, sx, zx, sy, zy, **options)
        got = HostModel(compile_model(data)).run([x])[0]
        want = ReferenceInterpreter(data).run([x])[0]
        np.testing.assert_array_equal(got, want.reshape(got.shape),
                                      f"{opcode} scales {sx} {sy} zero points {zx} {zy}")


def test_int8_div_on_every_pair():
    """int8 DIV for every numerator byte and every divisor byte but the zero point, including
    the small numerators whose last shift LiteRT takes modulo 32 on x86."""
    rng = np.random.default_rng(11)
    for _ in range(2):
        s1, s2, so = (float(np.float32(rng.uniform(0.005, 0.2))) for _ in range(3))
        z1, z2, zo = (int(rng.integers(-100, 100)) for _ in range(3))
        divisors = [v for v in range(-128, 128) if v != z2]
        a = np.repeat(np.arange(-128, 128), len(divisors)).astype(np.int8).reshape(1, -1)
        b = np.tile(np.array(divisors), 256).astype(np.int8).reshape(1, -1)
        tensors = [T(a.shape, "int8", scale=[s], zero_point=[z]) for s, z in
                   ((s1, z1), (s2, z2), (so, zo))]
        data = build(tensors, [Op("DIV", [0, 1], [2], "DivOptions", {})], [0, 1], [2])
        got = HostModel(compile_model(data)).run([a, b])[0]
        np.testing.assert_array_equal(got, ReferenceInterpreter(data).run([a, b])[0])


# ---- the tables' float functions ----

def test_tables_do_not_depend_on_the_build_machines_libm():
    """EXP, LOG, ELU and GELU tables are computed without the C library (double precision
    rounded once to float32), yet equal what TFLite builds with expf, logf, expm1f, erfcf and
    tanhf, over many scales and zero points."""
    from tinydeploy.ops import unary

    libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
    for fn in ("expf", "logf", "expm1f", "erfcf", "tanhf"):
        getattr(libm, fn).restype = ctypes.c_float
        getattr(libm, fn).argtypes = [ctypes.c_float]
    f32 = np.float32

    def c(name):
        return lambda v: f32(getattr(libm, name)(float(v)))

    k = f32(unary.M_2_SQRTPI * unary.M_SQRT1_2)
    pairs = [
        (im.exp_f32, c("expf")),
        (lambda v: im.log_f32(v) if v > 0 else f32(-3),
         lambda v: c("logf")(v) if v > 0 else f32(-3)),
        (unary.elu_f32, lambda v: c("expm1f")(v) if v < 0 else v),
        (unary.gelu_f32, lambda v: f32(0.5) * v * c("erfcf")(v * f32(-unary.M_SQRT1_2))),
        (unary.gelu_tanh_f32, lambda v: f32(0.5) * v * (f32(1) + c("tanhf")(
            k * (v + f32(0.044715) * v * v * v)))),
    ]
    rng = np.random.default_rng(0)
    for _ in range(150):
        sx, sy = float(rng.uniform(0.001, 0.3)), float(rng.uniform(0.001, 0.3))
        zx, zy = int(rng.integers(-128, 128)), int(rng.integers(-128, 128))
        for ours, theirs in pairs:
            np.testing.assert_array_equal(im.lut_populate(sx, zx, sy, zy, ours),
                                          im.lut_populate(sx, zx, sy, zy, theirs))


def test_fixed_point_helpers_match_tflite_definitions():
    """The Python fixed point behind the DIV and RSQRT tables: gemmlowp's reciprocal is within a
    few units of 2^31 / x (Q0.31 of x's significand), TFLite's inverse square root within a few
    millionths of 1 / sqrt(x); RoundingDivideByPOT past 31 bits is x86's (shift mod 32)."""
    for x in range(1, 256):
        inv, bits = im.reciprocal(x)
        assert abs(inv - 2 ** (31 + bits) / x) < 8, x
    for x in range(2, 256):
        inv, shift = im.inv_sqrt_multiplier(x)
        assert abs(inv * 2.0 ** shift * math.sqrt(x) / 2 ** 31 - 1) < 2e-6, x
    assert im.rdbpot(-5, 1) == -3 and im.rdbpot(5, 1) == 3 and im.rdbpot(-4, 1) == -2
    assert im.rdbpot(100, 33) == 51  # 100 >> (33 mod 32), and the 64-bit mask rounds up


# ---- what the lowerings refuse ----

def _q(shape, scale, zp, dtype="int8"):
    return T(shape, dtype, scale=[scale], zero_point=[zp])


@pytest.mark.parametrize("case,message", [
    ("compare_scale", "needs a scale below 1"),
    ("div_range", "outside the int8 kernel's range"),
    ("leaky_negative", "alpha"),
    ("select_shapes", "condition"),
    ("logical_type", "takes bool"),
    ("cumsum_scale", "output scale too small"),
    ("cumsum_int16", "not supported for these types"),
])
def test_bad_nodes_are_one_line_errors(case, message):
    if case == "compare_scale":
        data = build([_q((1, 4), 2.0, 0), _q((1, 4), 0.1, 0), T((1, 4), "bool")],
                     [Op("LESS", [0, 1], [2])], [0, 1], [2])
    elif case == "div_range":
        data = build([_q((1, 4), 100.0, 0), _q((1, 4), 1e-3, 0), _q((1, 4), 1e-3, 0)],
                     [Op("DIV", [0, 1], [2], "DivOptions", {})], [0, 1], [2])
    elif case == "leaky_negative":
        data = build([_q((1, 4), 0.1, 0), _q((1, 4), 0.1, 0)],
                     [Op("LEAKY_RELU", [0], [1], "LeakyReluOptions", {"alpha": -0.5})], [0], [1])
    elif case == "select_shapes":
        data = build([T((3,), "bool"), _q((2, 3), 0.1, 0), _q((2, 3), 0.1, 0),
                      _q((2, 3), 0.1, 0)], [Op("SELECT", [0, 1, 2], [3])], [0, 1, 2], [3])
    elif case.startswith("cumsum"):
        dt, out_scale = ("int8", 1e-8) if case == "cumsum_scale" else ("int16", 0.1)
        data = build([_q((1, 4), 0.1, 0, dt), T((), "int32", data=np.array(1, np.int32)),
                      _q((1, 4), out_scale, 0, dt)],
                     [Op("CUMSUM", [0, 1], [2], "CumsumOptions", {})], [0], [2])
    else:
        data = build([T((1, 4), "bool"), T((1, 4), "int32"), T((1, 4), "bool")],
                     [Op("LOGICAL_AND", [0, 1], [2])], [0, 1], [2])
    with pytest.raises(TinyDeployError) as info:
        compile_model(data)
    assert "node 0" in str(info.value) and message in str(info.value)


def test_written_edge_cases():
    """What the converter does not write: a float PRELU whose alpha broadcasts, an int32 SUB
    with a constant operand (read in flash), SELECT with a vector condition along x's first
    dimension and with a scalar one."""
    rng = np.random.default_rng(3)
    cases = []
    alpha = np.array([0.25, -0.5], np.float32).reshape(1, 1, 2)
    cases.append((build([T((1, 3, 4, 2), "float32"), T((1, 1, 2), "float32", data=alpha),
                         T((1, 3, 4, 2), "float32")], [Op("PRELU", [0, 1], [2])], [0], [2]),
                  [rng.normal(0, 1, (1, 3, 4, 2)).astype(np.float32)]))
    c = np.arange(-3, 5, dtype=np.int32).reshape(1, 8)
    cases.append((build([T((1, 8), "int32"), T((1, 8), "int32", data=c), T((1, 8), "int32")],
                        [Op("SUB", [0, 1], [2], "SubOptions", {})], [0], [2]),
                  [rng.integers(-1000, 1000, (1, 8)).astype(np.int32)]))
    for cond_shape in ((3,), ()):
        q = {"scale": [0.1], "zero_point": [2]}
        cases.append((build([T(cond_shape, "bool"), T((3, 2, 4), "int8", **q),
                             T((3, 2, 4), "int8", **q), T((3, 2, 4), "int8", **q)],
                            [Op("SELECT", [0, 1, 2], [3])], [0, 1, 2], [3]),
                      [rng.integers(0, 2, cond_shape).astype(bool),
                       *[rng.integers(-128, 128, (3, 2, 4)).astype(np.int8) for _ in range(2)]]))
    for data, inputs in cases:
        got = HostModel(compile_model(data)).run(inputs)[0]
        np.testing.assert_array_equal(got, ReferenceInterpreter(data).run(inputs)[0])
