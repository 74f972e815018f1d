"""Latency without a build: a per-layer cost model calibrated against QEMU runs on a board's core.

Each kernel call's instructions are predicted from its shape as a non-negative combination of six
counts its loops run over (one call, MACs done four or two output pixels at a time, output
values, window or input values, rows), with one set of coefficients per kernel variant (the C
function, whether the memory plan granted its faster path, fast requantization, special paths).
A patch stage (tinydeploy/patch.py) is what its band program runs: each layer's kernel once per
band on that band's rows, and moves of kept halo rows. The coefficients are fitted to the
instruction counts of the profile marks of calibration models run in the batch runner
(tinydeploy/batch.py), so they include everything the firmware spends per call; a stage has one
mark for all its calls. Held-out models say how far the estimate of a whole inference may be
off: that figure is the model's stated error.

QEMU under -icount counts instructions, not cycles; on a real board (wait states, caches) the same
model gives instructions only, which the board's clock turns into milliseconds as `bench` does.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from tinydeploy.boards import Board, list_boards
from tinydeploy.compiler import CompiledModel
from tinydeploy.errors import TinyDeployError
from tinydeploy.firmware import weights_for_board
from tinydeploy.ops.base import Granted, Layer, Params
from tinydeploy.ops.conv import TD_W16B, ConvParams
from tinydeploy.ops.elementwise import BinaryParams
from tinydeploy.ops.pooling import PoolParams
from tinydeploy.patch import Move, PatchStage
from tinydeploy.paths import FIRMWARE, KERNELS

FEATURES = ("calls", "work", "work_in_pairs", "out_values", "window_or_input", "rows")
ERROR_MARGIN = 1.25   # the stated error: the largest held-out error times this, at least 2%
MIN_ERROR = 0.02
MIN_SAMPLES = 2 * len(FEATURES)   # calls a variant needs for coefficients of its own
MOVE = "memmove"   # a patch stage's move of kept halo rows: features one call and its bytes

Call = tuple[str, np.ndarray]   # a kernel call's (or a move's) variant and features


def simulated_twin(board: Board) -> Board:
    """The board itself when QEMU simulates it, else a simulated board with the same core (whose
    instruction counts the cost model is calibrated on)."""
    if board.is_qemu:
        return board
    for b in list_boards():
        if b.is_qemu and b.core == board.core:
            return b
    raise TinyDeployError(f"no simulated board has {board.name}'s core ({board.core}) to "
                          "calibrate latency on", "add a qemu-* board file with that core")


def _ceil(n: int, k: int) -> int:
    return -(-n // k) * k


def _conv_groups(p: ConvParams, func: str, quads: bool) -> tuple[int, int]:
    """Output pixels a convolution computes four at a time and two at a time (an odd last pixel
    counts as a pair), following td_conv2d_s8's and td_conv1x1_s8's loops: fours only with the
    fast path, and in td_conv2d_s8 only where the four windows lie inside the input's width. On
    a core with the DSP extension a TD_W16B layer with the int8 clamp takes pairs everywhere
    (its assembly loop); the fit is per core, so there both counts get the pair loop's cost."""
    if func == "td_conv1x1_s8":
        n = p.out_h * p.out_w
        fours = n // 4 if quads else 0
        return 4 * fours, _ceil(n - 4 * fours, 2)
    fours = pairs = ox = 0
    while ox < p.out_w:
        ix = ox * p.stride_w - p.pad_w
        if (quads and p.dil_w == 1 and ox + 4 <= p.out_w and ix >= 0
                and ix + 3 * p.stride_w + p.k_w <= p.in_w):
            fours, ox = fours + 1, ox + 4
        else:
            pairs, ox = pairs + 1, ox + 2
    return 4 * fours * p.out_h, 2 * pairs * p.out_h


def _taps(size: int, out: int, f: int, stride: int, pad: int) -> int:
    """Window taps inside the input along one axis, summed over the outputs."""
    return sum(min(size, o * stride - pad + f) - max(0, o * stride - pad) for o in range(out))


