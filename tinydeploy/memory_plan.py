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
the same greedy-by-size idea TFLite Micro uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tinydeploy.ops.base import Layer
from tinydeploy.tflite_reader import Model

ALIGN = 16


@dataclass
class MemoryPlan:
    arena_bytes: int
    offsets: dict[int, int]          # tensor index -> byte offset in the arena
    lifetimes: dict[int, tuple[int, int]]
    scratch: dict[int, int]          # layer position -> offset of its scratch buffer
    fast: frozenset[int] = frozenset()  # layer positions granted their fast_scratch
    state_bytes: int = 0
    state_offsets: dict[int, int] = field(default_factory=dict)  # persistent tensor -> offset

    def region_offset(self, tensor: int) -> tuple[str, int]:
        """("arena" or "state", byte offset) of a planned tensor."""
        if tensor in self.state_offsets:
            return "state", self.state_offsets[tensor]
        return "arena", self.offsets[tensor]


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def plan_memory(model: Model, layers: list[Layer]) -> MemoryPlan:
    """The plan with each possible input/output overlap taken where it makes the arena smaller
    (sharing a buffer also ties the input's space to the output's lifetime, which can cost more
    than it saves), then each layer's fast_scratch granted where the arena does not grow."""
    plan, chosen, fast = _plan(model, layers, set(), set()), set(), set()
    for step, layer in enumerate(layers):
        if layer.overlap:
            trial = _plan(model, layers, chosen | {step}, fast)
            if trial.arena_bytes < plan.arena_bytes:
                plan, chosen = trial, chosen | {step}
    for step, layer in enumerate(layers):
        if layer.fast_scratch:
            trial = _plan(model, layers, chosen, fast | {step})
            if trial.arena_bytes <= plan.arena_bytes:
                plan, fast = trial, fast | {step}
    return plan


def _state(model: Model) -> tuple[dict[int, int], int]:
    """Offsets of the persistent tensors, one after another, 16-byte aligned."""
    offsets, end = {}, 0
    for t in model.tensors:
        if t.is_variable:
            offsets[t.index] = end
            end += _align(max(t.nbytes, 1))
    return offsets, end


def _plan(model: Model, layers: list[Layer], overlapped: set[int],
          fast: set[int]) -> MemoryPlan:
    state_offsets, state_bytes = _state(model)
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
        if layer.func is None:
            root[layer.outputs[0]] = find(layer.inputs[0])

    end = len(layers)
    first: dict[int, int] = {}
    last: dict[int, int] = {}

    def touch(t: int, step: int) -> None:
        if t in state_offsets or model.tensors[t].is_constant:
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
    for step, layer in enumerate(layers):
        if step not in overlapped or not layer.inputs:
            continue
        src, dst = find(layer.inputs[0]), layer.outputs[0]
        if (find(dst) == dst and last.get(src) == step and src not in extent
                and sum(find(t) == src for t in layer.inputs) == 1):
            root[src], delta[src] = dst, layer.overlap
            extent[dst] = layer.overlap + model.tensors[src].nbytes
            first[dst] = first.pop(src)
            last.pop(src)
    sizes = {r: _align(max(model.tensors[r].nbytes, extent.get(r, 0), 1)) for r in first}
    # a kernel's scratch is a buffer alive during its own layer only; keys -1, -2, ...
    for step, layer in enumerate(layers):
        scratch = layer.scratch_bytes + (layer.fast_scratch if step in fast else 0)
        if scratch:
            first[-1 - step] = last[-1 - step] = step
            sizes[-1 - step] = _align(scratch)
    order = sorted(first, key=lambda r: (-sizes[r], first[r], r))
    placed: list[tuple[int, int, int]] = []  # (offset, size, root)
    offsets: dict[int, int] = {}
    for r in order:
        conflicts = sorted((o, s) for o, s, q in placed
                           if not (last[q] < first[r] or last[r] < first[q]))
        offset = 0
        for o, s in conflicts:
            if offset + sizes[r] <= o:
                break
            offset = max(offset, o + s)
        offsets[r] = offset
        placed.append((offset, sizes[r], r))
    arena = max((o + s for o, s, _ in placed), default=0)
    tensors = {t for t in set(first) | set(root) if t >= 0}
    all_offsets = {t: offsets[find(t)] + shift(t) for t in tensors}
    return MemoryPlan(arena, all_offsets, {r: (first[r], last[r]) for r in first if r >= 0},
                      {-1 - r: offsets[r] for r in offsets if r < 0}, frozenset(fast),
                      state_bytes, state_offsets)
