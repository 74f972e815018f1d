"""16x8 (int16 activations, int8 weights) and float32 for the pointwise operators (activations,
unary and binary math, QUANTIZE/DEQUANTIZE, PAD, CONCATENATION) against TFLite's reference kernels:
int16 bit for bit, float32 within compare.TOLERANCE (the largest errors are printed), on the host
and on a simulated Cortex-M4 (hard float) and Cortex-M0 (soft float). Random single-op models come
from the operators' generators (TensorFlow's 16x8 quantizer, or an unquantized conversion); TFLite's
int16 table kernels are checked on every int16 input; the paths the converter never writes (int16
ADD/SUB with power-of-two scales, PADV2, requantizations between types, a model mixing int8 and int16
layers) are written directly. Then the 16x8 quantize and train options of the CLI, and a 16x8
keyword spotter end to end (skipped until the engine compiles its convolutions in 16x8)."""

import json
import math

import numpy as np
import pytest
from opgen import op_model
from ophelp import assert_host_bitexact, assert_qemu_bitexact

from tinydeploy.cli import main
from tinydeploy.compare import TOLERANCE
from tinydeploy.compiler import compile_model
from tinydeploy.errors import TinyDeployError
from tinydeploy.host_runner import HostModel
from tinydeploy.reference import ReferenceInterpreter
from tinydeploy.tflite_reader import parse_model
from tinydeploy.tflite_writer import Op, T, build

INT16 = ("ADD", "SUB", "MUL", "LOGISTIC", "TANH", "RELU", "RELU6", "LEAKY_RELU", "ABS", "RSQRT",
         "EXP", "LOG", "GELU", "MAXIMUM", "MINIMUM", "PAD", "CONCATENATION")
FLOAT32 = ("ADD", "MUL", "RELU", "RELU6", "LOGISTIC", "TANH", "HARD_SWISH", "EXP", "LOG", "ELU",
           "GELU", "PAD", "CONCATENATION")
INT32 = ("ADD", "MUL")
# operator -> {model type: random models}
CASES: dict[str, dict[str, int]] = {}
for _types, _count in ((INT16, ("int16", 3)), (FLOAT32, ("float32", 2)), (INT32, ("int32", 2))):
    for _op in _types:
        CASES.setdefault(_op, {})[_count[0]] = _count[1]


def _made(opcode: str, qtype: str, count: int) -> list[tuple]:
    """`count` random models that hold the operator itself with inputs of the type asked for
    (seeds whose draw leaves the op out, such as a padding of zero, are skipped)."""
    found, seed = [], 0
    while len(found) < count:
        path, desc = op_model(opcode, seed, qtype)
        g = parse_model(path.read_bytes()).main
        ops = [op for op in g.operators if op.opcode == opcode]
        if ops and g.tensors[ops[0].inputs[0]].dtype == qtype:
            found.append((path, desc))
        seed += 1
        assert seed < count + 6, f"{opcode} {qtype}: seeds 0..{seed - 1} hold no such operator"
    return found


def _report(agreement, what: str) -> None:
    if agreement.float_outputs:
        print(f"{what}: largest float32 errors {agreement.max_abs_error:.3g} absolute, "
              f"{agreement.max_rel_error:.3g} relative ({TOLERANCE})")


@pytest.mark.parametrize("opcode", sorted(CASES))
def test_random_models_on_the_host(opcode):
    made = [m for qtype, n in CASES[opcode].items() for m in _made(opcode, qtype, n)]
    _report(assert_host_bitexact([p for p, _ in made], count=8, describe=[d for _, d in made]),
            f"{opcode} on the host")


# ---- models written directly: what the converter does not emit ----

def _q(shape, dtype, scale, zp=0, data=None):
    return T(shape, dtype, data=data, scale=[scale], zero_point=[zp])


def _binary16(opcode, s1, s2, so, shape1, shape2, pot, act=0):
    out = tuple(np.broadcast_shapes(shape1, shape2))
    opts = {"ADD": "AddOptions", "SUB": "SubOptions"}[opcode]
    return build([_q(shape1, "int16", s1), _q(shape2, "int16", s2), _q(out, "int16", so)],
                 [Op(opcode, [0, 1], [2], opts, {"potScaleInt16": pot,
                                                 "fusedActivationFunction": act})], [0, 1], [2])


