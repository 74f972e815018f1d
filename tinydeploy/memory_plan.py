"""Static memory plan: every activation tensor gets a fixed offset in one arena; every tensor that
persists across invocations (a variable tensor: SVDF/LSTM state) a fixed offset in the state.

Buffers come in three kinds: activations (arena, alive from their writer to their last reader),
scratch (arena, alive during one layer) and persistent state (its own region, alive always, set to
its initial value by the generated reset).

Tensors live from the layer that writes them to the last layer that reads them (graph inputs from the
start, graph outputs to the end). Aliases (RESHAPE, SQUEEZE) share their source's storage and extend
its lifetime. Kernels that can work in place (element-wise ops; 1x1 and depthwise convolutions with a
small scratch) write their output over an input that no later layer reads. A strided convolution
whose output rows never catch up with the input rows it still reads (Layer.overlap) shares one
buffer with its input: the input sits `overlap` bytes into the output. A layer's fast_scratch (room
for a faster kernel variant) is granted only where the arena does not grow. Buffers are placed largest
first at the lowest offset that does not overlap any already-placed buffer alive at the same time,
the same greedy-by-size idea TFLite Micro uses. A refinement may then compute a chain of layers in
row bands (patch.py): the chain becomes one step whose intermediate tensors live in its scratch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tinydeploy.errors import TinyDeployError
from tinydeploy.ops.base import Layer
from tinydeploy.tflite_reader import Model, Subgraph

if TYPE_CHECKING:
    from tinydeploy.patch import PatchStage

ALIGN = 16
Graph = Model | Subgraph  # what a plan reads: tensors, inputs, outputs


@dataclass
class MemoryPlan:
    """One subgraph's plan. Its arena region starts `base` bytes into the model's arena."""

    arena_bytes: int
    offsets: dict[int, int]          # tensor index -> byte offset in the graph's arena region
    lifetimes: dict[int, tuple[int, int]]
    scratch: dict[int, int]          # layer position -> offset of its scratch buffer
    fast: frozenset[int] = frozenset()  # layer positions granted their fast_scratch
    state_bytes: int = 0             # the whole model's persistent state
    state_offsets: dict[int, int] = field(default_factory=dict)  # persistent tensor -> offset
    named_state: dict[str, int] = field(default_factory=dict)    # named state buffer -> offset
    named_sizes: dict[str, int] = field(default_factory=dict)
    base: int = 0
    # layers computed in row bands (tinydeploy/patch.py): their intermediate tensors live in
    # band buffers inside the stage's scratch and have no offsets of their own
    patch: PatchStage | None = None

    def region_offset(self, tensor: int) -> tuple[str, int]:
        """("arena" or "state", byte offset) of a planned tensor."""
        if tensor in self.state_offsets:
            return "state", self.state_offsets[tensor]
        return "arena", self.offsets[tensor]


@dataclass
class StateLayout:
    """The persistent state of a whole model: every subgraph's variable tensors, then the named
    buffers layers declare (resource variables, CALL_ONCE flags), each 16-byte aligned."""

    tensors: dict[tuple[int, int], int]  # (subgraph, tensor) -> offset
    named: dict[str, int]
    sizes: dict[str, int]
    total: int


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def plan_state(model: Model, graphs: list[list[Layer]]) -> StateLayout:
    tensors, named, sizes, end = {}, {}, {}, 0
    for g in model.subgraphs:
        for t in g.tensors:
            if t.is_variable:
                tensors[(g.index, t.index)] = end
                end += _align(max(t.nbytes, 1))
    for layers in graphs:
        for layer in layers:
            for name, size in layer.state_buffers.items():
                if name in sizes and sizes[name] != size:
                    raise TinyDeployError(f"state buffer {name} is used with {sizes[name]} and "
                                          f"{size} bytes", "every use of a resource variable "
                                                           "must have the same shape and type")
                if name not in named:
                    named[name], sizes[name] = end, size
                    end += _align(max(size, 1))
    return StateLayout(tensors, named, sizes, end)


Refine = Callable[[Subgraph, list[Layer], MemoryPlan, StateLayout], MemoryPlan]


def plan_model(model: Model, graphs: list[list[Layer]], refine: Refine | None = None
               ) -> list[MemoryPlan]:
    """A plan per subgraph (graphs[i] the layers of subgraph i) over one shared state layout;
    each subgraph's arena region follows the previous one's (a called subgraph runs while its
    caller's tensors are alive). refine: a later stage that may replace a subgraph's plan with a
    smaller one (patch-based inference, tinydeploy/patch.py)."""
    state = plan_state(model, graphs)
    plans, base = [], 0
    for g, layers in zip(model.subgraphs, graphs):
        plan = plan_memory(g, layers, state)
        if refine is not None:
            plan = refine(g, layers, plan, state)
        plan.base = base
        base += _align(plan.arena_bytes)
        plans.append(plan)
    return plans


def plan_memory(model: Graph, layers: list[Layer], state: StateLayout | None = None) -> MemoryPlan:
    """The plan with each possible input/output overlap taken where it makes the arena smaller
    (sharing a buffer also ties the input's space to the output's lifetime, which can cost more
    than it saves), then each layer's fast_scratch granted where the arena does not grow."""
    if state is None:
        state = plan_state(model if isinstance(model, Model) else Model([model], "", 3), [layers])
    plan, chosen, fast = _plan(model, layers, set(), set(), state), set(), set()
    for step, layer in enumerate(layers):
        if layer.overlap or layer.shares_input:
            trial = _plan(model, layers, chosen | {step}, fast, state)
            if trial.arena_bytes < plan.arena_bytes:
                plan, chosen = trial, chosen | {step}
    for step, layer in enumerate(layers):
        if layer.fast_scratch:
            trial = _plan(model, layers, chosen, fast | {step}, state)
            if trial.arena_bytes <= plan.arena_bytes:
                plan, fast = trial, fast | {step}
    return plan


Part = tuple[int, int, int, int]  # (offset in its buffer, bytes, first step, last step alive)


def place(buffers: dict[int, list[Part]]) -> tuple[dict[int, int], int]:
    """Greedy by size: each buffer, largest first, at the lowest offset where none of its parts
    overlaps a part of a placed buffer alive at the same time. A buffer is mostly one part; one
    shared by a patch stage's input and output is two (the input until the stage, the output
    from it). Returns the offsets and the bytes they span."""
    order = sorted(buffers, key=lambda r: (-max(p[1] for p in buffers[r]),
                                           min(p[2] for p in buffers[r]), r))
    offsets: dict[int, int] = {}
    for r in order:
        # offsets x at which a part of r would overlap a live part of a placed buffer: (a, b)
        forbidden = sorted((oq + qo - ps - po, oq + qo + qs - po)
                           for q, oq in offsets.items() for qo, qs, qf, ql in buffers[q]
                           for po, ps, pf, pl in buffers[r] if not (ql < pf or pl < qf))
        offset = 0
        for lo, hi in forbidden:
            if offset <= lo:
                break
            offset = max(offset, hi)
        offsets[r] = offset
    return offsets, max((offsets[r] + o + s for r in offsets for o, s, _, _ in buffers[r]),
                        default=0)


def _plan(model: Graph, layers: list[Layer], overlapped: set[int], fast: set[int],
          state: StateLayout) -> MemoryPlan:
    graph_index = model.index if isinstance(model, Subgraph) else 0
    state_offsets = {t: off for (g, t), off in state.tensors.items() if g == graph_index}
    root: dict[int, int] = {}
    delta: dict[int, int] = {}  # a merged tensor's byte offset inside its root's buffer

    def find(t: int) -> int:
        while t in root:
            t = root[t]
        return t

    def shift(t: int) -> int:
        total = 0
        while t in root:
            total += delta.get(t, 0)
            t = root[t]
        return total

    for layer in layers:
        if layer.alias:
            root[layer.outputs[0]] = find(layer.inputs[0])

    end = len(layers)
    first: dict[int, int] = {}
    last: dict[int, int] = {}

    def touch(t: int, step: int) -> None:
        tensor = model.tensors[t]
        if t in state_offsets or tensor.is_constant or tensor.dtype == "resource":
            return  # persistent state has its own region; constants stay in flash
        r = find(t)
        first[r] = min(first.get(r, step), step)
        last[r] = max(last.get(r, step), step)

    for t in model.inputs:
        touch(t, -1)
    for step, layer in enumerate(layers):
        for t in layer.inputs + layer.outputs:
            touch(t, step)
    for t in model.outputs:
        touch(t, end)

    # in place: an output takes over an input of the same size whose last reader is this layer
    for step, layer in enumerate(layers):
        if not layer.inplace or not layer.inputs:
            continue
        src, dst = find(layer.inputs[0]), layer.outputs[0]
        if (find(dst) == dst and last.get(src) == step
                and model.tensors[src].nbytes == model.tensors[dst].nbytes
                and sum(find(t) == src for t in layer.inputs) == 1):
            root[dst] = src
            last[src] = last.pop(dst)
            first.pop(dst)
    # overlapped: the output's buffer also holds the input, `overlap` bytes in
    extent: dict[int, int] = {}
    shaped: dict[int, list[Part]] = {}  # shared by a patch stage: input part, then output part
    for step, layer in enumerate(layers):
        if step not in overlapped or not layer.inputs:
            continue
        src, dst = find(layer.inputs[0]), layer.outputs[0]
        if (find(dst) == dst and last.get(src) == step and src not in extent
                and sum(find(t) == src for t in layer.inputs) == 1):
            root[src], delta[src] = dst, layer.overlap
            extent[dst] = layer.overlap + model.tensors[src].nbytes
            if layer.shares_input:
                shaped[dst] = [(layer.overlap, _align(model.tensors[src].nbytes), first[src], step),
                               (0, _align(model.tensors[dst].nbytes), step, last[dst])]
            first[dst] = first.pop(src)
            last.pop(src)
    buffers = {r: shaped.get(r) or [(0, _align(max(model.tensors[r].nbytes, extent.get(r, 0), 1)),
                                     first[r], last[r])] for r in first}
    # a kernel's scratch is a buffer alive during its own layer only; keys -1, -2, ...
    for step, layer in enumerate(layers):
        scratch = layer.scratch_bytes + (layer.fast_scratch if step in fast else 0)
        if scratch:
            first[-1 - step] = last[-1 - step] = step
            buffers[-1 - step] = [(0, _align(scratch), step, step)]
    offsets, arena = place(buffers)
    tensors = {t for t in set(first) | set(root) if t >= 0}
    all_offsets = {t: offsets[find(t)] + shift(t) for t in tensors}
    return MemoryPlan(arena, all_offsets, {r: (first[r], last[r]) for r in first if r >= 0},
                      {-1 - r: offsets[r] for r in offsets if r < 0}, frozenset(fast),
                      state.total, state_offsets, state.named, state.sizes)