def _features(layer: Layer, p: Params, fast: bool, macs: float, outs: float, ins: float
              ) -> np.ndarray:
    """The six features of a kernel call with parameters `p`, each a count the kernel's loops
    run over; `macs`, `outs` and `ins` are the call's MACs, output and input values (for a band
    call of a patch stage, its rows' share of the layer's).

    Convolutions (td_conv2d_s8, td_conv1x1_s8) go through output pixels in fours (the fast path)
    or pairs, windows padded to 4 bytes a row, channels in pairs: the MACs of fours and of pairs
    are counted apart, as the loops run, padding included, then the window values and rows
    packed. Depthwise convolutions run over pixels, then groups of four channels; the 3x3 kernel
    computes output rows in pairs (an odd last row costs a whole pair: what matters for a band
    of one row) from pair rows it packs, one more than it computes, each of out_w + 2 columns.
    Pooling counts the window reads inside the input; everything else its MACs or, without any,
    its output values."""
    if isinstance(p, ConvParams) and layer.func in ("td_conv2d_s8", "td_conv1x1_s8"):
        fours, pairs = _conv_groups(p, layer.func, fast)
        window = _ceil(p.in_c, 4) if layer.func == "td_conv1x1_s8" else \
            p.k_h * _ceil(p.k_w * p.in_c, 4)
        channels = _ceil(p.out_c, 2)
        return np.array([1, fours * window * channels, pairs * window * channels, outs,
                         (fours + pairs) * window, (fours + pairs) * p.k_h], np.float64)
    if layer.func == "td_depthwise_conv3x3_s8" and isinstance(p, ConvParams):
        pair_rows = -(-p.out_h // 2)   # output rows go in pairs: an odd last one costs a pair
        return np.array([1, 2 * pair_rows * p.out_w * p.out_c * 9, 0, outs,
                         (pair_rows + 1) * (p.out_w + 2) * p.out_c, pair_rows * p.out_c],
                        np.float64)
    if isinstance(p, ConvParams):
        groups = p.out_h * p.out_w * -(-p.out_c // 4)
        return np.array([1, groups * 4 * p.k_h * p.k_w, 0, outs, groups * p.k_h, ins],
                        np.float64)
    if isinstance(p, PoolParams):
        reads = (p.c * _taps(p.in_h, p.out_h, p.f_h, p.stride_h, p.pad_h)
                 * _taps(p.in_w, p.out_w, p.f_w, p.stride_w, p.pad_w))
        return np.array([1, reads, 0, outs, ins, p.out_h * p.out_w], np.float64)
    return np.array([1, macs or outs, 0, outs, ins, 0], np.float64)


def _key(layer: Layer, p: Params, fast: bool) -> str:
    """The kernel variant: its C function, '+fast' where the plan granted its fast scratch,
    '+rq' where it requantizes with the fast records, '+3x3' where td_depthwise_conv2d_s8 takes
    its register-resident 3x3 row path (whole groups of four channels, fast records)."""
    key = str(layer.func)
    if fast:
        key += "+fast"
    if getattr(p, "rq", None) or getattr(p, "layout", None) == TD_W16B:  # records in blocks
        key += "+rq"
        if (layer.func == "td_depthwise_conv2d_s8" and isinstance(p, ConvParams)
                and p.k_h == p.k_w == 3 and p.out_c % 4 == 0):
            key += "+3x3"
    return key


def _band_calls(compiled: CompiledModel, stage: PatchStage) -> list[Call]:
    """The kernel calls and row moves of a patch stage's band program, in the order it runs
    them. A band call is its layer's kernel on a band of rows (its own parameters: in_h, out_h,
    pad_h), so it gets the features of that call, with its rows' share of the layer's MACs and
    values; a call has the fast variant where its parameters took the granted value. A move is
    'memmove' with one call and its bytes."""
    tensors = compiled.model.tensors
    calls: list[Call] = []
    for ops in stage.bands:
        for op in ops:
            if isinstance(op, Move):
                calls.append((MOVE, np.array([1, op.nbytes, 0, 0, 0, 0], np.float64)))
                continue
            m = stage.members[op.member]
            lay, p = m.layer, op.params
            rows_out = p.out_dims[1] if isinstance(p, BinaryParams) else p.out_h
            rows_in = rows_out if isinstance(p, BinaryParams) else p.in_h
            share_out, share_in = rows_out / m.out_h, rows_in / m.window.in_h
            fast = any(isinstance(getattr(lay.params, f.name), Granted)
                       and getattr(p, f.name) == 1 for f in fields(p))
            outs = sum(tensors[i].size for i in lay.outputs) * share_out
            ins = sum(tensors[i].size for i in lay.inputs) * share_in
            calls.append((_key(lay, p, fast),
                          _features(lay, p, fast, lay.macs * share_out, outs, ins)))
    return calls


def layer_rows(compiled: CompiledModel) -> list[tuple[str, list[Call]]]:
    """(layer name, its kernel calls) for every profile mark of the entry subgraph, in order: a
    layer's one call, or for the first layer of a patch stage every call and move of the band
    program (the firmware counts the stage's time there), none for its other layers."""
    stage = compiled.plan.patch
    rows: list[tuple[str, list[Call]]] = []
    tensors = compiled.model.tensors
    for step, lay in enumerate(compiled.layers):
        if lay.kernel is None:
            continue
        name = f"{lay.op.index}:{lay.op.opcode}"
        if stage is not None and stage.first <= step <= stage.last:
            rows.append((name, _band_calls(compiled, stage) if step == stage.first else []))
            continue
        fast = step in compiled.plan.fast
        outs = sum(tensors[i].size for i in lay.outputs)
        ins = sum(tensors[i].size for i in lay.inputs)
        rows.append((name, [(_key(lay, lay.params, fast),
                             _features(lay, lay.params, fast, lay.macs, outs, ins))]))
    return rows


@dataclass
class CostModel:
    """Per-kernel-variant coefficients (instructions per unit of each feature) for one core."""

    board: str                          # the simulated board calibrated on
    core: str
    coefficients: dict[str, list[float]]
    pooled: list[float]                 # for a kernel variant calibration never ran
    overhead: float                     # instructions per inference outside the kernel calls
    error: float                        # stated relative error of a whole inference's estimate
    heldout_errors: list[float]         # calibration models' errors when left out of the fit (those
                                        # whose every kernel the others ran too)
    layers_measured: int
    models_measured: int
    source: str = ""                    # the kernels, compiler and core it was fitted for
    # per calibration model: its name, instructions measured, error when held out (signed)
    calibration: list[dict] = field(default_factory=list)

    def layer_instructions(self, compiled: CompiledModel, board: Board) -> list[tuple[str, float]]:
        """(layer, predicted instructions) of every kernel call, with the board's weight layout."""
        laid = weights_for_board(compiled, board)
        return [(name, _predict(self.coefficients, self.pooled, calls))
                for name, calls in layer_rows(laid)]

    def instructions(self, compiled: CompiledModel, board: Board) -> float:
        """Predicted instructions of one inference on the board."""
        return self.overhead + sum(v for _, v in self.layer_instructions(compiled, board))

    def milliseconds(self, compiled: CompiledModel, board: Board) -> float:
        """The prediction at one instruction per cycle at the board's clock, as bench reports."""
        return self.instructions(compiled, board) / board.clock_hz * 1e3

    def unknown_kernels(self, compiled: CompiledModel, board: Board) -> list[str]:
        """Kernels the model calls that calibration never measured in any variant."""
        laid = weights_for_board(compiled, board)
        return sorted({key for _, calls in layer_rows(laid) for key, _ in calls
                       if key != MOVE and key not in self.coefficients
                       and _family(key) not in self.coefficients})

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> CostModel:
        return cls(**data)


# the modules that decide which kernel calls a model makes, with which parameters and memory
# plan (fast scratch, patch stages), and how the firmware runs them
COMPILER_MODULES = ("compiler.py", "compile_options.py", "lowering.py", "memory_plan.py",
                    "patch.py", "codegen.py", "weight_layout.py", "firmware.py", "quantize.py")


def calibration_source_hash(board: Board) -> str:
    """What a calibration depends on besides its models: the kernel sources, the compiler
    (a calibration fitted before patch stages existed mispredicts every patched model), the
    firmware's own sources and the core."""
    h = hashlib.sha256(f"{board.core} {' '.join(board.cpu_flags)}".encode())
    package = Path(__file__).parent
    files = [*sorted(KERNELS.glob("*")), *sorted((FIRMWARE / "src").glob("*")),
             *(package / m for m in COMPILER_MODULES), *sorted((package / "ops").glob("*.py"))]
    for f in files:
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:16]


def _family(key: str) -> str:
    """The entry fitted over every variant of a kernel: 'td_conv2d_s8*'."""
    return key.split("+")[0] + "*"


def _coef(coefficients: dict[str, list[float]], pooled: list[float], key: str) -> list[float]:
    """A variant's coefficients; its kernel's over all variants, or the pooled ones, where
    calibration never ran that variant (moves: none, where calibration ran none)."""
    if key == MOVE:
        return coefficients.get(MOVE) or [0.0] * len(FEATURES)
    return coefficients.get(key) or coefficients.get(_family(key)) or pooled


def _predict(coefficients: dict[str, list[float]], pooled: list[float], calls: list[Call]
             ) -> float:
    """Predicted instructions of one profile mark's calls."""
    return sum(float(np.dot(_coef(coefficients, pooled, key), f)) for key, f in calls)


def _solve(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative least squares, with columns scaled to similar size for the solver."""
    from scipy.optimize import nnls

    scale = np.maximum(np.abs(a).max(axis=0), 1.0)
    coef, _ = nnls(a / scale, y)
    return coef / scale


def _per_work(f: np.ndarray) -> np.ndarray:
    """A rarely measured kernel's one feature: its work, four-pixel and pair MACs together."""
    return np.array([f[1] + f[2]])


def _expand(c: np.ndarray) -> list[float]:
    """One instructions-per-work coefficient as the six features' coefficients."""
    return [0.0, float(c[0]), float(c[0])] + [0.0] * (len(FEATURES) - 3)


def _fit(marks: list[tuple[list[Call], float]]) -> tuple[dict[str, list[float]], list[float]]:
    """Coefficients from measured profile marks.

    A mark is one kernel call or, for a patch stage, all its band calls and moves: each
    measurement is the sum of its calls' features times their variants' coefficients. The
    variants called at least MIN_SAMPLES times, and the moves (a cost per move and per byte), get
    coefficients of their own from one non-negative least squares over every mark, so the
    stages, many calls on a few rows each, pin the per-call and per-row costs that whole layers
    alone leave loose. A rarer variant takes its kernel's coefficients ('td_conv2d_s8*'), fitted
    on the single calls of all the kernel's variants (one coefficient, instructions per unit of
    work, where there are few), and a kernel without any the pooled ones, over every single call;
    those calls are predicted first and what they leave goes to the joint fit."""
    singles = [(calls[0][0], calls[0][1], y) for calls, y in marks if len(calls) == 1]

    def alone(rows: list[tuple[np.ndarray, float]]) -> list[float]:
        f = np.stack([f for f, _ in rows])
        y = np.array([y for _, y in rows])
        if len(rows) < MIN_SAMPLES:
            return _expand(_solve(np.stack([_per_work(x) for x in f]), y))
        return [float(v) for v in _solve(f, y)]

    coefficients = {family: alone([(f, y) for k, f, y in singles if _family(k) == family])
                    for family in {_family(k) for k, _, _ in singles}}
    pooled = alone([(f, y) for _, f, y in singles])
    counts: dict[str, int] = {}
    for calls, _ in marks:
        for key, _ in calls:
            counts[key] = counts.get(key, 0) + 1
    own = sorted(k for k, n in counts.items() if k == MOVE or n >= MIN_SAMPLES)
    if not own:
        return coefficients, pooled
    width = {k: 2 if k == MOVE else len(FEATURES) for k in own}
    start = dict(zip(own, np.cumsum([0] + [width[k] for k in own])))
    a = np.zeros((len(marks), sum(width.values())))
    y = np.array([y for _, y in marks], np.float64)
    for r, (calls, _) in enumerate(marks):
        for key, f in calls:
            if key in start:
                a[r, start[key]:start[key] + width[key]] += f[:width[key]]
            else:
                y[r] -= _predict(coefficients, pooled, [(key, f)])
    coef = _solve(a, y)
    for k in own:
        c = [float(v) for v in coef[start[k]:start[k] + width[k]]]
        coefficients[k] = c + [0.0] * (len(FEATURES) - len(c))
    return coefficients, pooled


def fit(board: Board, models: list[CompiledModel], totals: list[float],
        layer_counts: list[list[float]], source: str = "") -> CostModel:
    """The cost model from measured instructions: each model's total and its profile marks'."""
    per_model: list[tuple[list[tuple[list[Call], float]], float]] = []
    for m, total, counts in zip(models, totals, layer_counts):
        rows = layer_rows(weights_for_board(m, board))
        if len(rows) != len(counts):
            raise TinyDeployError(f"{m.name}: {len(counts)} profiled calls for {len(rows)} "
                                  "kernel layers", "this is a tinydeploy bug")
        per_model.append(([(calls, y) for (_, calls), y in zip(rows, counts)], total))
    overheads = [total - sum(y for _, y in marks) for marks, total in per_model]
    overhead = float(np.median(overheads))
    coefficients, pooled = _fit([r for marks, _ in per_model for r in marks])

    def kernels(marks: list[tuple[list[Call], float]]) -> set[str]:
        return {_family(k) for calls, _ in marks for k, _ in calls if k != MOVE}

    heldout, record = [], []
    for i, (marks, total) in enumerate(per_model):
        others = [r for j, (ms, _) in enumerate(per_model) if j != i for r in ms]
        entry = {"model": models[i].name, "instructions": round(total), "heldout_error": None,
                 "patch": models[i].plan.patch is not None}
        record.append(entry)
        if kernels(marks) - kernels(others):
            continue   # the only model with some kernel: nothing to predict that kernel from
        coef_i, pooled_i = _fit(others)
        estimate = overhead + sum(_predict(coef_i, pooled_i, calls) for calls, _ in marks)
        heldout.append(abs(estimate - total) / total)
        entry["heldout_error"] = round(estimate / total - 1, 4)
    error = max(MIN_ERROR, math.ceil(100 * ERROR_MARGIN * max(heldout, default=0.0)) / 100)
    return CostModel(board.name, board.core, coefficients, pooled, overhead, error,
                     [round(e, 4) for e in heldout],
                     sum(k != MOVE for marks, _ in per_model for calls, _ in marks
                         for k, _ in calls),
                     len(per_model), source, record)


def measure(models: list[CompiledModel], board: Board, work: Path
            ) -> tuple[list[float], list[list[float]]]:
    """Each model's instructions per inference on a simulated board, in total and per kernel
    call: one random input each, one emulator run per firmware image."""
    from tinydeploy.batch import run_batch
    from tinydeploy.verify import random_inputs

    cases = [(i, random_inputs(m, 1, seed=i)[0], True) for i, m in enumerate(models)]
    result = run_batch(models, cases, board, work, layers=True)
    per_tick = board.units_per_tick
    return ([t * per_tick for t in result.ticks],
            [[t * per_tick for t in layers] for layers in result.layer_ticks])


def calibrate(models: list[CompiledModel], board: Board, work: Path) -> CostModel:
    """Run the calibration models on the board's simulated twin and fit the cost model."""
    twin = simulated_twin(board)
    h = hashlib.sha256(calibration_source_hash(twin).encode() + twin.name.encode())
    for m in models:
        h.update(hashlib.sha256(m.tflite).digest())
    totals, layers = measure(models, twin, work)
    return fit(twin, models, totals, layers, h.hexdigest()[:16])
