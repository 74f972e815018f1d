"""Latency without a build: a per-layer cost model calibrated against QEMU runs on a board's core.

Each kernel call's instructions are predicted from its shape as a non-negative combination of six
counts its loops run over (one call, MACs done four or two output pixels at a time, output
values, window or input values, rows), with one set of coefficients per kernel variant (the C
function, whether the memory plan granted its faster path, fast requantization, special paths). The coefficients are fitted to the per-layer instruction counts of calibration models run
in the batch runner with profile marks (tinydeploy/batch.py), so they include everything the
firmware spends per call. Held-out models say how far the estimate of a whole inference may be
off: that figure is the model's stated error.

QEMU under -icount counts instructions, not cycles; on a real board (wait states, caches) the same
model gives instructions only, which the board's clock turns into milliseconds as `bench` does.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tinydeploy.boards import Board, list_boards
from tinydeploy.compiler import CompiledModel
from tinydeploy.errors import TinyDeployError
from tinydeploy.firmware import weights_for_board
from tinydeploy.ops.base import Layer
from tinydeploy.ops.conv import ConvParams
from tinydeploy.ops.pooling import PoolParams
from tinydeploy.paths import KERNELS

FEATURES = ("calls", "work", "work_in_pairs", "out_values", "window_or_input", "rows")
ERROR_MARGIN = 1.25   # the stated error: the largest held-out error times this, at least 2%
MIN_ERROR = 0.02
MIN_SAMPLES = 2 * len(FEATURES)   # calls a variant needs for coefficients of its own


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
    fast path, and in td_conv2d_s8 only where the four windows lie inside the input's width."""
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


