"""Patch-based inference in row bands (the idea of MCUNetV2, along the height only).

The first layers of an image model hold the largest activations: two of them alive at once set the
arena. A *stage* of consecutive, spatially local layers (convolutions, depthwise convolutions,
pooling, int8 ADD/MUL of same-shape tensors) can instead compute its output a band of rows at a
time, each intermediate tensor living in a band buffer that holds only the rows the band needs.

- A stage reads one tensor from outside (its input, which stays whole) and leaves one (its last
  layer's output, written band by band into the whole tensor); every other tensor it makes is read
  only inside it.
- For each band of R output rows, walking the layers backwards gives the rows each tensor must hold:
  an output row reads the input rows its window covers, clipped at the edges (receptive field).
- Halo rows, those two neighbouring bands both read, are either *kept*: the rows the next band
  reads again are moved to the front of the tensor's buffer, nothing is computed twice, but the
  buffer lives through the whole stage; or *recomputed*: the buffer is filled afresh every band
  (MCUNetV2), living only from its writer to its last reader inside the band, at the cost of the
  halo rows' multiply-accumulates.
- Every kernel already computes any band when called on a sub-tensor: the pointer at the first input
  row it reads, in_h the rows its windows reach from there, out_h the rows to compute, pad_h the
  padding rows left above (only the first band has any). Rows at or past in_h read as padding,
  which is what they are at the bottom edge; elsewhere only outputs a kernel discards reach them.
  The arithmetic is the same, so a patched model is bit-exact.
- The stage output may share the stage input's buffer: the output rows a band writes are checked,
  band by band, to end before the first input byte any later call still reads (`overlap`: how far
  into the output buffer the input must sit for that; 0 when the output fits in front of it).

The memory plan then treats the stage as one step whose scratch holds the band buffers and the
kernels' own scratch. Of all stages, band heights and halo choices, the one with the smallest arena
is taken whose overhead, its extra work / the model's work, is at most the compile option
`patch_overhead` (default 10%); a model keeps its plain plan unless the arena shrinks. Work is an
estimate of instructions (`work`): MACs alone would understate it, since the first layers have few
channels and spend much of their time per output, and every band adds kernel calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from tinydeploy.memory_plan import ALIGN, MemoryPlan, Part, StateLayout, place, plan_memory
from tinydeploy.ops.base import Granted, Layer, Params, TensorArg
from tinydeploy.ops.conv import ConvParams
from tinydeploy.ops.elementwise import BinaryParams
from tinydeploy.ops.pooling import PoolParams
from tinydeploy.tflite_reader import Subgraph

MAX_STAGE = 10         # layers in a stage at most (bounds the search)
MAX_TRIALS = 24        # whole-graph plans tried, the most promising first
BAND_ROWS = (1, 2, 3, 4, 6, 8)  # band heights tried (stage output rows)
CONV_KERNELS = ("td_conv2d_s8", "td_conv1x1_s8", "td_depthwise_conv2d_s8",
                "td_depthwise_conv3x3_s8", "td_depthwise_conv2d_dm_s8")
POOL_KERNELS = ("td_avg_pool_s8", "td_max_pool_s8")
BINARY_KERNELS = ("td_add_s8", "td_mul_s8")
# computes output rows two at a time (SMLAD on vertically paired taps): a call on an odd number
# of rows spends a whole pair on its last one
PAIR_ROW_KERNEL = "td_depthwise_conv3x3_s8"
# Work in Cortex-M instructions, roughly: a MAC one, an output byte OUTPUT_COST more (requantizing,
# clamping, storing) and a kernel call CALL_COST (its setup). From qemu-m4 counts (bench_engine.py):
# vww01's and ic01's first layers spend 15-35 instructions per output beside their MACs, and bands
# of one row with every halo kept (no recomputation) cost about a thousand instructions per call.
OUTPUT_COST = 16
CALL_COST = 1000


def work(graph: Subgraph, layers: list[Layer]) -> int:
    """The estimated instructions of the layers' kernel calls (OUTPUT_COST, CALL_COST)."""
    return sum(lay.macs + OUTPUT_COST * sum(graph.tensors[t].nbytes for t in lay.outputs)
               + CALL_COST for lay in layers if lay.func)


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass(frozen=True)
class Window:
    """How a layer's output rows read its input rows."""

    k: int       # input rows one output row spans: (k_h - 1) * dilation + 1
    stride: int
    pad: int     # padding rows above input row 0
    in_h: int

    def rows(self, c: int, b: int) -> tuple[int, int]:
        """The input rows [lo, hi) that output rows [c, b) read (padding left out)."""
        return (max(0, c * self.stride - self.pad),
                min(self.in_h, (b - 1) * self.stride - self.pad + self.k))


