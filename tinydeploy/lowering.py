"""Lower every node to one kernel call (or an alias) through the operator registry (tinydeploy/ops).

Before anything is computed, every node is looked up: a model with unsupported nodes gets one
error that lists them all, each with its types and a hint that fits (an int8 operator not
implemented yet, a float or dynamic-range model to re-export, an NPU or signal-library operator).
"""

from __future__ import annotations

from tinydeploy.compile_options import CompileOptions
from tinydeploy.errors import TinyDeployError
from tinydeploy.ops import get_spec
from tinydeploy.ops.base import Layer, OpContext, Unsupported
from tinydeploy.tflite_reader import Model, Operator, Subgraph

REEXPORT = ("re-export with full-integer quantization: a representative dataset, "
            "TFLITE_BUILTINS_INT8 and int8 inputs/outputs (tinydeploy quantize does this)")


def _types(g: Subgraph, op: Operator) -> str:
    ins = [g.tensors[i].dtype for i in op.inputs if i >= 0]
    outs = [g.tensors[i].dtype for i in op.outputs if i >= 0]
    return f"[{' '.join(ins) or '-'} -> {' '.join(outs) or '-'}]"


def _why(g: Subgraph, op: Operator) -> tuple[str, str]:
    """(what is wrong with the node, the kind of fix) for a node no lowering takes."""
    name = op.opcode
    if name.startswith("CUSTOM:"):
        custom = name[7:]
        if custom.lower().startswith("ethos"):
            return ("an Arm Ethos-U NPU operator (the file was compiled by Vela)", "npu")
        if custom.startswith("Signal"):
            return ("a TFLite Micro signal-library operator (audio front end), not a builtin",
                    "custom")
        return (f"custom operator '{custom}'", "custom")
    spec = get_spec(name)
    ins = [g.tensors[i] for i in op.inputs if i >= 0]
    act = next((t for t in ins if not t.is_constant), ins[0] if ins else None)
    weights = [t for t in ins if t.is_constant and t.dtype in ("int8", "int4")]
    if act is not None and act.dtype == "float32" and weights:
        return ("float activations with int8 weights (dynamic-range or hybrid quantization), "
                "which TFLite Micro does not run either", "float")
    if spec is None:
        return (f"operator {name} is not supported (not implemented yet)", "missing")
    if act is not None and act.dtype == "float32":
        return (f"float32 {name} is not supported yet", "float")
    return (f"operator {name} is not supported for these types (not implemented yet)", "missing")


def _hint(kinds: set[str]) -> str:
    hints = []
    if "float" in kinds:
        hints.append(REEXPORT)
    if "npu" in kinds:
        hints.append("give tinydeploy the .tflite from before Vela: the engine runs the whole "
                     "model on the Cortex-M")
    if "custom" in kinds:
        hints.append("replace custom operators with builtins, or run that part outside the model")
    if "missing" in kinds:
        hints.append("'tinydeploy ops' lists the operators and types the engine compiles")
    return "; ".join(hints)


def check_supported(model: Model) -> None:
    """One error naming every node (of every subgraph) that no lowering takes."""
    bad, kinds = [], set()
    for g in model.subgraphs:
        for op in g.operators:
            spec = get_spec(op.opcode)
            if spec is not None and not spec.inputs[0] <= len(op.inputs) <= spec.inputs[1]:
                continue  # a malformed node: the validator names it
            if spec is not None and spec.key(OpContext(model, g, op, CompileOptions())) in \
                    spec.lowerings:
                continue
            what, kind = _why(g, op)
            kinds.add(kind)
            sg = f"subgraph {g.index} " if g.index else ""
            bad.append(f"{sg}node {op.index} ({op.opcode}) {_types(g, op)}: {what}")
    if bad:
        head = (f"{len(bad)} nodes are not supported: " if len(bad) > 1 else "")
        raise Unsupported(head + "; ".join(bad), _hint(kinds))


def lower_node(ctx: OpContext) -> Layer:
    """The node's lowering; an error raised without naming the node gets its name."""
    spec = get_spec(ctx.op.opcode)
    assert spec is not None
    try:
        return spec.lowerings[spec.key(ctx)](ctx)
    except TinyDeployError as exc:
        if exc.problem.startswith(ctx.where):
            raise
        raise type(exc)(f"{ctx.where}: {exc.problem}", exc.fix) from None


def lower_model(model: Model, options: CompileOptions) -> list[list[Layer]]:
    """Lower every node of every subgraph (check_supported and validation come first): the
    layers of subgraph i at index i."""
    return [[lower_node(OpContext(model, g, op, options)) for op in g.operators]
            for g in model.subgraphs]