def _pot_models() -> list[tuple[bytes, str]]:
    """int16 ADD and SUB through TFLite's power-of-two path (pot_scale_int16 set, every scale a
    power of two, one input finer than the output) and, with the option set but a scale that is
    not a power of two, through the general path; with broadcasting (SUB) and fused ReLUs."""
    cases = [("ADD", 2 ** -12, 2 ** -14, 2 ** -12, (1, 4, 5, 3), (1, 4, 5, 3), 0),
             ("ADD", 2 ** -15, 2 ** -13, 2 ** -13, (1, 6, 7), (1, 6, 7), 1),
             ("SUB", 2 ** -11, 2 ** -13, 2 ** -11, (1, 4, 5, 3), (1, 1, 1, 3), 0),
             ("SUB", 2 ** -14, 2 ** -12, 2 ** -12, (2, 3, 8), (2, 3, 8), 3),
             ("ADD", 3e-4, 2 ** -13, 2 ** -12, (1, 4, 5, 3), (1, 1, 5, 3), 0),
             ("SUB", 2 ** -12, 1.7e-4, 4.1e-4, (1, 4, 5, 3), (5, 1), 1)]
    return [(_binary16(op, s1, s2, so, a, b, True, act),
             f"{op} {s1:.3g} {s2:.3g} -> {so:.3g} {a} {b} act {act} (pot_scale_int16)")
            for op, s1, s2, so, a, b, act in cases]


def _quantize_models() -> list[tuple[bytes, str]]:
    """QUANTIZE and DEQUANTIZE between float32, int8 and int16."""
    shape, out = (1, 4, 33), []
    pairs = [(T(shape, "float32"), _q(shape, "int16", 3e-4)),
             (_q(shape, "int16", 3e-4), T(shape, "float32")),
             (_q(shape, "int16", 2e-4, -7), T(shape, "float32")),
             (_q(shape, "int16", 3e-4), _q(shape, "int8", 0.05, 7)),
             (_q(shape, "int8", 0.05, 7), _q(shape, "int16", 3e-4)),
             (_q(shape, "int16", 3e-4), _q(shape, "int16", 7.1e-4)),
             (_q(shape, "int16", 3e-4), _q(shape, "int16", 1e-5))]
    for a, b in pairs:
        op = "DEQUANTIZE" if b.dtype == "float32" else "QUANTIZE"
        out.append((build([a, b], [Op(op, [0], [1])], [0], [1]),
                    f"{op} {a.dtype} {a.scale} -> {b.dtype} {b.scale}"))
    return out


def _pad_concat_models() -> list[tuple[bytes, str]]:
    """PADV2 with a constant pad value in int16, float32 and int32; int16 CONCATENATION of inputs
    on two scales (TFLite copies the raw values); int32 and bool CONCATENATION; int32 PAD."""
    pads = np.array([[0, 0], [1, 2], [0, 1], [2, 0]], np.int32)
    out = []
    for dtype, value, q in (("int16", np.array([-1234], np.int16), {"scale": [3e-4]}),
                            ("float32", np.array([-2.5], np.float32), {}),
                            ("int32", np.array([77], np.int32), {})):
        tq = dict(scale=q["scale"], zero_point=[0]) if q else {}
        out.append((build([T((1, 3, 4, 2), dtype, **tq), T((4, 2), "int32", data=pads),
                           T((), dtype, data=value.reshape(()), **tq),
                           T((1, 6, 5, 4), dtype, **tq)],
                          [Op("PADV2", [0, 1, 2], [3], "PadV2Options")], [0], [3]),
                    f"PADV2 {dtype} value {value[0]}"))
    out.append((build([T((1, 3, 4, 2), "int32"), T((4, 2), "int32", data=pads),
                       T((1, 6, 5, 4), "int32")], [Op("PAD", [0, 1], [2], "PadOptions")],
                      [0], [2]), "PAD int32"))
    out.append((build([_q((2, 3, 4), "int16", 1e-4), _q((2, 5, 4), "int16", 3e-4),
                       _q((2, 8, 4), "int16", 3e-4)],
                      [Op("CONCATENATION", [0, 1], [2], "ConcatenationOptions", {"axis": -2})],
                      [0, 1], [2]), "CONCATENATION int16 on two scales"))
    for dtype in ("int32", "bool"):
        out.append((build([T((3, 2), dtype), T((3, 5), dtype), T((3, 7), dtype)],
                          [Op("CONCATENATION", [0, 1], [2], "ConcatenationOptions",
                              {"axis": 1})], [0, 1], [2]), f"CONCATENATION {dtype}"))
    return out