@dataclass
class Member:
    """A layer a stage can hold: its window and the rows of its tensors."""

    step: int
    layer: Layer
    window: Window
    sources: tuple[int, ...]  # activation tensors read, all through the same window
    out: int
    out_h: int

    @property
    def macs_per_row(self) -> float:
        return self.layer.macs / self.out_h

    def band_params(self, c: int, b: int, n_in: int, pad: int, fast: bool) -> Params:
        """The layer's parameters for output rows [c, b) of an input view of n_in rows starting
        at its first row read, with `pad` padding rows above it."""
        p = self.layer.params
        if isinstance(p, ConvParams):
            changes: dict[str, object] = dict(in_h=n_in, out_h=b - c, pad_h=pad)
            if self.layer.func == "td_conv2d_s8":
                changes["ring_rows"] = 0  # never in place: the band's output has its own buffer
            if isinstance(p.quads, Granted):
                changes["quads"] = int(fast)
            return replace(p, **changes)  # type: ignore[arg-type]
        if isinstance(p, PoolParams):
            return replace(p, in_h=n_in, out_h=b - c, pad_h=pad)
        assert isinstance(p, BinaryParams)
        return replace(p, out_dims=[1, b - c, p.out_dims[2], p.out_dims[3]])

    def scratch(self, fast: bool) -> int:
        """Scratch bytes of a band call: the layer's, less td_conv2d_s8's ring of output rows
        (band calls are never in place), plus the fast variant's where granted."""
        lay, p = self.layer, self.layer.params
        extra = lay.fast_scratch if fast else 0
        if lay.func == "td_conv2d_s8" and isinstance(p, ConvParams):
            return lay.scratch_bytes - p.ring_rows * p.out_w * p.out_c + extra
        return lay.scratch_bytes + extra


def _nhwc(graph: Subgraph, t: int) -> bool:
    tensor = graph.tensors[t]
    return (tensor.dtype == "int8" and len(tensor.shape) == 4 and tensor.shape[0] == 1
            and not tensor.is_constant and not tensor.is_variable)


def member(graph: Subgraph, step: int, layer: Layer) -> Member | None:
    """The layer as a stage member, or None where it cannot compute a band of rows."""
    p = layer.params
    if len(layer.outputs) != 1 or not _nhwc(graph, layer.outputs[0]):
        return None
    if not layer.inputs or not all(_nhwc(graph, t) for t in layer.inputs):
        return None
    out = layer.outputs[0]
    out_h = graph.tensors[out].shape[1]
    if layer.func in CONV_KERNELS and isinstance(p, ConvParams) and len(layer.inputs) == 1:
        window = Window((p.k_h - 1) * p.dil_h + 1, p.stride_h, p.pad_h, p.in_h)
    elif layer.func in POOL_KERNELS and isinstance(p, PoolParams) and len(layer.inputs) == 1:
        window = Window(p.f_h, p.stride_h, p.pad_h, p.in_h)
    elif layer.func in BINARY_KERNELS and isinstance(p, BinaryParams):
        # both operands whole tensors of the output's shape (no broadcasting): a band of rows
        # of each is the same band of the output
        dims = list(p.out_dims)
        dense = [dims[2] * dims[3], dims[3], 1]  # rows, columns, channels (batch 1)
        if (len(layer.inputs) != 2 or dims[0] != 1 or list(p.in1_strides)[1:] != dense
                or list(p.in2_strides)[1:] != dense
                or sum(isinstance(a, TensorArg) for a in layer.args) != 3):
            return None
        window = Window(1, 1, 0, out_h)
    else:
        return None
    if any(graph.tensors[t].shape[1] != window.in_h for t in layer.inputs):
        return None
    return Member(step, layer, window, tuple(layer.inputs), out, out_h)