def _features(compiled: CompiledModel, step: int, layer: Layer) -> np.ndarray:
    """The six features of a kernel call, each a count the kernel's loops run over.

    Convolutions (td_conv2d_s8, td_conv1x1_s8) go through output pixels in fours (the fast path)
    or pairs, windows padded to 4 bytes a row, channels in pairs: the MACs of fours and of pairs
    are counted apart, as the loops run, padding included, then the window values and rows
    packed. Depthwise convolutions run over pixels, then groups of four channels (3x3: channel
    pairs down pairs of rows). Pooling counts the window reads inside the input; everything else
    its MACs or, without any, its output values."""
    tensors = compiled.model.tensors
    outs = sum(tensors[i].size for i in layer.outputs)
    ins = sum(tensors[i].size for i in layer.inputs)
    p = layer.params
    if isinstance(p, ConvParams) and layer.func in ("td_conv2d_s8", "td_conv1x1_s8"):
        fours, pairs = _conv_groups(p, layer.func, step in compiled.plan.fast)
        window = _ceil(p.in_c, 4) if layer.func == "td_conv1x1_s8" else \
            p.k_h * _ceil(p.k_w * p.in_c, 4)
        channels = _ceil(p.out_c, 2)
        return np.array([1, fours * window * channels, pairs * window * channels, outs,
                         (fours + pairs) * window, (fours + pairs) * p.k_h], np.float64)
    if layer.func == "td_depthwise_conv3x3_s8":
        return np.array([1, layer.macs, 0, outs, p.out_c * -(-p.out_h // 2), p.out_c],
                        np.float64)
    if isinstance(p, ConvParams):
        groups = p.out_h * p.out_w * -(-p.out_c // 4)
        return np.array([1, groups * 4 * p.k_h * p.k_w, 0, outs, groups * p.k_h, ins],
                        np.float64)
    if isinstance(p, PoolParams):
        reads = (p.c * _taps(p.in_h, p.out_h, p.f_h, p.stride_h, p.pad_h)
                 * _taps(p.in_w, p.out_w, p.f_w, p.stride_w, p.pad_w))
        return np.array([1, reads, 0, outs, ins, p.out_h * p.out_w], np.float64)
    return np.array([1, layer.macs or outs, 0, outs, ins, 0], np.float64)


def _key(compiled: CompiledModel, step: int, layer: Layer) -> str:
    """The kernel variant: its C function, '+fast' where the plan granted its fast scratch,
    '+rq' where it requantizes with the fast records, '+3x3' where td_depthwise_conv2d_s8 takes
    its register-resident 3x3 row path (whole groups of four channels, fast records)."""
    key = str(layer.func)
    p = layer.params
    if step in compiled.plan.fast:
        key += "+fast"
    if getattr(p, "rq", None):
        key += "+rq"
        if (layer.func == "td_depthwise_conv2d_s8" and isinstance(p, ConvParams)
                and p.k_h == p.k_w == 3 and p.out_c % 4 == 0):
            key += "+3x3"
    return key


def layer_rows(compiled: CompiledModel) -> list[tuple[str, str, np.ndarray]]:
    """(layer name, kernel variant, features) of every kernel call of the entry subgraph, in the
    order of the firmware's profile marks."""
    return [(f"{lay.op.index}:{lay.op.opcode}", _key(compiled, step, lay),
             _features(compiled, step, lay))
            for step, lay in enumerate(compiled.layers) if lay.kernel is not None]


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
    source: str = ""                    # the kernels and cores it was fitted for (cache key)
    # per calibration model: its name, instructions measured, error when held out (signed)
    calibration: list[dict] = field(default_factory=list)

    def layer_instructions(self, compiled: CompiledModel, board: Board) -> list[tuple[str, float]]:
        """(layer, predicted instructions) of every kernel call, with the board's weight layout."""
        laid = weights_for_board(compiled, board)
        return [(name, float(np.dot(_coef(self.coefficients, self.pooled, key), f)))
                for name, key, f in layer_rows(laid)]

    def instructions(self, compiled: CompiledModel, board: Board) -> float:
        """Predicted instructions of one inference on the board."""
        return self.overhead + sum(v for _, v in self.layer_instructions(compiled, board))

    def milliseconds(self, compiled: CompiledModel, board: Board) -> float:
        """The prediction at one instruction per cycle at the board's clock, as bench reports."""
        return self.instructions(compiled, board) / board.clock_hz * 1e3

    def unknown_kernels(self, compiled: CompiledModel, board: Board) -> list[str]:
        """Kernels the model calls that calibration never measured in any variant."""
        laid = weights_for_board(compiled, board)
        return sorted({key for _, key, _ in layer_rows(laid)
                       if _family(key) not in self.coefficients})

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> CostModel:
        return cls(**data)


def kernel_source_hash(board: Board) -> str:
    """What a calibration depends on besides its models: the kernel sources and the core."""
    h = hashlib.sha256(f"{board.core} {' '.join(board.cpu_flags)}".encode())
    for f in sorted(KERNELS.glob("*")):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:16]


def _family(key: str) -> str:
    """The entry fitted over every variant of a kernel: 'td_conv2d_s8*'."""
    return key.split("+")[0] + "*"


def _coef(coefficients: dict[str, list[float]], pooled: list[float], key: str) -> list[float]:
    """A variant's coefficients; its kernel's over all variants, or the pooled ones, where
    calibration never ran that variant."""
    return coefficients.get(key) or coefficients.get(_family(key)) or pooled


def _fit(rows: list[tuple[str, np.ndarray, float]]) -> tuple[dict[str, list[float]], list[float]]:
    """Non-negative least squares per kernel (over all its variants), per variant measured often
    enough, and pooled over everything; a kernel measured a few times only gets one coefficient,
    instructions per unit of work."""
    from scipy.optimize import nnls

    by_key: dict[str, list[tuple[np.ndarray, float]]] = {}
    for key, f, y in rows:
        by_key.setdefault(key, []).append((f, y))
        by_key.setdefault(_family(key), []).append((f, y))

    def solve(pairs: list[tuple[np.ndarray, float]]) -> list[float]:
        a = np.stack([f for f, _ in pairs])
        if len(pairs) < MIN_SAMPLES:   # too few for six coefficients: instructions per work
            per_work = sum(y for _, y in pairs) / max(float(a[:, 1:3].sum()), 1.0)
            return [0.0, per_work, per_work] + [0.0] * (len(FEATURES) - 3)
        scale = np.maximum(a.max(axis=0), 1.0)   # columns of similar size for the solver
        coef, _ = nnls(a / scale, np.array([y for _, y in pairs]))
        return [float(c) for c in coef / scale]

    return ({k: solve(v) for k, v in by_key.items()
             if k.endswith("*") or len(v) >= MIN_SAMPLES},
            solve([(f, y) for _, f, y in rows]))


def fit(board: Board, models: list[CompiledModel], totals: list[float],
        layer_counts: list[list[float]], source: str = "") -> CostModel:
    """The cost model from measured instructions: each model's total and its kernel calls'."""
    per_model = []
    for m, total, counts in zip(models, totals, layer_counts):
        rows = layer_rows(weights_for_board(m, board))
        if len(rows) != len(counts):
            raise TinyDeployError(f"{m.name}: {len(counts)} profiled calls for {len(rows)} "
                                  "kernel layers", "this is a tinydeploy bug")
        per_model.append(([(key, f, y) for (_, key, f), y in zip(rows, counts)], total))
    overheads = [total - sum(y for _, _, y in rows) for rows, total in per_model]
    overhead = float(np.median(overheads))
    coefficients, pooled = _fit([r for rows, _ in per_model for r in rows])
    heldout, record = [], []
    for i, (rows, total) in enumerate(per_model):
        others = [r for j, (rs, _) in enumerate(per_model) if j != i for r in rs]
        entry = {"model": models[i].name, "instructions": round(total), "heldout_error": None}
        record.append(entry)
        if {_family(k) for k, _, _ in rows} - {_family(k) for k, _, _ in others}:
            continue   # the only model with some kernel: nothing to predict that kernel from
        coef_i, pooled_i = _fit(others)
        estimate = overhead + sum(float(np.dot(_coef(coef_i, pooled_i, k), f)) for k, f, _ in rows)
        heldout.append(abs(estimate - total) / total)
        entry["heldout_error"] = round(estimate / total - 1, 4)
    error = max(MIN_ERROR, math.ceil(100 * ERROR_MARGIN * max(heldout, default=0.0)) / 100)
    return CostModel(board.name, board.core, coefficients, pooled, overhead, error,
                     [round(e, 4) for e in heldout], sum(len(r) for r, _ in per_model),
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
    h = hashlib.sha256(kernel_source_hash(twin).encode() + twin.name.encode())
    for m in models:
        h.update(hashlib.sha256(m.tflite).digest())
    totals, layers = measure(models, twin, work)
    return fit(twin, models, totals, layers, h.hexdigest()[:16])