def _mixed_model() -> tuple[bytes, str]:
    """int8 and int16 layers joined by QUANTIZE: int8 input -> int16 -> LOGISTIC (int16) ->
    int8 -> ADD with the input (int8); and the int16 branch -> DEQUANTIZE -> TANH (float32)."""
    s = (1, 5, 6, 3)
    tensors = [_q(s, "int8", 0.04, -3), _q(s, "int16", 2.5e-4), _q(s, "int16", 2 ** -15),
               _q(s, "int8", 1 / 256, -128), _q(s, "int8", 0.05, 2), T(s, "float32"),
               T(s, "float32")]
    ops = [Op("QUANTIZE", [0], [1]), Op("LOGISTIC", [1], [2]), Op("QUANTIZE", [2], [3]),
           Op("ADD", [0, 3], [4], "AddOptions"), Op("DEQUANTIZE", [1], [5]), Op("TANH", [5], [6])]
    return build(tensors, ops, [0], [4, 6]), "int8 -> int16 LOGISTIC -> int8 ADD, -> float TANH"


def _pointwise_keras_model(tmp_path):
    """A Keras model of pointwise layers only, saved as .keras, and representative data."""
    import keras

    L = keras.layers
    keras.utils.set_random_seed(5)
    x = keras.Input((6, 7, 3))
    a = L.Activation("tanh")(x)
    y = L.Add()([L.Multiply()([x, a]), x])
    y = L.ZeroPadding2D(((1, 0), (0, 2)))(L.Activation("sigmoid")(y))
    y = L.Concatenate()([y, L.ReLU(6.0)(y)])
    path = tmp_path / "m.keras"
    keras.Model(x, y).save(path)
    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(5).normal(0, 2, (32, 6, 7, 3)).astype(np.float32))
    return path, data


def _written() -> list[tuple[bytes, str]]:
    return _pot_models() + _quantize_models() + _pad_concat_models() + [_mixed_model()]


def test_written_models_on_the_host(tmp_path):
    paths, descs = [], []
    for i, (data, desc) in enumerate(_written()):
        paths.append(tmp_path / f"w{i}.tflite")
        paths[-1].write_bytes(data)
        descs.append(desc)
    _report(assert_host_bitexact(paths, count=6, describe=descs), "written models")


@pytest.mark.parametrize("board", ["qemu-m4", "qemu-m0"])
def test_models_in_qemu(board, tmp_path):
    """One random model of every operator and type, and every written model, on a simulated
    Cortex-M4 (hard float) and Cortex-M0 (soft float)."""
    made = [m for op in sorted(CASES) for qtype in CASES[op] for m in _made(op, qtype, 1)]
    for i, (data, desc) in enumerate(_written()):
        path = tmp_path / f"w{i}.tflite"
        path.write_bytes(data)
        made.append((path, desc))
    _report(assert_qemu_bitexact([p for p, _ in made], (board,), count=3,
                                 describe=[d for _, d in made]), f"{board}")


# ---- TFLite's int16 kernels on every input ----

EVERY = np.arange(-32768, 32768, dtype=np.int16).reshape(1, 65536)


def _every_input(opcode: str, sx: float, sy: float, options: str | None = None,
                 values: dict | None = None) -> None:
    # TFLite refuses negative RSQRT inputs at run time: from 0 up for it
    x = EVERY[:, 32768:] if opcode == "RSQRT" else EVERY
    data = build([_q(x.shape, "int16", sx), _q(x.shape, "int16", sy)],
                 [Op(opcode, [0], [1], options, values or {})], [0], [1])
    got = HostModel(compile_model(data)).run([x])[0]
    want = ReferenceInterpreter(data).run([x])[0]
    np.testing.assert_array_equal(got, want.reshape(got.shape),
                                  f"{opcode} {values or ''} scales {sx:.6g} -> {sy:.6g}")


