"""The bench stage: run a model on a board (QEMU or real) and measure it against the host.

For every test input the host streams the model's inputs over serial (any types, every input),
the device runs one timed inference and sends back its raw outputs, and the host compares them
bit for bit with the reference interpreter. The report has latency (min/median/max), per-layer
time, on-device and host accuracy, mismatches, flash, RAM, arena, state and stack.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinydeploy.boards import Board
from tinydeploy.batch import run_batch
from tinydeploy.build import BuildResult, build_project
from tinydeploy.compare import Agreement
from tinydeploy.compiler import CompiledModel, layer_weight_bytes
from tinydeploy.cycles import report as cycle_report
from tinydeploy.errors import TinyDeployError
from tinydeploy.firmware import firmware_models, render_project, weights_for_board
from tinydeploy.progress import progress, step
from tinydeploy.reference import ReferenceInterpreter, tflm_arena_bytes
from tinydeploy.targets import Target, open_target


@dataclass
class Firmware:
    models: list[CompiledModel]   # as built: each with the board's weight layout and its prefix
    board: Board
    project: Path
    build: BuildResult
    input_format: str = "int8"
    audio_frontend: bool = False

    @property
    def compiled(self) -> CompiledModel:
        """The first (or only) model."""
        return self.models[0]

    def wire_bytes(self, inputs: np.ndarray | list[np.ndarray], model: int = 0) -> bytes:
        """A model's inputs (one array per input, or the array of a one-input model) as the
        firmware expects them on the wire: every input's bytes, one after another; int8 inputs as
        uint8 (+128) on the MLPerf image convention."""
        tensors = self.models[model].input_tensors
        xs = [inputs] if isinstance(inputs, np.ndarray) and len(tensors) == 1 else list(inputs)
        if len(xs) != len(tensors):
            raise TinyDeployError(f"{len(xs)} inputs for a model with {len(tensors)}",
                                  "give one array per model input")
        out = b""
        for t, x in zip(tensors, xs):
            a = np.ascontiguousarray(x, t.dtype)
            if a.size != t.size:
                raise TinyDeployError(f"an input of {a.size} values for '{t.name}' of {t.size}",
                                      f"give inputs of shape {list(t.shape)}")
            if self.input_format == "uint8_minus_128" and t.dtype == "int8":
                a = (a.astype(np.int16) + 128).astype(np.uint8)
            out += a.tobytes()
        return out

    def split_outputs(self, raw: bytes, model: int = 0) -> list[np.ndarray]:
        """The device's raw output bytes as one array per model output."""
        outs, pos = [], 0
        for t in self.models[model].output_tensors:
            outs.append(np.frombuffer(raw[pos:pos + t.nbytes], t.dtype).reshape(t.shape))
            pos += t.nbytes
        if pos != len(raw):
            raise TinyDeployError(f"the device sent {len(raw)} output bytes, the model has {pos}",
                                  "the firmware was built for another model: rebuild it")
        return outs


def make_firmware(models: CompiledModel | list[CompiledModel], board: Board,
                  out_dir: str | Path, input_format: str = "int8", audio_frontend: bool = False,
                  weights: str = "auto", batch: bool = False) -> Firmware:
    """Render and build the firmware for one or more compiled models on a board.

    weights: the weight layout, "auto" (per board), "int8" or "int16" (firmware.weights_for_board).
    batch: the semihosting batch runner instead of the serial protocol (tinydeploy/batch.py).
    """
    ms = [weights_for_board(m, board, weights) for m in firmware_models(models)]
    project = render_project(ms, board, out_dir, input_format, audio_frontend, batch)
    step(f"building the firmware for {board.name} with PlatformIO")
    return Firmware(firmware_models(ms), board, project, build_project(project, board),
                    input_format, audio_frontend)