@dataclass(frozen=True)
class Stage:
    """Consecutive layers first..last that read one outside tensor and leave one."""

    members: tuple[Member, ...]
    input: int
    output: int
    internal: tuple[int, ...]  # tensors made and read only inside, in the order they are made
    rows: dict[int, int]       # tensor -> its bytes per row
    readers: dict[int, tuple[int, ...]]  # internal tensor -> the members that read it

    @property
    def first(self) -> int:
        return self.members[0].step

    @property
    def last(self) -> int:
        return self.members[-1].step


def find_stage(graph: Subgraph, layers: list[Layer], members: list[Member | None], first: int,
               last: int, readers: dict[int, list[int]]) -> Stage | None:
    """The stage of layers first..last, or None where they do not make one."""
    chosen = members[first:last + 1]
    if any(m is None for m in chosen):
        return None
    ms = tuple(m for m in chosen if m is not None)
    made = [m.out for m in ms]
    outside = {t for m in ms for t in m.sources} - set(made)
    if len(outside) != 1:
        return None
    escaping = [t for t in made
                if t in graph.outputs or any(r < first or r > last for r in readers.get(t, []))]
    if escaping != [ms[-1].out] or ms[-1].out in {t for m in ms for t in m.sources}:
        return None
    rows = {t: graph.tensors[t].nbytes // graph.tensors[t].shape[1]
            for t in made + list(outside)}
    x = outside.pop()
    readers = {t: tuple(j for j, m in enumerate(ms) if t in m.sources) for t in made[:-1]}
    return Stage(ms, x, ms[-1].out, tuple(made[:-1]), rows, readers)


# (tensor, byte offset in it), or (None, byte offset in the stage area)
Ref = tuple[int | None, int]


@dataclass
class BandCall:
    """One kernel call of a band: the member's rows [c, b)."""

    member: int
    params: Params
    reads: tuple[Ref, ...]  # where each source's first row read is
    write: Ref
    write_bytes: int
    scratch: int | None     # area offset of its scratch
    scratch_bytes: int


@dataclass
class Move:
    """Kept rows moved to the front of their buffer (area offsets), before a band's calls."""

    dst: int
    src: int
    nbytes: int


@dataclass
class PatchStage:
    """The chosen stage and its band program, as the memory plan and codegen use it."""

    first: int
    last: int
    input: int
    output: int
    band_rows: int
    kept: frozenset[int]            # tensors whose halo rows are kept, not recomputed
    members: tuple[Member, ...]
    bands: list[list[Move | BandCall]]
    area: int                       # bytes of band buffers and kernel scratch
    overlap: int
    recomputed_macs: int
    recomputed_bytes: int           # output bytes computed more than once
    moved_bytes: int
    extra_calls: int                # kernel calls beyond one per layer
    cost: int                       # the extra work (_Schedule.cost)
    model_work: int                 # the whole model's (work)
    arena_unpatched: int = 0

    @property
    def overhead(self) -> float:
        """The stage's extra work / the model's work, both estimated instructions."""
        return self.cost / max(self.model_work, 1)

    def summary(self) -> str:
        """One line for a person."""
        nodes = [m.layer.op.index for m in self.members]
        return (f"nodes {nodes[0]}-{nodes[-1]} in {len(self.bands)} bands of {self.band_rows} "
                f"row{'s' if self.band_rows > 1 else ''}, arena {self.arena_unpatched:,} B "
                f"without, overhead {self.overhead:.1%} of the estimated work")

    def describe(self) -> dict[str, object]:
        """What a report says about the stage."""
        return {"layers": [m.layer.op.index for m in self.members], "band_rows": self.band_rows,
                "bands": len(self.bands), "kept_halos": len(self.kept),
                "recomputed_halos": len(self.members) - 1 - len(self.kept),
                "recomputed_macs": self.recomputed_macs,
                "recomputed_output_bytes": self.recomputed_bytes, "moved_bytes": self.moved_bytes,
                "extra_calls": self.extra_calls,
                "overhead": round(self.overhead, 4), "arena_unpatched": self.arena_unpatched}


