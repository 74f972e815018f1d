"""The bench stage: run a model on a board (QEMU or real) and measure it against the host.

For every test input the host streams the int8 input over serial, the device runs one timed
inference and sends back its raw int8 output, and the host compares it bit for bit with TFLite's
reference interpreter. The report has latency (min/median/max), per-layer time, on-device and host
accuracy, mismatches, flash, RAM and arena.
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
from tinydeploy.build import BuildResult, build_project
from tinydeploy.compiler import CompiledModel
from tinydeploy.firmware import render_project, weights_for_board
from tinydeploy.progress import progress, step
from tinydeploy.qemu import QemuSession
from tinydeploy.reference import ReferenceInterpreter, tflm_arena_bytes
from tinydeploy.serial_link import DeviceLink


@dataclass
class Firmware:
    compiled: CompiledModel
    board: Board
    project: Path
    build: BuildResult
    input_format: str = "int8"

    def wire_bytes(self, x: np.ndarray) -> bytes:
        """An int8 model input as the firmware expects it on the wire."""
        a = np.ascontiguousarray(x, np.int8)
        if self.input_format == "uint8_minus_128":
            return (a.astype(np.int16) + 128).astype(np.uint8).tobytes()
        return a.tobytes()


def make_firmware(compiled: CompiledModel, board: Board, out_dir: str | Path,
                  input_format: str = "int8", audio_frontend: bool = False,
                  weights: str = "auto") -> Firmware:
    """Render and build the firmware for a compiled model on a board.

    weights: the weight layout, "auto" (per board), "int8" or "int16" (firmware.weights_for_board).
    """
    step(f"rendering firmware for {board.name} and building it with PlatformIO")
    compiled = weights_for_board(compiled, board, weights)
    project = render_project(compiled, board, out_dir, input_format, audio_frontend)
    return Firmware(compiled, board, project, build_project(project, board), input_format)


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
        f"DWT cycle counter at {board.clock_hz / 1e6:g} MHz")
    return out


def write_json_atomic(path: str | Path, data: dict[str, Any]) -> None:
    """Write the whole report or nothing: a half-written result is never left behind."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, p)


def bench(fw: Firmware, tflite: bytes, inputs: np.ndarray, labels: np.ndarray | None = None,
          port: str | None = None, baud: int | None = None, timeout: float = 30.0,
          runs: int = 10, warmup: int = 1) -> dict[str, Any]:
    """Measure the firmware on its board. inputs: [N, ...] int8 in the model's input layout.

    Every input runs once with exact timing and its raw output is compared with the host; then
    the MLPerf Tiny `infer runs warmup` command times `runs` back-to-back inferences."""
    compiled, board = fw.compiled, fw.board
    step(f"running {len(inputs)} inputs on {board.name}"
         + (" (QEMU)" if board.is_qemu and port is None else f" ({port})"))
    ref = ReferenceInterpreter(tflite)
    qemu = QemuSession(board, fw.build.elf).start() if port is None else None
    device_out: list[np.ndarray] = []
    ticks: list[int] = []
    try:
        url = qemu.url if qemu else str(port)
        with DeviceLink.open(url, baud or board.baud, timeout=timeout,
                             alive=qemu.check_alive if qemu else None) as link:
            info = link.info()
            out_t = compiled.output_tensors[0]
            for x in progress(inputs, total=len(inputs), desc="inputs"):
                inf = link.run_input(fw.wire_bytes(x))
                ticks.append(inf.ticks)
                device_out.append(np.frombuffer(inf.output, out_t.dtype).reshape(out_t.shape))
            layer_ticks = link.layers()
            mlperf_us = link.mlperf_infer(runs, warmup)[0] if runs > 0 else None
            if qemu:
                link.exit()
    finally:
        if qemu:
            qemu.stop()
    host_out = [ref.run([x.reshape(compiled.input_tensors[0].shape)])[0] for x in inputs]
    mismatched = [i for i, (d, h) in enumerate(zip(device_out, host_out))
                  if not np.array_equal(d, h.reshape(d.shape))]
    per_tick = board.units_per_tick
    report: dict[str, Any] = {
        "model": compiled.name, "board": board.name, "core": board.core,
        "simulated": board.is_qemu, "inputs": len(inputs),
        "mismatches": len(mismatched), "mismatched_inputs": mismatched[:20],
        **_latency(ticks, board),
        "latency_mlperf_us": mlperf_us, "mlperf_runs": runs,
        "flash_bytes": fw.build.flash_bytes, "ram_bytes": fw.build.ram_bytes,
        "arena_bytes": compiled.arena_bytes, "arena_bytes_device": int(info.get("arena", 0)),
        "weights_bytes": compiled.weight_bytes, "macs": compiled.macs,
        "tflm_arena_bytes_host": tflm_arena_bytes(tflite),
        "layers": [{"layer": name, board.latency_unit: int(round(t * per_tick))}
                   for name, t in layer_ticks],
    }
    if labels is not None:
        dev_pred = np.array([int(np.argmax(d)) for d in device_out])
        host_pred = np.array([int(np.argmax(h)) for h in host_out])
        report["accuracy_device"] = float(np.mean(dev_pred == labels))
        report["accuracy_host_int8"] = float(np.mean(host_pred == labels))
    return report


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
    lines.append(f"  flash {r['flash_bytes']:,} B   RAM {r['ram_bytes']:,} B   arena "
                 f"{r['arena_bytes']:,} B" + (f" (TFLM host: {r['tflm_arena_bytes_host']:,} B)"
                                             if r.get("tflm_arena_bytes_host") else ""))
    return "\n".join(lines)
