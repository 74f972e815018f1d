"""Many models, many test vectors, few emulator runs: the batch runner for simulated boards.

Models are grouped into as few firmware images as the board's flash and RAM allow; each image is
the batch runner (firmware/src/batch_main.c), which reads its test vectors from a file through
semihosting and writes outputs and tick counts to another, in one QEMU run without the serial
protocol's hex round trips. Used by the operator tests to run hundreds of cases on M4 and M0.
"""

from __future__ import annotations

import shlex
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinydeploy.boards import Board
from tinydeploy.compiler import CompiledModel
from tinydeploy.cycles import Trace, run_trace
from tinydeploy.errors import TinyDeployError
from tinydeploy.firmware import firmware_models, flash_needed, qemu_command, ram_needed

Case = tuple[int, list[np.ndarray], bool]  # (model index, one array per input, reset first)


@dataclass
class BatchResult:
    outputs: list[list[np.ndarray]]  # per case, one array per model output
    ticks: list[int]                 # per case, the board's timer ticks for the inference
    images: int                      # firmware images built (and emulator runs)
    traces: list[Trace] = field(default_factory=list)  # per image, with trace=True
    # per case, the timer ticks of each kernel call (run_batch(..., layers=True)), else empty
    layer_ticks: list[list[int]] = field(default_factory=list)


def _groups(models: list[CompiledModel], board: Board) -> list[list[int]]:
    """Model indices in images that fit the board (90% of its flash, all of its RAM)."""
    groups: list[list[int]] = [[]]
    for i, m in enumerate(models):
        trial = [models[j] for j in groups[-1]] + [m]
        fits = (flash_needed(firmware_models(trial), board).total <= 0.9 * board.flash_size
                and ram_needed(trial) <= board.ram_size)
        if groups[-1] and not fits:
            groups.append([])
        groups[-1].append(i)
    return groups


def run_batch(models: list[CompiledModel], cases: list[Case], board: Board, work: Path,
              weights: str = "auto", timeout: float = 600.0, trace: bool = False,
              layers: bool = False) -> BatchResult:
    """Run every case on `board` in QEMU; outputs come back in case order.

    trace: record each image's executed instructions for cycle estimates (tinydeploy/cycles.py)
    in the same run; the inferences of all its cases add up in the trace.
    layers: also the ticks of every kernel call (the firmware's profile marks), for per-layer
    cost models.
    """
    from tinydeploy.bench import make_firmware

    if not board.is_qemu:
        raise TinyDeployError(f"{board.name} is not simulated", "batches run on qemu-* boards")
    results: dict[int, tuple[list[np.ndarray], int, list[int]]] = {}
    groups = _groups(models, board)
    traces: list[Trace] = []
    for g, members in enumerate(groups):
        d = Path(work).resolve() / f"image{g}"  # QEMU runs in it: every path absolute
        fw = make_firmware([models[i] for i in members], board, d / "fw", weights=weights,
                           batch=True)
        local = {model: k for k, model in enumerate(members)}
        mine = [n for n, c in enumerate(cases) if c[0] in local]
        with open(d / "cases.bin", "wb") as f:
            for n in mine:
                index, inputs, reset = cases[n]
                f.write(struct.pack("<ii", local[index], int(reset) | (2 if layers else 0)))
                for t, x in zip(fw.models[local[index]].input_tensors, inputs):
                    f.write(np.ascontiguousarray(x, t.dtype).tobytes())
        cmd = shlex.split(qemu_command(board)) + ["-kernel", str(fw.build.elf)]
        if trace:  # the same run, under the tracer (which reports a failed run itself)
            traces.append(run_trace(cmd, fw.build.elf, d, timeout))
        else:
            proc = subprocess.run(cmd, cwd=d, capture_output=True, timeout=timeout)
            if proc.returncode:
                raise TinyDeployError(f"the batch run on {board.name} ended with status "
                                      f"{proc.returncode}: "
                                      f"{proc.stderr.decode(errors='replace')[-300:]}",
                                      "3: a file could not be opened, 4: a short record")
        data, pos = (d / "outputs.bin").read_bytes(), 0
        for n in mine:
            ticks = struct.unpack_from("<I", data, pos)[0]
            pos += 4
            outs = []
            for t in fw.models[local[cases[n][0]]].output_tensors:
                outs.append(np.frombuffer(data[pos:pos + t.nbytes], t.dtype).reshape(t.shape))
                pos += t.nbytes
            per_layer: list[int] = []
            if layers:
                count = struct.unpack_from("<i", data, pos)[0]
                per_layer = list(struct.unpack_from(f"<{count}I", data, pos + 4))
                pos += 4 + 4 * count
            results[n] = (outs, ticks, per_layer)
    order = range(len(cases))
    return BatchResult([results[n][0] for n in order], [results[n][1] for n in order],
                       len(groups), traces, [results[n][2] for n in order] if layers else [])
