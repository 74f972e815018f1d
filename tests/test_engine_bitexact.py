"""The generated C, compiled for the host, against TFLite's reference kernels: bit for bit."""

import numpy as np
import pytest

from conftest import REFERENCE_MODELS, shared_model
from ophelp import assert_host_bitexact, assert_qemu_bitexact
from opgen import op_model
from tinydeploy.compiler import compile_model
from tinydeploy.host_runner import HostModel
from tinydeploy.reference import ReferenceInterpreter
from tinydeploy.verify import random_inputs


def assert_bitexact(model, count: int, seed: int = 0, layout: str = "int16") -> None:
    cm = compile_model(model, layout=layout)
    host, ref = HostModel(cm), ReferenceInterpreter(model)
    for inputs in random_inputs(cm, count, seed):
        for a, b in zip(host.run(inputs), ref.run(inputs)):
            np.testing.assert_array_equal(a, b.reshape(a.shape))


@pytest.mark.parametrize("name", REFERENCE_MODELS)
def test_reference_model_bitexact(name):
    assert_bitexact(shared_model(name), count=25)


def test_kws01_reference_input(kws01, kws01_input):
    cm = compile_model(kws01)
    out = HostModel(cm).run([kws01_input])[0]
    ref = ReferenceInterpreter(kws01).run([kws01_input])[0]
    np.testing.assert_array_equal(out, ref)
    assert int(np.argmax(out)) == int(np.argmax(ref))


SEEDS = {"CONV_2D": 10, "DEPTHWISE_CONV_2D": 8, "FULLY_CONNECTED": 5, "AVERAGE_POOL_2D": 4,
         "MAX_POOL_2D": 3, "ADD": 4, "MUL": 3, "PAD": 2, "CONCATENATION": 2, "SOFTMAX": 4,
         "LOGISTIC": 2, "TANH": 2, "HARD_SWISH": 3, "MEAN": 9}
WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


@pytest.mark.parametrize("opcode", sorted(SEEDS))
def test_random_single_op_models(opcode):
    """Random models of the operator (TensorFlow writes them), every weight layout where it has
    weights, one host library per layout, bit-exact with the reference input by input."""
    made = [op_model(opcode, s) for s in range(SEEDS[opcode])]
    for layout in ("int16", "int8", "rows") if opcode in WEIGHTED else ("int16",):
        assert_host_bitexact([p for p, _ in made], count=8, layout=layout,
                             describe=[d for _, d in made])


@pytest.mark.parametrize("board", ["qemu-m4", "qemu-m0"])
def test_random_single_op_models_in_qemu(board):
    """The same models on a simulated Cortex-M4 (DSP kernels) and Cortex-M0 (portable C), in a few
    firmware images, each running its whole test set from a file in one emulator run."""
    made = [op_model(op, s) for op in sorted(SEEDS) for s in range(min(SEEDS[op], 3))]
    assert_qemu_bitexact([p for p, _ in made], (board,), count=3, describe=[d for _, d in made])


@pytest.mark.parametrize("k,pad", [(3, "same"), (5, "same"), ((4, 2), "same")])
def test_conv_in_place_through_row_ring(k, pad):
    """A same-shape convolution writes over its own input through a ring of output rows."""
    import keras

    from tinydeploy.quantize import quantize_int8

    keras.utils.set_random_seed(5)
    m = keras.Sequential([keras.Input((9, 7, 6), batch_size=1),
                          keras.layers.Conv2D(6, k, padding=pad, activation="relu")])
    tflite = quantize_int8(m, np.random.default_rng(0).normal(0, 1, (16, 9, 7, 6)))
    cm = compile_model(tflite)
    conv = next(lay for lay in cm.layers if lay.op.opcode == "CONV_2D")
    assert conv.inplace and conv.params.ring_rows > 0
    assert cm.plan.offsets[conv.inputs[0]] == cm.plan.offsets[conv.outputs[0]]
    assert_bitexact(tflite, count=6)


@pytest.mark.parametrize("hwc,pad,act", [((7, 5, 8), "same", "relu"), ((6, 9, 4), "valid", "relu6"),
                                         ((5, 4, 12), "same", None), ((3, 3, 4), "same", "relu6")])
def test_depthwise_3x3_tap_pairs(hwc, pad, act):
    """A 3x3 stride-1 depthwise layer on channels in fours runs as pairs of vertical taps
    (td_depthwise_conv3x3_s8): odd and even row counts, both paddings, ReLU6's clamp beside the
    int8 range's, and the same shape written over its own input."""
    import keras

    from tinydeploy.quantize import quantize_int8

    keras.utils.set_random_seed(7)
    m = keras.Sequential([keras.Input(hwc, batch_size=1),
                          keras.layers.DepthwiseConv2D(3, padding=pad, activation=act)])
    tflite = quantize_int8(m, np.random.default_rng(1).normal(0, 1, (16, *hwc)))
    cm = compile_model(tflite)
    dw = next(lay for lay in cm.layers if lay.op.opcode == "DEPTHWISE_CONV_2D")
    assert dw.func == "td_depthwise_conv3x3_s8"
    if pad == "same":
        assert dw.inplace and cm.plan.offsets[dw.inputs[0]] == cm.plan.offsets[dw.outputs[0]]
    assert_bitexact(tflite, count=8)