@pytest.mark.parametrize("opcode", ["LOGISTIC", "TANH"])
def test_int16_sigmoid_and_tanh_on_every_input(opcode):
    """Input scales of 2^-12 and (TANH) 2^-11 take TFLite's power-of-two path; 2^-10, 2^-13 and
    the others its general multiplier, which also reaches the table's saturated ends."""
    rng = np.random.default_rng(sum(map(ord, opcode)))
    scales = [2 ** -12, 2 ** -11, 2 ** -10, 2 ** -13] + [float(np.float32(rng.uniform(5e-5, 2e-3)))
                                                          for _ in range(3)]
    for sx in scales:
        _every_input(opcode, sx, 2 ** -15)


@pytest.mark.parametrize("opcode", ["EXP", "LOG", "RSQRT", "GELU"])
def test_int16_tables_on_every_input(opcode):
    """TFLite's 513-entry LUTPopulate<int16_t> tables, filled in float32 without the build
    machine's libm, over all 65536 inputs for several scales (GELU both ways)."""
    rng = np.random.default_rng(sum(map(ord, opcode)) + 1)
    for trial in range(3):
        sx = float(np.float32(rng.uniform(3e-5, 3e-4)))
        top = {"EXP": math.exp(32768 * sx), "LOG": 4.0, "RSQRT": 1 / math.sqrt(sx),
               "GELU": 32768 * sx}[opcode]
        sy = float(np.float32(top * rng.uniform(1.0, 1.5) / 32768))
        values = {"approximate": bool(trial % 2)} if opcode == "GELU" else None
        _every_input(opcode, sx, sy, "GeluOptions" if opcode == "GELU" else None, values)


@pytest.mark.parametrize("opcode", ["RELU", "RELU6", "LEAKY_RELU", "ABS", "QUANTIZE"])
def test_int16_rescales_on_every_input(opcode):
    rng = np.random.default_rng(sum(map(ord, opcode)) + 2)
    for _ in range(3):
        sx, sy = (float(np.float32(rng.uniform(5e-5, 1e-3))) for _ in range(2))
        options = {"LEAKY_RELU": ("LeakyReluOptions", {"alpha": float(rng.uniform(0, 1.5))})}
        _every_input(opcode, sx, sy, *options.get(opcode, (None, None)))
    _every_input(opcode, 4e-4, 4e-4)  # one scale: ABS passes |x| unscaled


# ---- what the lowerings refuse ----

@pytest.mark.parametrize("case,message", [
    ("zero_point", "zero point"),
    ("logistic_scale", "2^-15"),
    ("pot_broadcast", "does not broadcast"),
    ("pot_shifts", "output's scale"),
    ("hard_swish16", "not supported for these types"),
    ("sub_small_output", "output scale too small"),
])
def test_bad_int16_nodes_are_one_line_errors(case, message):
    s = (1, 8)
    if case == "zero_point":
        data = build([_q(s, "int16", 1e-3, 5), _q(s, "int16", 1e-3)], [Op("RELU", [0], [1])],
                     [0], [1])
    elif case == "logistic_scale":
        data = build([_q(s, "int16", 1e-3), _q(s, "int16", 1e-3)], [Op("LOGISTIC", [0], [1])],
                     [0], [1])
    elif case == "pot_broadcast":
        data = _binary16("ADD", 2 ** -12, 2 ** -13, 2 ** -12, (2, 8), (1, 8), True)
    elif case == "pot_shifts":
        data = _binary16("ADD", 2 ** -14, 2 ** -13, 2 ** -12, s, s, True)
    elif case == "hard_swish16":
        data = build([_q(s, "int16", 1e-3), _q(s, "int16", 1e-3)], [Op("HARD_SWISH", [0], [1])],
                     [0], [1])
    else:
        data = _binary16("SUB", 0.5, 0.5, 1e-9, s, s, False)
    with pytest.raises(TinyDeployError) as info:
        compile_model(data)
    assert "node 0" in str(info.value) and message in str(info.value)
    assert "\n" not in str(info.value).strip()


# ---- the CLI's 16x8 options, training and the model card ----

def test_cli_quantize_16x8_compiles_bit_exact(tmp_path, capsys):
    """`tinydeploy quantize --activations int16` writes a 16x8 model (int16 input, output and
    activations) the engine runs bit for bit; an operator the 16x8 converter refuses is one
    line naming it."""
    model, data = _pointwise_keras_model(tmp_path)
    out = tmp_path / "m16.tflite"
    assert main(["quantize", str(model), "--data", str(data), "--out", str(out),
                 "--activations", "int16"]) == 0
    assert "int16 activations" in capsys.readouterr().out
    g = parse_model(out.read_bytes()).main
    assert {g.tensors[i].dtype for op in g.operators for i in op.outputs} == {"int16"}
    assert {"MUL", "ADD", "LOGISTIC", "TANH", "PAD", "CONCATENATION"} <= \
        {op.opcode for op in g.operators}
    assert_host_bitexact([out], count=6)