@dataclass
class _Schedule:
    """A stage's band program before its buffers are placed."""

    band_rows: int
    kept: frozenset[int]
    # per band: moves (tensor, from row, rows) and calls (member, c, b, [(source, first row,
    # rows available)], padding rows above)
    bands: list[tuple[list[tuple[int, int, int]],
                      list[tuple[int, int, int, list[tuple[int, int, int]], int]]]]
    held: list[dict[int, tuple[int, int]]]  # per band, the rows each buffer holds
    capacity: dict[int, int]
    recomputed_macs: int
    recomputed_bytes: int
    moved_bytes: int
    extra_calls: int
    fast: frozenset[int] = frozenset()      # members granted their fast scratch
    offsets: dict[int, int] = field(default_factory=dict)  # tensor or _scratch_key -> area
    area: int = 0
    overlap: int = 0

    @property
    def cost(self) -> int:
        """The extra work in estimated instructions: recomputed MACs and outputs, moved bytes
        (about one each) and the calls beyond one per layer."""
        return (self.recomputed_macs + OUTPUT_COST * self.recomputed_bytes + self.moved_bytes
                + CALL_COST * self.extra_calls)


def _frontiers(stage: Stage, x: int) -> list[int]:
    """Rows of each member's output computed once the stage output has x rows: what the readers'
    windows reach, worked out unclipped (x may be 0 or less: the warm-up bands before the first
    output row, where the layers before the last get ahead at the steady pace) and then clipped to
    each tensor's height."""
    ms = stage.members
    reach = [0] * len(ms)
    reach[-1] = x
    for i in range(len(ms) - 2, -1, -1):
        reach[i] = max((reach[j] - 1) * ms[j].window.stride - ms[j].window.pad + ms[j].window.k
                       for j in stage.readers[ms[i].out])
    return [min(m.out_h, max(0, r)) for m, r in zip(ms, reach)]