# (input h, w, c), filters, kernel, stride, padding, dilation: odd and even pixel counts and
# channel counts, window rows of 1 to 80 bytes (multiples of 8, of 4, neither), windows at every
# edge (two columns a side; an odd inside column paired with an odd edge column), and the 1x1 path
CONV_SHAPES = [((9, 7, 3), 8, 3, 1, "same", 1), ((10, 9, 1), 6, (5, 2), 2, "same", 1),
               ((8, 8, 16), 7, 3, 1, "same", 1), ((7, 6, 5), 4, 3, 2, "valid", 1),
               ((9, 9, 8), 10, 3, 1, "same", 2), ((6, 5, 12), 9, 1, 1, "valid", 1),
               ((12, 10, 1), 8, (10, 8), 2, "same", 1), ((5, 11, 20), 2, (1, 4), 1, "same", 1),
               ((8, 8, 4), 6, 3, 2, "same", 1)]


def test_conv_pairs_assembly_shapes(tmp_path):
    """Convolutions of every shape the assembly pair loop and its window packing meet (qemu-m4)
    or the portable loops (qemu-m0) in one firmware image per board, bit-exact."""
    import keras

    from tinydeploy.quantize import quantize_int8

    paths = []
    for i, (hwc, filters, k, s, pad, dil) in enumerate(CONV_SHAPES):
        keras.utils.set_random_seed(i)
        m = keras.Sequential([keras.Input(hwc, batch_size=1),
                              keras.layers.Conv2D(filters, k, strides=s, padding=pad,
                                                  dilation_rate=dil, activation="relu")])
        path = tmp_path / f"conv{i}.tflite"
        path.write_bytes(quantize_int8(m, np.random.default_rng(i).normal(0, 1, (16, *hwc))))
        assert compile_model(path).layers[0].params.layout == 3  # TD_W16B: the assembly path
        paths.append(path)
    assert_qemu_bitexact(paths, ("qemu-m4", "qemu-m0"), count=3,
                         describe=[str(s) for s in CONV_SHAPES])


def _per_tensor(tflite: bytes) -> bytes:
    """The model with every FULLY_CONNECTED's per-row weight scales made one (the largest; the
    weights and biases rescaled to it): the per-tensor records of the assembly path."""
    from tinydeploy.tflite_writer import pack, unpack

    m = unpack(tflite)
    for g in m.subgraphs:
        for op in g.operators:
            if m.operatorCodes[op.opcodeIndex].builtinCode != 9:  # FULLY_CONNECTED
                continue
            x, w = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]]
            rows = np.asarray(w.quantization.scale, np.float64)
            if rows.size == 1:
                continue
            one = float(rows.max())
            wb = m.buffers[w.buffer]
            wq = np.frombuffer(bytes(wb.data), np.int8).reshape(w.shape).astype(np.float64)
            wq = np.clip(np.round(wq * (rows / one)[:, None]), -127, 127)
            wb.data = wq.astype(np.int8).view(np.uint8).reshape(-1)
            w.quantization.scale, w.quantization.zeroPoint = [one], [0]
            if len(op.inputs) > 2 and op.inputs[2] >= 0:
                b = g.tensors[op.inputs[2]]
                bb = m.buffers[b.buffer]
                bq = np.frombuffer(bytes(bb.data), np.int32).astype(np.float64)
                bb.data = np.round(bq * rows / one).astype(np.int32).view(np.uint8)
                b.quantization.scale = [float(x.quantization.scale[0]) * one]
                b.quantization.zeroPoint = [0]
    return pack(m)


# (input shape, units of each Dense layer, per channel): one layer (no scratch: the input row
# widened into the end of the output row, whole, then half of it and a quarter, then none; threes
# that fill a pass, two passes, one or two groups left over; no room at all; three rows; a block
# of fewer than four rows left to the C path), and a chain whose later layers get their widening
# scratch
FC_SHAPES = [((48,), (140,), False), ((120,), (272,), True), ((132,), (8,), False),
             ((64,), (40,), True), ((3, 24), (64,), False), ((12,), (6,), False),
             ((256,), (20, 44, 28, 36), True), ((256,), (20, 44, 28, 36), False)]


def test_fc_assembly_shapes(tmp_path):
    """FULLY_CONNECTED layers of every shape the whole-layer assembly (qemu-m4) meets: parts of
    int8 and of widened input, each with 0, 1 or 2 groups before its threes, the computed entries,
    per-tensor and per-channel records; and the portable loops (qemu-m0), one image per board."""
    import keras

    from tinydeploy.quantize import quantize_int8

    paths, fast = [], 0
    for i, (shape, units, per_channel) in enumerate(FC_SHAPES):
        keras.utils.set_random_seed(20 + i)
        m = keras.Sequential([keras.Input(shape, batch_size=1)] +
                             [keras.layers.Dense(u, activation=("relu", None)[j % 2],
                                                 bias_initializer="random_normal")
                              for j, u in enumerate(units)])
        tflite = quantize_int8(m, np.random.default_rng(i).normal(0, 1, (16, *shape)))
        path = tmp_path / f"fc{i}.tflite"
        path.write_bytes(tflite if per_channel else _per_tensor(tflite))
        cm = compile_model(path)
        fcs = [lay for lay in cm.layers if lay.op.opcode == "FULLY_CONNECTED"]
        assert all(lay.params.layout == 1 and lay.params.per_channel == per_channel
                   for lay in fcs)  # TD_W16: the assembly path
        fast += len(cm.plan.fast)
        paths.append(path)
    assert fast >= 4  # the chains' later layers widen into their scratch
    assert_qemu_bitexact(paths, ("qemu-m4", "qemu-m0"), count=3,
                         describe=[str(s) for s in FC_SHAPES])
