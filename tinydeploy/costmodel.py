"""Latency without a build: a per-layer cost model calibrated against QEMU runs on a board's core.

Each kernel call's instructions are predicted from its shape as a non-negative combination of five
features (one call, MACs, output values, input values, output pixels), with one set of
coefficients per kernel variant (the C function, and whether the memory plan granted its faster
path). The coefficients are fitted to the per-layer instruction counts of calibration models run
in the batch runner with profile marks (tinydeploy/batch.py), so they include everything the
firmware spends per call. Held-out models say how far the estimate of a whole inference may be
off: that figure is the model's stated error.

QEMU under -icount counts instructions, not cycles; on a real board (wait states, caches) the same
model gives instructions only, which the board's clock turns into milliseconds as `bench` does.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
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

FEATURES = ("calls", "work", "out_values", "in_values", "pixels")
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


def _features(compiled: CompiledModel, step: int, layer: Layer) -> np.ndarray:
    """The five features of a kernel call, each a count the kernel's loops run over.

    Convolutions (td_conv2d_s8, td_conv1x1_s8) go through output pixels in pairs (fours where
    the fast path was granted), windows padded to 4 bytes a row, channels in pairs: their MACs
    and window values are counted as the loops run, padding included. Depthwise convolutions run
    over pixels, then groups of four channels (3x3: channel pairs down pairs of rows). Pooling
    counts window reads; everything else its MACs or, without any, its output values."""
    tensors = compiled.model.tensors
    outs = sum(tensors[i].size for i in layer.outputs)
    ins = sum(tensors[i].size for i in layer.inputs)
    p = layer.params
    fast = step in compiled.plan.fast
    if isinstance(p, ConvParams) and layer.func in ("td_conv2d_s8", "td_conv1x1_s8"):
        group = 4 if fast else 2
        if layer.func == "td_conv1x1_s8":
            pixels = _ceil(p.out_h * p.out_w, group)
            window = _ceil(p.in_c, 4)
        else:
            pixels = p.out_h * _ceil(p.out_w, group)
            window = p.k_h * _ceil(p.k_w * p.in_c, 4)
        # the last feature counts the window rows packed: one copy per pixel and kernel row
        return np.array([1, pixels * window * _ceil(p.out_c, 2), outs, pixels * window,
                         pixels * p.k_h], np.float64)
    if layer.func == "td_depthwise_conv3x3_s8":   # channel pairs down pairs of rows
        return np.array([1, layer.macs, outs, p.out_c * -(-p.out_h // 2), p.out_c], np.float64)
    if isinstance(p, ConvParams):   # pixels, groups of 4 channels, kernel rows, taps
        groups = p.out_h * p.out_w * -(-p.out_c // 4)
        return np.array([1, groups * 4 * p.k_h * p.k_w, outs, groups * p.k_h, ins], np.float64)
    if isinstance(p, PoolParams):
        return np.array([1, outs * p.f_h * p.f_w, outs, ins, p.out_h * p.out_w], np.float64)
    return np.array([1, layer.macs or outs, outs, ins, 0], np.float64)


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
        if len(pairs) < MIN_SAMPLES:   # too few for five coefficients: instructions per work
            return [0.0, sum(y for _, y in pairs) / max(float(a[:, 1].sum()), 1.0), 0.0, 0.0, 0.0]
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
    heldout = []
    for i, (rows, total) in enumerate(per_model):
        others = [r for j, (rs, _) in enumerate(per_model) if j != i for r in rs]
        if {_family(k) for k, _, _ in rows} - {_family(k) for k, _, _ in others}:
            continue   # the only model with some kernel: nothing to predict that kernel from
        coef_i, pooled_i = _fit(others)
        estimate = overhead + sum(float(np.dot(_coef(coef_i, pooled_i, k), f)) for k, f, _ in rows)
        heldout.append(abs(estimate - total) / total)
    error = max(MIN_ERROR, math.ceil(100 * ERROR_MARGIN * max(heldout, default=0.0)) / 100)
    return CostModel(board.name, board.core, coefficients, pooled, overhead, error,
                     [round(e, 4) for e in heldout], sum(len(r) for r, _ in per_model),
                     len(per_model), source)


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