def schedule(stage: Stage, band_rows: int, kept: frozenset[int]) -> _Schedule | None:
    """The band program for bands of `band_rows` stage output rows, keeping the halo rows of the
    tensors in `kept` and recomputing the others; None where it cannot be built.

    Band k brings each member's output up to its frontier for k + 1 bands of the stage output
    (_frontiers), warm-up bands first. A member whose output is kept (and the last member)
    computes the rows past its previous frontier, one recomputed computes every row its readers
    read in this band; a buffer holds the rows from the first one a reader reads in this band."""
    ms, n = stage.members, len(stage.members)
    height = ms[-1].out_h
    first = 0
    while any(_frontiers(stage, band_rows * first)):
        first -= 1
    prev_f = [0] * n
    prev_lo: dict[int, int] = {}
    capacity = {t: 0 for t in stage.internal}
    computed = [0] * n
    paired = [0] * n  # odd rows a pair-row kernel computed beside the last of a call
    bands, helds, moved = [], [], 0
    for k in range(first, -(-height // band_rows)):
        front = _frontiers(stage, min(height, band_rows * (k + 1)))
        low: dict[int, int] = {}     # per tensor, the first row a reader reads in this band
        held: dict[int, tuple[int, int]] = {}
        rows: dict[int, tuple[int, int]] = {}
        moves = []
        for i in range(n - 1, -1, -1):
            m, t = ms[i], ms[i].out
            if i == n - 1:
                start = prev_f[i]
            elif t in kept:
                lo = low.get(t, prev_lo.get(t, 0))
                if lo < prev_lo.get(t, 0):
                    return None  # a row read again after it was dropped
                if prev_lo.get(t, 0) < lo < prev_f[i]:  # kept rows to the front of the buffer
                    moves.append((t, lo - prev_lo.get(t, 0), prev_f[i] - lo))
                    moved += (prev_f[i] - lo) * stage.rows[t]
                prev_lo[t] = lo
                held[t] = (lo, front[i])
                start = max(prev_f[i], lo)
            else:
                if t not in low:
                    continue
                start = low[t]
                held[t] = (start, front[i])
            if start >= front[i]:
                continue
            rows[i] = (start, front[i])
            computed[i] += front[i] - start
            lo2, hi2 = m.window.rows(start, front[i])
            if hi2 <= lo2:
                return None  # rows of padding alone
            for src in m.sources:
                low[src] = min(low.get(src, lo2), lo2)
        calls = []
        for i in sorted(rows):
            m, (c, b) = ms[i], rows[i]
            if m.layer.func == PAIR_ROW_KERNEL:
                paired[i] += (b - c) % 2
            # exactly the rows the windows reach: past them a kernel sees padding, which is
            # right at the bottom edge, and elsewhere reaches only outputs it discards (the odd
            # last row of td_depthwise_conv3x3_s8's row pairs)
            lo2, hi2 = m.window.rows(c, b)
            views = [(src, lo2, hi2 - lo2) for src in m.sources]
            calls.append((i, c, b, views, lo2 - (c * m.window.stride - m.window.pad)))
        for t, (lo, hi) in held.items():
            capacity[t] = max(capacity[t], hi - lo)
        bands.append((moves, calls))
        helds.append(held)
        prev_f = front
    # net of rows no reader reads (under a strided 1x1 convolution), which are never computed;
    # a pair-row kernel's odd calls each compute a row more, the whole layer one where its
    # height is odd
    for i, m in enumerate(ms):
        if m.layer.func == PAIR_ROW_KERNEL:
            computed[i] += paired[i] - m.out_h % 2
    recomputed = sum(int(round(computed[i] * m.macs_per_row)) - m.layer.macs
                     for i, m in enumerate(ms))
    again = sum((computed[i] - m.out_h) * stage.rows[m.out] for i, m in enumerate(ms))
    extra = sum(len(band_calls) for _, band_calls in bands) - n
    return _Schedule(band_rows, kept, bands, helds, capacity, max(recomputed, 0), max(again, 0),
                     moved, extra)


def _place(stage: Stage, sch: _Schedule, fast: frozenset[int]) -> tuple[dict[int, int], int]:
    """Band buffers and kernel scratch in the stage area: a kept buffer lives through the stage,
    a recomputed one from its writer to its last reader inside the band, a scratch during its
    call."""
    n = len(stage.members)
    buffers: dict[int, list[Part]] = {}
    for i, m in enumerate(stage.members):
        if m.out in sch.capacity:
            size = _align(max(sch.capacity[m.out] * stage.rows[m.out], 1))
            alive = (0, n) if m.out in sch.kept else (i, max(stage.readers[m.out]))
            buffers[m.out] = [(0, size, *alive)]
        scratch = m.scratch(i in fast)
        if scratch:
            buffers[_scratch_key(i)] = [(0, _align(scratch), i, i)]
    return place(buffers)


def _scratch_key(i: int) -> int:
    """The area key of member i's scratch (tensor keys are >= 0)."""
    return -1 - i


def _overlap(stage: Stage, sch: _Schedule) -> int:
    """How far into the output's buffer the input must sit so that no output row a call writes
    reaches input bytes that call or any later one still reads (0: the output may start where the
    input does)."""
    writes, reads = [], []
    out_row, in_row = stage.rows[stage.output], stage.rows[stage.input]
    end = 0
    for _, calls in sch.bands:
        for i, c, b, views, _ in calls:
            if stage.members[i].out == stage.output:
                end = max(end, b * out_row)
            writes.append(end)
            firsts = [lo * in_row for src, lo, _ in views if src == stage.input]
            reads.append(min(firsts) if firsts else None)
    need, future = 0, None
    for w, r in zip(reversed(writes), reversed(reads)):
        if r is not None:
            future = r if future is None else min(future, r)
        if future is not None:
            need = max(need, w - future)
    return _align(need)


def _finish(stage: Stage, sch: _Schedule, fast: frozenset[int]) -> _Schedule:
    offsets, area = _place(stage, sch, fast)
    sch.fast, sch.offsets, sch.area, sch.overlap = fast, offsets, area, _overlap(stage, sch)
    return sch


def _footprint(stage: Stage, sch: _Schedule, graph: Subgraph) -> int:
    """The stage's bytes at its step: the area, input and output (sharing where they may)."""
    x, y = graph.tensors[stage.input].nbytes, graph.tensors[stage.output].nbytes
    return sch.area + min(x + y, max(y, sch.overlap + x))


def configurations(stage: Stage, budget: float) -> list[_Schedule]:
    """Band programs worth trying, within the overhead budget (_Schedule.cost): for each band
    height, halos kept everywhere, then each tensor in turn (largest rows first) recomputed
    instead where that shrinks the area."""
    out: list[_Schedule] = []
    height = stage.members[-1].out_h
    order = sorted(stage.internal, key=lambda t: -stage.rows[t])
    for rows in [r for r in BAND_ROWS if r < height]:
        kept = frozenset(stage.internal)
        sch = schedule(stage, rows, kept)
        if sch is None or sch.cost > budget:
            continue
        best = _finish(stage, sch, frozenset())
        out.append(best)
        for t in order:
            trial = schedule(stage, rows, best.kept - {t})
            if trial is None or trial.cost > budget:
                continue
            out.append(_finish(stage, trial, frozenset()))
            if trial.area < best.area:
                best = trial
    return out


def _grant_fast(stage: Stage, sch: _Schedule) -> _Schedule:
    """Each member's fast scratch (quad buffers) where the area does not grow."""
    fast = frozenset()
    for i, m in enumerate(stage.members):
        if m.layer.fast_scratch and isinstance(getattr(m.layer.params, "quads", None), Granted):
            _, area = _place(stage, sch, fast | {i})
            if area <= sch.area:
                fast = fast | {i}
    return _finish(stage, sch, fast)


def _composite(stage: Stage, sch: _Schedule, layers: list[Layer]) -> list[Layer]:
    """The graph's layers with the stage as one step (at its first layer; the others empty) that
    reads the input, writes the output and needs the area as scratch."""
    head = layers[stage.first]
    step = Layer(head.op, None, inputs=[stage.input], outputs=[stage.output],
                 scratch_bytes=sch.area, overlap=sch.overlap, shares_input=True)
    return (layers[:stage.first] + [step] + [Layer(lay.op, None) for lay in
                                             layers[stage.first + 1:stage.last + 1]]
            + layers[stage.last + 1:])


def _program(stage: Stage, sch: _Schedule) -> list[list[Move | BandCall]]:
    """The schedule with buffer offsets in place."""
    program: list[list[Move | BandCall]] = []

    def ref(t: int, row: int, held: dict[int, tuple[int, int]]) -> Ref:
        if t in sch.offsets:
            return (None, sch.offsets[t] + (row - held[t][0]) * stage.rows[t])
        return (t, row * stage.rows[t])

    for (moves, calls), held in zip(sch.bands, sch.held):
        ops: list[Move | BandCall] = []
        for t, frm, count in moves:
            base, row = sch.offsets[t], stage.rows[t]
            ops.append(Move(base, base + frm * row, count * row))
        for i, c, b, views, pad in calls:
            m = stage.members[i]
            n_in = views[0][2]
            key = _scratch_key(i)
            ops.append(BandCall(i, m.band_params(c, b, n_in, pad, i in sch.fast),
                                tuple(ref(src, lo, held) for src, lo, _ in views),
                                ref(m.out, c, held), (b - c) * stage.rows[m.out],
                                sch.offsets.get(key), m.scratch(i in sch.fast)))
        program.append(ops)
    return program


def patched_plan(graph: Subgraph, layers: list[Layer], plan: MemoryPlan, state: StateLayout,
                 max_overhead: float) -> MemoryPlan:
    """The plan with the stage, band height and halo policy that make the arena smallest within
    the overhead bound; the plain plan where no stage makes it smaller."""
    members = [member(graph, i, lay) for i, lay in enumerate(layers)]
    readers: dict[int, list[int]] = {}
    for i, lay in enumerate(layers):
        for t in lay.inputs:
            readers.setdefault(t, []).append(i)
    model_work = work(graph, layers)
    budget = max_overhead * model_work
    live = _live_bytes(graph, layers, plan)
    candidates = []
    for first in range(len(layers)):
        for last in range(first + 1, min(len(layers), first + MAX_STAGE)):
            if members[last] is None:
                break
            outside = max([v for s, v in enumerate(live) if not first <= s <= last], default=0)
            if outside >= plan.arena_bytes:
                continue
            stage = find_stage(graph, layers, members, first, last, readers)
            if stage is None:
                continue
            through = _through_bytes(graph, plan, stage)
            for sch in configurations(stage, budget):
                bound = max(outside, through + _footprint(stage, sch, graph))
                if bound < plan.arena_bytes:
                    candidates.append((bound, sch.cost, stage, sch))
    best, best_cost = plan, 0
    candidates.sort(key=lambda c: (c[0], c[1]))
    for bound, cost, stage, sch in candidates[:MAX_TRIALS]:
        if bound > best.arena_bytes:
            break
        if best.patch is not None and bound == best.arena_bytes and cost >= best_cost:
            continue
        sch = _grant_fast(stage, sch)
        trial = plan_memory(graph, _composite(stage, sch, layers), state)
        if (trial.arena_bytes < best.arena_bytes if best.patch is None
                else (trial.arena_bytes, cost) < (best.arena_bytes, best_cost)):
            trial.patch = PatchStage(stage.first, stage.last, stage.input, stage.output,
                                     sch.band_rows, sch.kept, stage.members,
                                     _program(stage, sch), sch.area, sch.overlap,
                                     sch.recomputed_macs, sch.recomputed_bytes,
                                     sch.moved_bytes, sch.extra_calls, sch.cost, model_work,
                                     plan.arena_bytes)
            best, best_cost = trial, cost
    return best


def _live_bytes(graph: Subgraph, layers: list[Layer], plan: MemoryPlan) -> list[int]:
    """Per step, the bytes of the plain plan's buffers alive (a guide to where the peak is)."""
    live = [0] * len(layers)
    for t, (a, b) in plan.lifetimes.items():
        for s in range(max(a, 0), min(b, len(layers) - 1) + 1):
            live[s] += graph.tensors[t].nbytes
    for s, lay in enumerate(layers):
        live[s] += lay.scratch_bytes
    return live


def _through_bytes(graph: Subgraph, plan: MemoryPlan, stage: Stage) -> int:
    """Bytes of tensors alive across the stage that it neither reads nor makes."""
    mine = {stage.input, stage.output, *stage.internal}
    return sum(graph.tensors[t].nbytes for t, (a, b) in plan.lifetimes.items()
               if t not in mine and a < stage.first and b > stage.last)
