"""Resource variables and one-time initialization, as streaming models use them: VAR_HANDLE,
READ_VARIABLE, ASSIGN_VARIABLE and CALL_ONCE (variable_copy.c).

TFLite Micro keeps a buffer per variable (container, shared name), sized at its first assignment;
here each is a named buffer of the persistent state, resolved at compile time: a READ or ASSIGN
finds the VAR_HANDLE that made its resource tensor in the same subgraph, so no resource ids exist
at run time. CALL_ONCE runs its initialization subgraph on the first invocation after each reset
(a flag in the state); reset clears the variables and the flag.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinydeploy.ops import register
from tinydeploy.ops.base import (Kernel, Layer, OpContext, OpSpec, Params, StateArg, TensorArg,
                                 cfield)


@dataclass
class VariableParams(Params):
    C_NAME = "td_variable_params"
    C_DOC = "READ_VARIABLE and ASSIGN_VARIABLE: a copy between a tensor and a state buffer."
    bytes: int = cfield("int32_t")


COPY = Kernel("td_variable_copy", VariableParams, ("const void *from", "void *to"))


def _variable(ctx: OpContext) -> str:
    """The state buffer name of the variable whose resource tensor is input 0."""
    handle = ctx.producer(ctx.op.inputs[0]) if ctx.op.inputs and ctx.op.inputs[0] >= 0 else None
    ctx.require(handle is not None and handle.opcode == "VAR_HANDLE",
                "its resource input does not come from a VAR_HANDLE in the same subgraph")
    assert handle is not None
    container = handle.options.get("container") or ""
    shared = handle.options.get("shared_name") or ""
    return f"var:{container}/{shared}"


def _var_handle(ctx: OpContext) -> Layer:
    return Layer(ctx.op, None)  # no code: readers and writers resolve it at compile time


def _read(ctx: OpContext) -> Layer:
    name, y = _variable(ctx), ctx.output(0)
    return Layer(ctx.op, COPY, VariableParams(bytes=y.nbytes), [], [StateArg(name),
                 TensorArg(y.index)], [], [y.index], state_buffers={name: y.nbytes})


def _assign(ctx: OpContext) -> Layer:
    name, value = _variable(ctx), ctx.input(1)
    ctx.require(value.dtype != "resource", "the value to assign is a resource")
    return Layer(ctx.op, COPY, VariableParams(bytes=value.nbytes), [],
                 [TensorArg(value.index), StateArg(name)],
                 [] if value.is_constant else [value.index], [],
                 state_buffers={name: value.nbytes}, state_writes=[name])


def _init_graph(ctx: OpContext) -> int:
    index = ctx.option("init_subgraph_index", -1)
    ctx.require(0 < index < len(ctx.model.subgraphs) and index != ctx.graph.index,
                f"init_subgraph_index {index} is not another subgraph of the "
                f"{len(ctx.model.subgraphs)}")
    return int(index)


def _call_once(ctx: OpContext) -> Layer:
    index = _init_graph(ctx)
    return Layer(ctx.op, None, control="call_once", calls=[index],
                 state_buffers={f"call_once_{index}": 1})


def _no_outputs(ctx: OpContext) -> list[tuple[int, ...]]:
    return []


def _call_once_shape(ctx: OpContext) -> list[tuple[int, ...]]:
    _init_graph(ctx)
    return []


ANY = ("int8", "int16x8", "float32")
register(
    OpSpec("VAR_HANDLE", {("none", None): _var_handle}, inputs=(0, 0),
           options="VarHandleOptions", infer_shape=lambda ctx: [ctx.output(0).shape],
           model_types=ANY),
    OpSpec("READ_VARIABLE", {("resource", None): _read}, inputs=(1, 1),
           infer_shape=lambda ctx: [ctx.output(0).shape], kernels=(COPY,), model_types=ANY),
    OpSpec("ASSIGN_VARIABLE", {("resource", None): _assign}, inputs=(2, 2), outputs=(0, 0),
           infer_shape=_no_outputs, kernels=(COPY,), model_types=ANY),
    OpSpec("CALL_ONCE", {("none", None): _call_once}, inputs=(0, 0), outputs=(0, 0),
           options="CallOnceOptions", infer_shape=_call_once_shape, model_types=ANY),
)
