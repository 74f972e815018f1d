"""IF and WHILE: other subgraphs called with tensors copied in and out, as TFLite Micro runs them.

IF copies its inputs after the condition into the chosen branch's inputs, runs it and copies the
branch's outputs into its own. WHILE keeps the loop values in its own outputs: it copies its
inputs there, then while the condition subgraph says so runs the body on them. Each subgraph has
its own arena region, so nothing a caller holds is overwritten; a subgraph that calls itself,
directly or not, is refused (its region would be shared).
"""

from __future__ import annotations

from tinydeploy.ops import register
from tinydeploy.ops.base import Layer, OpContext, OpSpec
from tinydeploy.tflite_reader import Subgraph

ANY = ("int8", "int16x8", "float32")


def _graph(ctx: OpContext, option: str) -> Subgraph:
    index = ctx.option(option, -1)
    ctx.require(index != ctx.graph.index, f"{option} {index} is the calling subgraph itself: "
                                          "recursion is not supported")
    ctx.require(0 < index < len(ctx.model.subgraphs),
                f"{option} {index} is not another subgraph of the {len(ctx.model.subgraphs)}")
    _no_cycle(ctx, index)
    return ctx.model.subgraphs[index]


def _no_cycle(ctx: OpContext, start: int) -> None:
    """The call graph from `start` never comes back to the calling subgraph."""
    keys = ("then_subgraph_index", "else_subgraph_index", "cond_subgraph_index",
            "body_subgraph_index", "init_subgraph_index")
    seen, todo = set(), [start]
    while todo:
        g = todo.pop()
        ctx.require(g != ctx.graph.index, f"subgraph {start} calls back into subgraph "
                                          f"{ctx.graph.index}: recursion is not supported")
        if g in seen or not 0 <= g < len(ctx.model.subgraphs):
            continue
        seen.add(g)
        for op in ctx.model.subgraphs[g].operators:
            todo += [v for k, v in op.options.items() if k in keys and isinstance(v, int)]


def _same_signature(ctx: OpContext, tensors: list[int], graph: Subgraph, which: list[int],
                    what: str) -> None:
    ctx.require(len(tensors) == len(which),
                f"{len(tensors)} {what} for subgraph {graph.index}'s {len(which)}")
    for a, b in zip(tensors, which):
        x, y = ctx.graph.tensors[a], graph.tensors[b]
        ctx.require(x.dtype == y.dtype and x.nbytes == y.nbytes,
                    f"{what} '{x.name}' ({x.dtype} {list(x.shape)}) does not match subgraph "
                    f"{graph.index}'s '{y.name}' ({y.dtype} {list(y.shape)})")


def _if_shapes(ctx: OpContext) -> list[tuple[int, ...]]:
    cond = ctx.input(0)
    ctx.require(cond.dtype == "bool" and cond.size == 1, "the condition must be one bool")
    for option in ("then_subgraph_index", "else_subgraph_index"):
        g = _graph(ctx, option)
        _same_signature(ctx, ctx.op.inputs[1:], g, g.inputs, "inputs")
        _same_signature(ctx, ctx.op.outputs, g, g.outputs, "outputs")
    return [ctx.output(i).shape for i in range(len(ctx.op.outputs))]


def _while_shapes(ctx: OpContext) -> list[tuple[int, ...]]:
    cond, body = _graph(ctx, "cond_subgraph_index"), _graph(ctx, "body_subgraph_index")
    _same_signature(ctx, ctx.op.inputs, cond, cond.inputs, "loop values")
    _same_signature(ctx, ctx.op.inputs, body, body.inputs, "loop values")
    _same_signature(ctx, ctx.op.outputs, body, body.outputs, "loop values")
    _same_signature(ctx, ctx.op.inputs, ctx.graph, ctx.op.outputs, "loop values")
    ctx.require(len(cond.outputs) == 1 and cond.tensors[cond.outputs[0]].dtype == "bool"
                and cond.tensors[cond.outputs[0]].size == 1,
                f"condition subgraph {cond.index} must give one bool")
    return [ctx.input(i).shape for i in range(len(ctx.op.inputs))]


def _if(ctx: OpContext) -> Layer:
    _if_shapes(ctx)
    ins = [i for i in ctx.op.inputs if not ctx.graph.tensors[i].is_constant]
    return Layer(ctx.op, None, inputs=ins, outputs=list(ctx.op.outputs), control="if",
                 calls=[ctx.option("then_subgraph_index"), ctx.option("else_subgraph_index")])


def _while(ctx: OpContext) -> Layer:
    _while_shapes(ctx)
    ins = [i for i in ctx.op.inputs if not ctx.graph.tensors[i].is_constant]
    return Layer(ctx.op, None, inputs=ins, outputs=list(ctx.op.outputs), control="while",
                 calls=[ctx.option("cond_subgraph_index"), ctx.option("body_subgraph_index")])


register(
    OpSpec("IF", {("bool", None): _if}, inputs=(1, 64), outputs=(0, 64), options="IfOptions",
           infer_shape=_if_shapes, model_types=ANY),
    OpSpec("WHILE", {(t, None): _while for t in ("int8", "int16", "int32", "float32", "bool",
                                                  "uint8", "int64")},
           inputs=(1, 64), outputs=(1, 64), options="WhileOptions", infer_shape=_while_shapes,
           model_types=ANY),
)