def layer_weights(compiled: CompiledModel) -> list[dict[str, Any]]:
    """Flash bytes of constants and weight layout (None: no choice) of each layer the firmware
    times, in order (the entry subgraph's kernel calls)."""
    return [{"weights_bytes": layer_weight_bytes(lay), "weight_layout": lay.layout}
            for lay in compiled.layers if lay.func]


def oracle_for(tflite: bytes) -> tuple[ReferenceInterpreter, str]:
    """The reference interpreter for a model and the rounding the compiler must follow to be
    compared with it (TFLite Micro rounds fully connected layers its own way)."""
    ref = ReferenceInterpreter(tflite)
    return ref, "tflm" if ref.name == "tflm" else "tflite"


def _latency(ticks: list[int], board: Board) -> dict[str, Any]:
    """Latency figures in the timer's own unit, and in milliseconds at the board's clock."""
    if not ticks:
        return {}
    units = [t * board.units_per_tick for t in ticks]
    unit = board.latency_unit
    out: dict[str, Any] = {"latency_unit": unit}
    for name, fn in (("min", min), ("median", statistics.median), ("max", max)):
        v = fn(units)
        out[f"latency_{unit}_{name}"] = int(round(v))
        out[f"latency_ms_{name}"] = round(v / board.clock_hz * 1e3, 3)
    out["latency_basis"] = (
        "QEMU -icount shift=0: instruction counts, not cycles; ms assume one instruction per "
        f"cycle at {board.clock_hz / 1e6:g} MHz" if board.is_qemu else
        f"{board.timer.upper()} cycle counter at {board.clock_hz / 1e6:g} MHz")
    return out