def test_cli_quantize_16x8_refusal_is_one_line(tmp_path, capsys):
    """An operator TensorFlow's 16x8 quantizer refuses (HARD_SWISH) is one error line naming it."""
    import keras

    x = keras.Input((5, 4))
    path = tmp_path / "hs.keras"
    keras.Model(x, keras.layers.Activation("hard_swish")(x)).save(path)
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(0, 1, (8, 5, 4)).astype(np.float32))
    assert main(["quantize", str(path), "--data", str(tmp_path / "x.npy"), "--out",
                 str(tmp_path / "o.tflite"), "--activations", "int16"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "16x8" in err and "HARD_SWISH" in err
    assert len(err.splitlines()) == 1, err


def test_train_16x8_writes_its_card_and_int8_twin(tmp_path, capsys):
    """`tinydeploy train --activations int16`: a 16x8 .tflite (int16 input, int64 biases), a card
    that records the activation type and reports float, quantized and int8-twin accuracy, and
    the twin's .tflite; the engine's figures where it compiles the model, else why not."""
    assert main(["train", "--task", "image", "--dataset", "digits", "--model", "small_cnn:8",
                 "--epochs", "2", "--out", str(tmp_path), "--activations", "int16"]) == 0
    said = capsys.readouterr().out
    assert "int16" in said and "int8 twin" in said
    card = json.loads((tmp_path / "model_card.json").read_text())
    assert card["activations"] == "int16" and card["weights"] == "int8"
    assert card["input"]["dtype"] == "int16" and card["input"]["zero_point"] == 0
    for key in ("accuracy_float", "accuracy_quantized", "accuracy_int16", "accuracy_int8_twin"):
        assert 0.2 < card[key] <= 1, (key, card[key])
    assert len(card["confusion_matrix_int16"]) == 10
    assert ("arena_bytes" in card) != ("compile_error" in card)
    m = parse_model((tmp_path / "model.tflite").read_bytes())
    assert m.tensors[m.inputs[0]].dtype == "int16"
    assert "int64" in {t.dtype for t in m.main.tensors if t.is_constant}
    twin = parse_model((tmp_path / "model_int8_twin.tflite").read_bytes())
    assert twin.tensors[twin.inputs[0]].dtype == "int8"


KWS_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "FULLY_CONNECTED", "SOFTMAX",
           "RESHAPE", "MEAN")


def test_16x8_keyword_spotter_end_to_end(tmp_path):
    """A 16x8 keyword spotter from `tinydeploy train --task kws --dataset builtin --activations
    int16` runs bit for bit in QEMU (qemu-m4) on test-split inputs; its accuracy is printed beside
    its int8 twin's, and the arena of each."""
    from tinydeploy.ops import get_spec
    from tinydeploy.quantize import quantize_inputs
    from tinydeploy.train import train

    missing = [op for op in KWS_OPS
               if not any(key[0] == "int16" for key in get_spec(op).lowerings)]
    if missing:
        pytest.skip(f"the engine has no 16x8 lowering of {', '.join(missing)} yet (the other "
                    "helpers' operators): the 16x8 keyword spotter cannot compile")
    r = train("kws", "builtin", epochs=6, out_dir=tmp_path, size="tiny", activations="int16")
    compiled = compile_model(r.tflite_path)
    inp = compiled.input_tensors[0]
    xs = quantize_inputs(r.dataset.test.x[:4], inp.scale0, inp.zp0, "int16")

    def inputs(_model, _index):
        return [[x[None]] for x in xs]

    assert_qemu_bitexact([r.tflite_path], ("qemu-m4",), inputs=[inputs])
    twin = compile_model(tmp_path / "model_int8_twin.tflite")
    print(f"16x8 keyword spotter: accuracy {r.card['accuracy_int16']:.1%} (float "
          f"{r.card['accuracy_float']:.1%}), its int8 twin {r.card['accuracy_int8_twin']:.1%}; "
          f"arena {compiled.arena_bytes:,} bytes (int8 twin {twin.arena_bytes:,})")
