"""TRANSPOSE_CONV, BATCH_MATMUL, RESIZE_*, REDUCE_MAX/MIN, SUM, REDUCE_PROD, ARG_MAX/MIN,
LOG_SOFTMAX, L2_NORMALIZATION and EMBEDDING_LOOKUP against TFLite's reference kernels, bit for bit:
random single-op models (tests/opgen.py) on the host and on simulated Cortex-M4 and Cortex-M0
boards, inputs that reach the kernels' edge cases, and a convolutional autoencoder.

The oracle is LiteRT's BUILTIN_REF, except for SUM: LiteRT 2.3 runs its int8 reference sum on the
bytes read as uint8 (and clamps to [0, 255]), so tinydeploy/reference.py sends int8 SUM models to
TFLite Micro, whose reference computes TFLite's int8 QuantizedMeanOrSum."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ophelp import Inputs, assert_host_bitexact, assert_qemu_bitexact
from opgen import op_model
from tinydeploy.compiler import CompiledModel, compile_model
from tinydeploy.host_runner import HostLibrary
from tinydeploy.reference import ReferenceInterpreter
from tinydeploy.tflite_reader import load_model
from tinydeploy.verify import random_inputs

SEEDS = {"TRANSPOSE_CONV": 12, "BATCH_MATMUL": 12, "RESIZE_NEAREST_NEIGHBOR": 12,
         "RESIZE_BILINEAR": 12, "REDUCE_MAX": 8, "REDUCE_MIN": 8, "SUM": 8, "REDUCE_PROD": 8,
         "ARG_MAX": 8, "ARG_MIN": 8, "LOG_SOFTMAX": 10, "L2_NORMALIZATION": 10,
         "EMBEDDING_LOOKUP": 8}
QEMU_SEEDS = 3  # per operator in the emulator runs


def _models(opcode: str, count: int) -> tuple[list[Path], list[str]]:
    made = [op_model(opcode, s) for s in range(count)]
    for path, desc in made:  # the converter wrote the operator meant, alone
        assert [op.opcode for op in load_model(path).main.operators] == [opcode], desc
    return [p for p, _ in made], [d for _, d in made]


def embedding_inputs(cm: CompiledModel, seed: int, count: int = 6) -> list[list[np.ndarray]]:
    """Ids inside the table (TFLite stops with an error on others), table values at random."""
    g = cm.model.main
    rows = g.tensors[g.operators[0].inputs[1]].shape[0]
    rng = np.random.default_rng(seed)
    return [[rng.integers(0, rows, t.shape).astype(np.int32) if t.dtype == "int32" else
             rng.integers(-128, 128, t.shape).astype(np.int8) for t in cm.input_tensors]
            for _ in range(count)]


def _inputs_for(opcode: str) -> Inputs:
    if opcode == "EMBEDDING_LOOKUP":
        return embedding_inputs
    return lambda cm, seed: random_inputs(cm, 6, seed=seed)


def check_host(paths: list[Path], describe: list[str], inputs: list[Inputs]) -> None:
    assert_host_bitexact(paths, describe=describe, inputs=inputs)


def check_qemu(paths: list[Path], describe: list[str], inputs: list[Inputs], board: str) -> None:
    assert_qemu_bitexact(paths, (board,), describe=describe, inputs=inputs)


@pytest.mark.parametrize("opcode", sorted(SEEDS))
def test_random_single_op_models(opcode):
    """Random models of the operator with all its options, each checked input by input."""
    paths, describe = _models(opcode, SEEDS[opcode])
    n = len(paths)
    check_host(paths, describe, [_inputs_for(opcode)] * n)




# ---- inputs that reach the kernels' edge cases ----

def tie_inputs(cm: CompiledModel, seed: int) -> list[list[np.ndarray]]:
    """Few distinct values (ARG_MAX/ARG_MIN: the first index must win every tie), and a constant
    tensor."""
    rng = np.random.default_rng(seed)
    t = cm.input_tensors[0]
    return [[rng.integers(-2, 3, t.shape).astype(np.int8)] for _ in range(5)] + \
           [[np.full(t.shape, 7, np.int8)]]


def near_zero_point_inputs(cm: CompiledModel, seed: int) -> list[list[np.ndarray]]:
    """Rows at the zero point or one step from it: L2_NORMALIZATION's sums of squares 0, 1 and
    other small ones (its inverse square root's special and left-shifted paths)."""
    rng = np.random.default_rng(seed)
    t = cm.input_tensors[0]
    zp = t.zp0
    out = []
    for step in (0, 1, 2, 5):
        x = zp + rng.integers(-step, step + 1, t.shape)
        x[..., : t.shape[-1] // 2] = zp  # half of every row at the zero point
        out.append([np.clip(x, -128, 127).astype(np.int8)])
    out.append([np.full(t.shape, zp, np.int8)])
    return out


def peaked_inputs(cm: CompiledModel, seed: int) -> list[list[np.ndarray]]:
    """LOG_SOFTMAX rows with one value far above the rest, and constant rows."""
    rng = np.random.default_rng(seed)
    t = cm.input_tensors[0]
    x = np.full(t.shape, -128, np.int8)
    flat = x.reshape(-1, t.shape[-1])
    flat[np.arange(len(flat)), rng.integers(0, t.shape[-1], len(flat))] = 127
    return [[x], [np.full(t.shape, 3, np.int8)], [rng.integers(120, 128, t.shape).astype(np.int8)]]


EDGE = [("ARG_MAX", s, tie_inputs) for s in range(4)] + \
       [("ARG_MIN", s, tie_inputs) for s in range(4)] + \
       [("L2_NORMALIZATION", s, near_zero_point_inputs) for s in range(4)] + \
       [("LOG_SOFTMAX", s, peaked_inputs) for s in range(4)]


def _edge_models() -> tuple[list[Path], list[str], list[Inputs]]:
    paths, describe, inputs = [], [], []
    for opcode, seed, make in EDGE:
        p, d = op_model(opcode, seed)
        paths.append(p)
        describe.append(f"{d} ({make.__name__})")
        inputs.append(make)
    return paths, describe, inputs


def test_edge_case_inputs():
    check_host(*_edge_models())


# ---- TRANSPOSE_CONV where its fused activation clamps, with one weight scale; batches ----

def _tconv_clamping() -> bytes:
    """A converted TRANSPOSE_CONV with a fused ReLU whose output zero point is moved to 0, so the
    activation's clamp cuts off half the outputs (the converter's own zero point of -128 makes
    ReLU a no-op)."""
    from tinydeploy import tflite_writer as tw

    for seed in range(SEEDS["TRANSPOSE_CONV"]):
        path, desc = op_model("TRANSPOSE_CONV", seed)
        if "act=relu " in desc + " ":
            model = tw.unpack(path.read_bytes())
            g = model.subgraphs[0]
            g.tensors[g.operators[0].outputs[0]].quantization.zeroPoint = [0]
            return tw.pack(model)
    raise AssertionError("no ReLU transpose convolution among the generated models")


def _tconv_per_tensor() -> bytes:
    """TRANSPOSE_CONV written directly: one weight scale for all filters, VALID, stride (2, 3),
    RELU6 clamping at both ends, an input zero point of 3 and no bias."""
    from tinydeploy.tflite_writer import Op, T, build

    rng = np.random.default_rng(21)
    ic, oc, k, h, w, s = 3, 4, (3, 2), 4, 3, (2, 3)
    out = (1, (h - 1) * s[0] + k[0], (w - 1) * s[1] + k[1], oc)
    tensors = [T((4,), "int32", data=np.array(out, np.int32)),
               T((oc, *k, ic), data=rng.integers(-127, 128, (oc, *k, ic)).astype(np.int8),
                 scale=[0.02], zero_point=[0]),
               T((1, h, w, ic), scale=[0.05], zero_point=[3]),
               T(out, scale=[0.01], zero_point=[-100])]
    op = Op("TRANSPOSE_CONV", [0, 1, 2], [3], "TransposeConvOptions",
            dict(padding=1, strideH=s[0], strideW=s[1], fusedActivationFunction=3))
    return build(tensors, [op], [2], [3])


def _batch_of_two(opcode: str) -> bytes:
    """RESIZE_BILINEAR (align_corners), RESIZE_NEAREST_NEIGHBOR (half pixel centres) or
    TRANSPOSE_CONV (SAME, stride 2) over a batch of two images, written directly (Keras fixes the
    batch at one)."""
    from tinydeploy.tflite_writer import Op, T, build

    q = {"scale": [0.1], "zero_point": [-5]}
    x = T((2, 3, 5, 2), **q)
    if opcode == "TRANSPOSE_CONV":
        w = np.random.default_rng(22).integers(-127, 128, (3, 3, 3, 2)).astype(np.int8)
        tensors = [T((4,), "int32", data=np.array([2, 6, 10, 3], np.int32)),
                   T(w.shape, data=w, scale=[0.03, 0.02, 0.05], zero_point=[0, 0, 0], qdim=0), x,
                   T((2, 6, 10, 3), scale=[0.2], zero_point=[4])]
        op = Op(opcode, [0, 1, 2], [3], "TransposeConvOptions",
                {"padding": 0, "strideH": 2, "strideW": 2})
        return build(tensors, [op], [2], [3])
    size = T((2,), "int32", data=np.array([7, 4], np.int32))
    options = ("ResizeBilinearOptions", {"alignCorners": True}) if opcode == "RESIZE_BILINEAR" \
        else ("ResizeNearestNeighborOptions", {"halfPixelCenters": True})
    tensors = [x, size, T((2, 7, 4, 2), **q)]
    return build(tensors, [Op(opcode, [0, 1], [2], *options)], [0], [2])


def _special_models() -> tuple[list[Path], list[str], list[Inputs]]:
    from generated import cached_tflite

    here = Path(__file__)
    made = [(cached_tflite("spatial-tconv-clamping", _tconv_clamping, here),
             "transpose conv, ReLU clamping"),
            (cached_tflite("spatial-tconv-per-tensor", _tconv_per_tensor, here),
             "transpose conv, per-tensor weights, RELU6")]
    for opcode in ("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "TRANSPOSE_CONV"):
        made.append((cached_tflite(f"spatial-batch2-{opcode}", lambda o=opcode: _batch_of_two(o),
                                   here), f"{opcode} over a batch of two"))
    n = len(made)
    return ([p for p, _ in made], [d for _, d in made],
            [lambda cm, seed: random_inputs(cm, 6, seed=seed)] * n)


def test_transpose_conv_activation_weights_and_batches():
    """The two transposed convolutions above, and resizes and a transposed convolution over a
    batch of two."""
    check_host(*_special_models())


# ---- a convolutional autoencoder: strided convolutions down, transposed convolutions up ----

def _blobs(n: int, seed: int) -> np.ndarray:
    """28x28 images of one to three soft blobs (something an autoencoder can learn quickly)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:28, 0:28]
    images = np.zeros((n, 28, 28, 1), np.float32)
    for img in images:
        for _ in range(int(rng.integers(1, 4))):
            cy, cx, r = rng.uniform(4, 24), rng.uniform(4, 24), rng.uniform(2, 6)
            img[..., 0] += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
    return np.clip(images, 0, 1)


def _autoencoder() -> bytes:
    """28x28x1 -> 14x14x8 -> 7x7x16 (strided 3x3 convolutions) -> 7x7x16 -> 14x14x16 -> 28x28x1
    (3x3 transposed convolutions, stride 2), sigmoid out; trained for a few epochs on blobs."""
    import keras

    from tinydeploy.captured_output import captured_output
    from tinydeploy.quantize import quantize_int8

    keras.utils.set_random_seed(12)
    L = keras.layers
    x = keras.Input((28, 28, 1))  # any batch to train; quantize_int8 exports batch 1
    y = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    y = L.Conv2D(16, 3, strides=2, padding="same", activation="relu")(y)
    y = L.Conv2D(16, 3, padding="same", activation="relu")(y)
    y = L.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu")(y)
    y = L.Conv2DTranspose(1, 3, strides=2, padding="same", activation="sigmoid")(y)
    model = keras.Model(x, y)
    data = _blobs(512, 12)
    with captured_output():
        model.compile("adam", "mse")
        model.fit(data, data, epochs=4, batch_size=32, verbose=0)
    return quantize_int8(model, data[:128])


def _autoencoder_model() -> tuple[list[Path], list[str], list[Inputs]]:
    from generated import cached_tflite

    path = cached_tflite("spatial-autoencoder", _autoencoder, Path(__file__))

    def images(cm: CompiledModel, seed: int) -> list[list[np.ndarray]]:
        t = cm.input_tensors[0]
        q = np.round(_blobs(3, 100 + seed) / t.scale0) + t.zp0
        return [[np.clip(img[None], -128, 127).astype(np.int8)] for img in q] + \
            random_inputs(cm, 2, seed=seed)

    return [path], ["convolutional autoencoder"], [images]


def test_convolutional_autoencoder():
    paths, describe, inputs = _autoencoder_model()
    ops = [op.opcode for op in load_model(paths[0]).main.operators]
    assert ops.count("TRANSPOSE_CONV") == 2 and ops.count("CONV_2D") == 3, ops
    cm = compile_model(paths[0])
    assert cm.plan.arena_bytes < 12 * 1024, cm.plan.arena_bytes  # fits a 16 KB Cortex-M0 board
    check_host(paths, describe, inputs)


@pytest.mark.parametrize("board", ["qemu-m4", "qemu-m0"])
def test_models_in_qemu(board):
    """The first random models of every operator, the edge-case inputs, the two hand-made
    transposed convolutions and the autoencoder on a simulated Cortex-M4 (DSP) and Cortex-M0
    (portable C), a few firmware images per board."""
    paths, describe, inputs = [], [], []
    for opcode in sorted(SEEDS):
        p, d = _models(opcode, min(SEEDS[opcode], QEMU_SEEDS))
        paths += p
        describe += d
        inputs += [_inputs_for(opcode)] * len(p)
    for more in (_edge_models(), _special_models(), _autoencoder_model()):
        for mine, theirs in zip((paths, describe, inputs), more):
            mine += theirs
    check_qemu(paths, describe, inputs, board)


def test_transpose_conv_scratch_agrees_with_the_lowering():
    """The kernel's own figure for its scratch (one int32 per output channel) is what the
    lowering asked the memory plan for."""
    import ctypes

    paths, _ = _models("TRANSPOSE_CONV", SEEDS["TRANSPOSE_CONV"])
    models = [compile_model(p, prefix=f"m{i}") for i, p in enumerate(paths)]
    lib = HostLibrary(models)
    fn = lib._lib.td_transpose_conv_s8_scratch
    fn.restype, fn.argtypes = ctypes.c_int32, [ctypes.c_void_p]
    for m in models:
        params = (ctypes.c_void_p * 1000).in_dll(lib._lib, f"{m.prefix}_layer_params")
        calls = [lay for lay in m.layers if lay.kernel]
        assert [lay.func for lay in calls] == ["td_transpose_conv_s8"]
        assert fn(params[0]) == calls[0].scratch_bytes == 4 * calls[0].params.out_c


def test_batch_matmul_multiplies_the_scales_in_float32():
    """Every int8 product x * y through one BATCH_MATMUL (x: 256 rows of depth 1, y: a constant
    row of all 256 values), with scales where TFLite's float32 product of the two input scales
    gives another multiplier than a double product would, and 8 outputs differ between the two."""
    from tinydeploy import quantmath as qm
    from tinydeploy.host_runner import HostModel
    from tinydeploy.tflite_writer import Op, T, build

    a, b, c = 0.017985107377171516, 0.03720293194055557, 0.09141284227371216  # float32 values
    double = qm.quantize_multiplier(a * b / c)
    single = qm.quantize_multiplier(float(np.float32(np.float32(a) * np.float32(b))) / c)
    assert double != single
    vals = np.arange(-128, 128).astype(np.int8)
    tensors = [T((1, 256, 1), scale=[a], zero_point=[0]),
               T((1, 1, 256), data=vals.reshape(1, 1, 256), scale=[b], zero_point=[0]),
               T((1, 256, 256), scale=[c], zero_point=[0])]
    model = build(tensors, [Op("BATCH_MATMUL", [0, 1], [2], "BatchMatMulOptions", {})], [0], [2])
    x = vals.reshape(1, 256, 1)
    want = ReferenceInterpreter(model).run([x])[0]
    np.testing.assert_array_equal(HostModel(compile_model(model)).run([x])[0], want)