def write_json_atomic(path: str | Path, data: dict[str, Any]) -> None:
    """Write the whole report or nothing: a half-written result is never left behind."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, p)


def _cases(inputs: np.ndarray | list, n_inputs: int) -> list[list[np.ndarray]]:
    """[N, ...] arrays of a one-input model, or a list of cases (one array per input)."""
    if isinstance(inputs, np.ndarray) and n_inputs == 1:
        return [[x] for x in inputs]
    return [[c] if isinstance(c, np.ndarray) and n_inputs == 1 else list(c) for c in inputs]


def _frontend_cost(link: Any, fw: Firmware) -> dict[str, Any]:
    """The audio front end's cost per 20 ms hop: two seconds of a test sound streamed through the
    device's feature ring (one inference, no detections wanted), in the board's latency unit."""
    from tinydeploy import audio
    from tinydeploy.listen import ListenConfig, cost_report, pcm16, run_stream

    rng = np.random.default_rng(0)
    t = np.arange(2 * audio.SAMPLE_RATE) / audio.SAMPLE_RATE
    sound = 0.3 * np.sin(2 * np.pi * 440 * t) + rng.normal(0, 0.05, len(t))
    classes = [f"_class{i}" for i in range(fw.compiled.output_tensors[0].size)]
    result = run_stream(link, pcm16(sound), classes, ListenConfig(every=10_000, window=1))
    cost = cost_report(result, fw.board, 1)
    return {k: v for k, v in cost.items() if k.startswith("frontend_") or k in (
        "hop_budget", "budget_basis")}


def bench(fw: Firmware, tflite: bytes, inputs: np.ndarray | list, labels: np.ndarray | None = None,
          port: str | None = None, baud: int | None = None, timeout: float = 30.0,
          runs: int = 10, warmup: int = 1, target: Target | None = None,
          cycles_work: str | Path | None = None) -> dict[str, Any]:
    """Measure the firmware's first model on its board. inputs: [N, ...] for a one-input model, or
    a list of cases, each one array per model input, in the model's types.

    Every input runs once with exact timing and its raw output is compared with the reference
    interpreter; then the MLPerf Tiny `infer runs warmup` command times `runs` back-to-back
    inferences. The target defaults to QEMU for a simulated board, else the board on `port`.
    cycles_work: a folder for a traced run of the first input that adds estimated Cortex-M4/M7
    cycles (cycle_estimates; simulated M4/M7 boards only)."""
    compiled, board = fw.compiled, fw.board
    cases = _cases(inputs, len(compiled.input_tensors))
    ref = ReferenceInterpreter(tflite)
    if ref.name == "tflm" and compiled.options.rounding != "tflm":
        raise TinyDeployError(
            "LiteRT refuses this model, so TFLite Micro is the reference, and it rounds fully "
            "connected layers differently from the rounding this firmware was compiled with",
            "compile with rounding='tflm' (bench.oracle_for says which; tinydeploy bench does)")
    own = target is None
    target = target or open_target(board, port, baud)
    step(f"running {len(cases)} inputs on {target.description}")
    device_out: list[list[np.ndarray]] = []
    ticks: list[int] = []
    try:
        target.flash(fw.build.elf, fw.project)
        with target.link(timeout) as link:
            info = link.info()
            if info.get("clock", "ok") != "ok":
                raise TinyDeployError(
                    f"{board.name}'s clock set-up {info['clock']}: the board runs on its reset "
                    "clock, so its timings are not the board's", "check the board's power and "
                    f"crystal, or build with --clock reset; the steps are in {board.path}")
            for case in progress(cases, total=len(cases), desc="inputs"):
                inf = link.run_input(fw.wire_bytes(case))
                ticks.append(inf.ticks)
                device_out.append(fw.split_outputs(inf.output))
            layer_ticks = link.layers()
            mlperf_us = link.mlperf_infer(runs, warmup)[0] if runs > 0 else None
            frontend = _frontend_cost(link, fw) if fw.audio_frontend else {}
            if board.is_qemu and port is None:
                link.exit()
    finally:
        if own:
            target.close()
    if cases and not any(ticks):
        raise TinyDeployError(
            f"the timer of {board.name} did not advance: every inference took 0 "
            f"{board.timer} ticks", f"the board's timer ({board.timer}) does not run here; use a "
            "board file whose [timer] kind counts on this hardware (QEMU has no DWT: systick)")
    host_out = [ref.run(case) for case in cases]
    agreement = Agreement()
    for d, h in zip(device_out, host_out):
        agreement.add(d, h)
    per_tick = board.units_per_tick
    report: dict[str, Any] = {
        "model": compiled.name, "board": board.name, "core": board.core,
        "clock": board.clock, "clock_hz": board.clock_hz,
        "simulated": board.is_qemu, "inputs": len(cases), "oracle": ref.name,
        **agreement.report(), "mismatched_inputs": agreement.mismatched[:20],
        **_latency(ticks, board),
        "latency_mlperf_us": mlperf_us, "mlperf_runs": runs,
        "flash_bytes": fw.build.flash_bytes, "ram_bytes": fw.build.ram_bytes,
        "arena_bytes": compiled.arena_bytes, "arena_bytes_device": int(info.get("arena", 0)),
        "state_bytes": compiled.state_bytes, "stack_bytes_used": int(info.get("stack-used", 0)),
        "stack_bytes_worst_case": fw.build.stack_bytes,
        "weights_bytes": compiled.weight_bytes, "weight_layouts": compiled.layout_mix,
        "macs": compiled.macs, "patch": compiled.patch.describe() if compiled.patch else None,
        "tflm_arena_bytes_host": tflm_arena_bytes(tflite),
        "inputs_types": [t.dtype for t in compiled.input_tensors],
        "outputs_types": [t.dtype for t in compiled.output_tensors],
        "layers": [{"layer": name, board.latency_unit: int(round(t * per_tick)), **w}
                   for (name, t), w in zip(layer_ticks, layer_weights(compiled))],
        **frontend,
    }
    if cycles_work is not None and cases:
        est = cycle_estimates(fw, cases[0], device_out[0], [n for n, _ in layer_ticks],
                              cycles_work)
        for layer, traced in zip(report["layers"], est.pop("cycles_estimate_layers")):
            layer.update({k: v for k, v in traced.items() if k.startswith("cycles")})
        report.update(est)
    if labels is not None:
        dev_pred = np.array([int(np.argmax(d[0])) for d in device_out])
        host_pred = np.array([int(np.argmax(h[0])) for h in host_out])
        report["accuracy_device"] = float(np.mean(dev_pred == labels))
        report["accuracy_host_int8"] = float(np.mean(host_pred == labels))
    return report


CYCLE_CORES = ("cortex-m4", "cortex-m7")


def cycle_estimates(fw: Firmware, case: list[np.ndarray], expected: list[np.ndarray],
                    layer_names: list[str], work: str | Path) -> dict[str, Any]:
    """Estimated Cortex-M4 and -M7 cycles of one inference (tinydeploy/cycles.py), from a traced
    run of the same model in the batch runner on the same simulated board; its output must be
    the one the serial firmware gave for `case` (`expected`), or the trace is not of that run."""
    board = fw.board
    if not board.is_qemu or board.core not in CYCLE_CORES:
        raise TinyDeployError(f"no cycle estimates on {board.name}",
                              "they come from QEMU traces of qemu-m4 or qemu-m7 firmware")
    step(f"tracing one inference on {board.name} for cycle estimates")
    res = run_batch([fw.compiled], [(0, case, False)], board, Path(work),
                    weights=fw.compiled.layout, trace=True)
    if any(a.tobytes() != b.tobytes() for a, b in zip(res.outputs[0], expected)):
        raise TinyDeployError("the traced inference gave another output than the serial "
                              "firmware for the same input", "report this as a bug")
    return cycle_report(res.traces[0], layer_names, wait_states=board.branch_wait_states)


def format_report(r: dict[str, Any]) -> str:
    """A short human-readable summary of a bench report."""
    unit = r.get("latency_unit", "cycles")
    lines = [f"model {r['model']} on {r['board']} ({r['core']}{', QEMU' if r['simulated'] else ''})"]
    if "accuracy_float" in r:
        lines.append(f"  accuracy float (host)      {r['accuracy_float']:.1%}")
    if "accuracy_host_int8" in r:
        lines.append(f"  accuracy int8 (host TFLite) {r['accuracy_host_int8']:.1%}")
        lines.append(f"  accuracy int8 (device)     {r['accuracy_device']:.1%}")
    lines.append(f"  device vs host mismatches  {r['mismatches']} of {r['inputs']} inputs "
                 f"({'bit-exact' if r['mismatches'] == 0 else 'NOT bit-exact'})")
    if f"latency_{unit}_median" in r:
        lines.append(f"  latency ({unit})       min {r[f'latency_{unit}_min']:,}  median "
                     f"{r[f'latency_{unit}_median']:,}  max {r[f'latency_{unit}_max']:,}")
        lines.append(f"  latency (ms, {'estimate' if r['simulated'] else 'measured'})     "
                     f"median {r['latency_ms_median']}")
    if f"frontend_per_hop_{unit}_median" in r:
        lines.append(f"  audio front end per 20 ms hop: {r[f'frontend_per_hop_{unit}_median']:,} "
                     f"{unit} ({r['frontend_budget_fraction']:.1%} of the hop at the board's "
                     "clock)")
    if "cycles_estimate_m4" in r:
        lines.append(f"  cycles (estimate, first input)  Cortex-M4 {r['cycles_estimate_m4']:,}  "
                     f"Cortex-M7 {r['cycles_estimate_m7']:,}  ({r['instructions_traced']:,} "
                     "instructions)")
    lines.append(f"  flash {r['flash_bytes']:,} B   RAM {r['ram_bytes']:,} B   arena "
                 f"{r['arena_bytes']:,} B" + (f" (TFLM host: {r['tflm_arena_bytes_host']:,} B)"
                                             if r.get("tflm_arena_bytes_host") else ""))
    return "\n".join(lines)
