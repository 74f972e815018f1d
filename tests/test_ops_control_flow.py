"""IF and WHILE (tinydeploy/ops/control_flow.py): branches and loops as subgraphs, tensors copied
in and out; bit-exact with the reference on the host and in QEMU."""

from pathlib import Path

import numpy as np
import pytest

from ophelp import assert_host_bitexact, assert_qemu_bitexact
from tinydeploy.compiler import compile_model
from tinydeploy.errors import TinyDeployError
from tinydeploy.reference import ReferenceInterpreter
from tinydeploy.tflite_writer import Op, T, build

Q = dict(scale=[0.05], zero_point=[3])


def if_model() -> bytes:
    """y = IF(c, x): then x + x, else relu(x)."""
    main = [T((1,), "bool", name="c"), T((1, 4), **Q, name="x"), T((1, 4), **Q, name="y")]
    then = [T((1, 4), **Q, name="a"), T((1, 4), **Q, name="sum")]
    other = [T((1, 4), **Q, name="b"), T((1, 4), **Q, name="relu")]
    return build(main, [Op("IF", [0, 1], [2], "IfOptions",
                           {"thenSubgraphIndex": 1, "elseSubgraphIndex": 2})], [0, 1], [2],
                 [(then, [Op("ADD", [0, 0], [1], "AddOptions")], [0], [1]),
                  (other, [Op("RELU", [0], [1])], [0], [1])])


def test_if_runs_the_chosen_branch(tmp_path):
    path = tmp_path / "if.tflite"
    path.write_bytes(if_model())
    cm = compile_model(path)
    assert [len(g) for g in cm.graphs] == [1, 1, 1] and cm.layers[0].control == "if"
    assert_host_bitexact([path], count=12)
    assert_qemu_bitexact([path], ("qemu-m4", "qemu-m0"), count=6)


def test_a_subgraph_calling_itself_is_refused():
    main = [T((1,), "bool"), T((1, 4), **Q), T((1, 4), **Q)]
    loop = [T((1,), "bool"), T((1, 4), **Q), T((1, 4), **Q)]
    data = build(main, [Op("IF", [0, 0, 1], [2], "IfOptions",
                           {"thenSubgraphIndex": 1, "elseSubgraphIndex": 1})], [0, 1], [2],
                 [(loop, [Op("IF", [0, 0, 1], [2], "IfOptions",
                             {"thenSubgraphIndex": 1, "elseSubgraphIndex": 1})], [0, 1], [2])])
    with pytest.raises(TinyDeployError, match="recursion is not supported"):
        compile_model(data)


def _converted_while_loop() -> bytes:
    """TensorFlow's converter's own WHILE: x = 1.5 x + 1 until sum(x) passes 40, so how often
    the body runs depends on the input (float32: the converter keeps the loop as it is)."""
    import tensorflow as tf

    from tinydeploy.captured_output import captured_output

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32)])
    def grow(x):  # type: ignore[no-untyped-def]
        def more(i, v):  # type: ignore[no-untyped-def]
            return tf.logical_and(tf.reduce_sum(v) < 40.0, i < 20)

        def step(i, v):  # type: ignore[no-untyped-def]
            return i + 1, v * 1.5 + 1.0

        count, y = tf.while_loop(more, step, [tf.constant(0), x])
        return y, count

    with captured_output():
        conv = tf.lite.TFLiteConverter.from_concrete_functions([grow.get_concrete_function()],
                                                               grow)
        return bytes(conv.convert())


def _spread(cm, i):  # type: ignore[no-untyped-def]
    """Inputs from near zero (many turns of the loop) to past the bound (none)."""
    rng = np.random.default_rng(i)
    return [[rng.uniform(-1, 1, (1, 4)).astype(np.float32) * scale]
            for scale in (0.1, 1, 3, 6, 12, 30)]


def test_while_from_the_converter_loops_as_often_as_the_data_says():
    from generated import cached_tflite

    path = cached_tflite("converted_while", _converted_while_loop, Path(__file__))
    cm = compile_model(path)
    assert cm.layers[0].control == "while" and len(cm.graphs) == 3
    turns = {int(ReferenceInterpreter(path).run(xs)[1]) for xs in _spread(cm, 0)}
    assert len(turns) >= 3, turns  # the inputs exercise different trip counts
    assert_host_bitexact([path], inputs=[_spread])
    assert_qemu_bitexact([path], ("qemu-m4", "qemu-m0"), inputs=[_spread])
