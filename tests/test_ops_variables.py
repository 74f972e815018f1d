"""Resource variables and CALL_ONCE (tinydeploy/ops/variables.py): a running sum kept in a
variable across invocations, initialized by its own subgraph; bit-exact with the reference over
sequences of inputs, on the host and in QEMU, and back to its start after a reset."""

import numpy as np

from ophelp import assert_host_bitexact, assert_qemu_bitexact
from tinydeploy.compiler import compile_model
from tinydeploy.host_runner import HostModel
from tinydeploy.reference import ReferenceInterpreter
from tinydeploy.tflite_writer import Op, T, build

Q = dict(scale=[0.05], zero_point=[3])


def accumulator(initial: list[int]) -> bytes:
    """y_t = x_t + y_(t-1), with y_(-1) the variable's initial value set by CALL_ONCE."""
    from ai_edge_litert import schema_py_generated as s

    from tinydeploy.tflite_writer import pack, unpack

    tensors = [T((1, 4), **Q, name="x"), T((1, 4), **Q, name="previous"),
               T((1, 4), **Q, name="y")]
    resource = len(tensors)
    init = [T((1, 4), data=np.array([initial], np.int8), **Q, name="start")]
    ops = [Op("CALL_ONCE", [], [], "CallOnceOptions", {"initSubgraphIndex": 1}),
           Op("VAR_HANDLE", [], [resource], "VarHandleOptions", {"sharedName": "acc"}),
           Op("READ_VARIABLE", [resource], [1]),
           Op("ADD", [0, 1], [2], "AddOptions"),
           Op("ASSIGN_VARIABLE", [resource, 2], [])]
    init_ops = [Op("VAR_HANDLE", [], [1], "VarHandleOptions", {"sharedName": "acc"}),
                Op("ASSIGN_VARIABLE", [1, 0], [])]
    placeholder = T((1,), "int32", name="resource")
    data = build(tensors + [placeholder], ops, [0], [2],
                 [(init + [placeholder], init_ops, [], [])])
    m = unpack(data)  # the writer knows no resource type: set it on both handles
    m.subgraphs[0].tensors[resource].type = s.TensorType.RESOURCE
    m.subgraphs[0].tensors[resource].shape = []
    m.subgraphs[1].tensors[1].type = s.TensorType.RESOURCE
    m.subgraphs[1].tensors[1].shape = []
    return pack(m)


def test_variable_state_carries_across_invocations_and_resets(tmp_path):
    path = tmp_path / "acc.tflite"
    path.write_bytes(accumulator([10, -20, 30, 0]))
    cm = compile_model(path)
    assert len(cm.graphs) == 2 and cm.state_bytes >= 4
    assert [lay.op.opcode for lay in cm.layers] == ["CALL_ONCE", "VAR_HANDLE", "READ_VARIABLE",
                                                    "ADD", "ASSIGN_VARIABLE"]
    host, ref = HostModel(cm), ReferenceInterpreter(path)
    xs = [np.full((1, 4), v, np.int8) for v in (1, 2, -5, 7)]
    outs = [host.run([x])[0] for x in xs]
    assert [o.tolist() for o in outs] == [r[0].tolist() for r in (ref.run([x]) for x in xs)]
    assert outs[0].tolist() != outs[1].tolist()  # the state moved
    host.reset()
    assert host.run([xs[0]])[0].tolist() == outs[0].tolist()  # and starts over after a reset
    assert_host_bitexact([path], count=6)
    assert_qemu_bitexact([path], ("qemu-m4", "qemu-m0"), count=5)
