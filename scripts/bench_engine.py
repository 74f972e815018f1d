#!/usr/bin/env python3
"""Engine yardstick: every reference model on QEMU Cortex-M4 (-icount shift=0).

For each model: instructions per inference (exact and repeatable under -icount), arena bytes, engine
code bytes (kernels + generated glue, no weights), weight bytes, TFLM's arena from the host wheel,
and the TFLM reference figures kept in engine_reference.json, printed as ratios. Every figure comes
from this run except those reference figures.

    python scripts/bench_engine.py [--json FILE] [--plot FILE.png] [--board qemu-m4]
                                   [--port /dev/ttyACM0] [--models kws01,ic01] [--weights auto]

--weights picks the weight layout as `tinydeploy build` does (auto: per board and flash; int16,
int8, rows, or per layer: int8,L3=int16); each row lists every layer's weight bytes and layout.

On a QEMU board the counts are instructions; on a real board (--board NAME --port P) they are DWT
cycles (SysTick cycles on an M0+). On qemu-m4/qemu-m7 a traced run of the same input adds
estimated Cortex-M4 and -M7 cycles per inference and per layer (tinydeploy/cycles.py), and the
M4 estimate in milliseconds at 120 MHz beside the best published MLPerf Tiny figure on NUCLEO-L4R5ZI.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TINYDEPLOY_QUIET", "1")

from tinydeploy.bench import (  # noqa: E402
    CYCLE_CORES, cycle_estimates, layer_weights, make_firmware, write_json_atomic)
from tinydeploy.boards import get_board  # noqa: E402
from tinydeploy.compile_options import PATCH_OVERHEAD, add_patch_argument  # noqa: E402
from tinydeploy.compiler import compile_model  # noqa: E402
from tinydeploy.paths import SHARED_MODELS  # noqa: E402
from tinydeploy.qemu import QemuSession  # noqa: E402
from tinydeploy.reference import ReferenceInterpreter, tflm_arena_bytes  # noqa: E402
from tinydeploy.serial_link import DeviceLink  # noqa: E402
from tinydeploy.toolchain import require  # noqa: E402

REFERENCE = json.loads((Path(__file__).parent / "engine_reference.json").read_text())


def _symbols(path: Path) -> dict[str, int]:
    """Function symbols and sizes (nm --print-size), local ones included."""
    out = subprocess.run([require("arm-none-eabi-nm"), "--print-size", "--defined-only", str(path)],
                         capture_output=True, text=True, check=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTwW":
            syms[parts[3]] = int(parts[1], 16)
    return syms


def engine_code_bytes(build_dir: Path, elf: Path) -> int:
    """Bytes of code in the ELF that come from the kernels and the generated model C."""
    owned: set[str] = set()
    for obj in list((build_dir / "src" / "kernels").glob("*.o")) + [build_dir / "src" / "td_model.o"]:
        owned |= set(_symbols(obj))
    return sum(size for name, size in _symbols(elf).items() if name in owned)


def model_input(name: str, compiled) -> np.ndarray:  # type: ignore[no-untyped-def]
    given = SHARED_MODELS / f"{name}_input0.bin"
    t = compiled.input_tensors[0]
    if given.is_file():
        return np.fromfile(given, np.int8).reshape(t.shape)
    return np.random.default_rng(0).integers(-128, 128, t.shape).astype(np.int8)


def _run(link: DeviceLink, x: np.ndarray) -> tuple[list, list]:
    link.load_input(x.tobytes())
    results = [link.infer() for _ in range(3)]
    return results, link.layers()


def measure(name: str, board_name: str, work: Path, port: str | None = None,
            weights: str = "auto", patch_overhead: float | None = PATCH_OVERHEAD) -> dict:
    path = SHARED_MODELS / f"{name}.tflite"
    compiled = compile_model(path, name=name.split("/")[-1], patch_overhead=patch_overhead)
    board = get_board(board_name)
    fw = make_firmware(compiled, board, work / name.replace("/", "_"), weights=weights)
    compiled = fw.compiled  # with the weight layout chosen for the board
    x = model_input(name, compiled)
    if board.is_qemu and port is None:
        with QemuSession(board, fw.build.elf) as q:
            with DeviceLink.open(q.url, board.baud, timeout=120, alive=q.check_alive) as link:
                results, layers = _run(link, x)
                link.exit()
    else:
        if port is None:
            raise SystemExit(f"error: {board.name} is a real board: flash it with tinydeploy "
                             "flash and pass its serial port with --port")
        with DeviceLink.open(port, board.baud, timeout=120) as link:
            results, layers = _run(link, x)
    runs = sorted(r.ticks for r in results)
    expected = ReferenceInterpreter(path).run([x])[0].tobytes()
    per_tick = board.units_per_tick
    row = {
        "model": name, "board": board.name, "unit": board.latency_unit,
        "instructions_per_inference": int(round(runs[1] * per_tick)),
        # SysTick resolves clock_hz/1e9 ticks per instruction (40 instructions on the M4 board);
        # where a run starts in a tick depends on how long the firmware waited for the host
        "resolution_instructions": int(round(per_tick)),
        "repeatable": runs[-1] - runs[0] <= 1,
        "bit_exact": all(r.output == expected for r in results),
        "arena_bytes": compiled.arena_bytes,
        "code_bytes": engine_code_bytes(fw.project / ".pio" / "build" / board.name, fw.build.elf),
        "weights_bytes": compiled.weight_bytes, "weight_layouts": compiled.layout_mix,
        "weight_layout_spec": compiled.layout, "flash_bytes": fw.build.flash_bytes,
        "ram_bytes": fw.build.ram_bytes, "macs": compiled.macs,
        "instructions_per_mac": round(runs[1] * per_tick / max(compiled.macs, 1), 2),
        "tflm_arena_bytes_host": tflm_arena_bytes(path),
        "patch": compiled.patch.describe() if compiled.patch else None,
        "layers": [{"layer": n, "instructions": int(round(t * per_tick)), **w}
                   for (n, t), w in zip(layers, layer_weights(compiled))],
    }
    if board.is_qemu and port is None and board.core in CYCLE_CORES:
        est = cycle_estimates(fw, [x], fw.split_outputs(results[0].output),
                              [n for n, _ in layers], work / f"{name.replace('/', '_')}-cycles")
        for layer, traced in zip(row["layers"], est.pop("cycles_estimate_layers")):
            layer.update({k: v for k, v in traced.items() if k.startswith("cycles")})
        row.update(est)
        row["ms_at_120mhz_m4_estimate"] = round(row["cycles_estimate_m4"] / 120e3, 2)
    ref = REFERENCE["models"].get(name, {})
    row.update({k: v for k, v in ref.items() if k != "macs"})
    if ref.get("tflm_cmsis_nn_instructions"):
        row["ratio_vs_tflm_cmsis_nn"] = round(row["instructions_per_inference"]
                                              / ref["tflm_cmsis_nn_instructions"], 3)
        row["ratio_vs_tflm_reference"] = round(row["instructions_per_inference"]
                                               / ref["tflm_reference_instructions"], 3)
    target_arena = ref.get("tflm_arena_bytes_target") or row["tflm_arena_bytes_host"]
    if target_arena:
        row["ratio_arena_vs_tflm"] = round(row["arena_bytes"] / target_arena, 3)
    return row


def print_table(rows: list[dict]) -> None:
    head = (f"{'model':<30}{'insns/inf':>13}{'insns/MAC':>10}{'vs CMSIS-NN':>12}{'vs TFLM ref':>12}"
            f"{'arena':>9}{'vs TFLM':>9}{'code':>8}{'weights':>9}{'M4 cyc est':>12}"
            f"{'ms@120':>8}{'MLPerf L4R5':>12}  weight layouts")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['model']:<30}{r['instructions_per_inference']:>13,}{r['instructions_per_mac']:>10}"
              f"{r.get('ratio_vs_tflm_cmsis_nn', '-'):>12}{r.get('ratio_vs_tflm_reference', '-'):>12}"
              f"{r['arena_bytes']:>9,}{r.get('ratio_arena_vs_tflm', '-'):>9}{r['code_bytes']:>8,}"
              f"{r['weights_bytes']:>9,}{r.get('cycles_estimate_m4', 0):>12,}"
              f"{r.get('ms_at_120mhz_m4_estimate', '-'):>8}{r.get('mlperf_l4r5zi_ms', '-'):>12}"
              f"  {r['weight_layouts'] or '-'}" + ("" if r["bit_exact"] else "  NOT BIT-EXACT"))
    exact = sum(r["bit_exact"] for r in rows)
    print(f"\n{exact} of {len(rows)} models bit-exact with TFLite's reference kernels on the device. "
          "Instruction counts from QEMU -icount shift=0 (not cycles), median of 3 runs, resolution one SysTick tick. Ratios < 1 beat TFLite Micro;"
          " reference figures: scripts/engine_reference.json. M4 cycles are estimates from Arm's TRM"
          " timings over the traced instruction stream (tinydeploy/cycles.py), ms@120 = those at "
          "120 MHz, beside the best published MLPerf Tiny latency on NUCLEO-L4R5ZI.")


def plot(rows: list[dict], path: Path) -> None:
    """Ours beside TFLite Micro's reference and CMSIS-NN figures, per model (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r.get("tflm_cmsis_nn_instructions")]
    names = [r["model"].split("/")[-1] for r in rows]
    xs = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(8, 3.8))
    for k, (key, label, color) in enumerate((
            ("tflm_reference_instructions", "TFLM reference kernels", "#bbbbbb"),
            ("tflm_cmsis_nn_instructions", "TFLM + CMSIS-NN", "#e39b2d"),
            ("instructions_per_inference", "tinydeploy", "#3b7dd8"))):
        ax.bar(xs + (k - 1) * 0.27, [r[key] for r in rows], 0.27, label=label, color=color)
    ax.set_xticks(xs, names)
    ax.set_yscale("log")
    ax.set_ylabel(f"{rows[0]['unit']} per inference")
    ax.set_title(f"{rows[0]['board']} ({rows[0]['unit']} per inference)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, help="write the rows as JSON")
    ap.add_argument("--board", default="qemu-m4")
    ap.add_argument("--models", help="comma-separated subset, e.g. kws01,ad01")
    ap.add_argument("--port", help="serial port of a real board (with --board NAME)")
    ap.add_argument("--plot", type=Path, help="write a PNG of ours vs the reference figures")
    ap.add_argument("--weights", default="auto",
                    help="weight layout: auto (per board and flash), int16, int8, rows, or per "
                         "layer (int8,L3=int16)")
    add_patch_argument(ap)
    args = ap.parse_args()
    if not SHARED_MODELS.is_dir():
        print(f"error: the reference models are not at {SHARED_MODELS} (this yardstick measures "
              "the published models; put the shared corpus beside the repository)",
              file=sys.stderr)
        return 2
    names = list(REFERENCE["models"])
    if args.models:
        wanted = args.models.split(",")
        names = [n for n in names if n.split("/")[-1] in wanted or n in wanted]
    with tempfile.TemporaryDirectory(prefix="td-bench-") as work:
        rows = [measure(n, args.board, Path(work), args.port, args.weights, args.patch_overhead)
                for n in names]
    print_table(rows)
    if args.json:
        write_json_atomic(args.json, {"rows": rows})
    if args.plot:
        plot(rows, args.plot)
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
