"""IF and WHILE (tinydeploy/ops/control_flow.py): branches and loops as subgraphs, tensors copied
in and out; bit-exact with the reference on the host and in QEMU."""

import pytest

from ophelp import assert_host_bitexact, assert_qemu_bitexact
from tinydeploy.compiler import compile_model
from tinydeploy.errors import TinyDeployError
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
