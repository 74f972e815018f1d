"""`tinydeploy demo`: the whole pipeline on the built-in keyword set and the default QEMU board."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tinydeploy.bench import bench, format_report, make_firmware, write_json_atomic
from tinydeploy.boards import get_board
from tinydeploy.compiler import compile_model
from tinydeploy.progress import step
from tinydeploy.quantize import quantize_inputs
from tinydeploy.reference import tflm_arena_bytes
from tinydeploy.tflm_array import write_tflm_array
from tinydeploy.train import train


def run_demo(out_dir: str | Path = "out/demo", board_name: str = "qemu-m4", epochs: int = 12,
             inputs: int = 100, seed: int = 0, json_path: str | Path | None = None,
             size: str = "default") -> dict[str, Any]:
    """Train, quantize, convert, build, run in QEMU, compare with the host and report."""
    out = Path(out_dir)
    board = get_board(board_name)
    result = train("kws", "builtin", epochs=epochs, out_dir=out / "train", seed=seed, size=size)
    tflite = result.tflite_path.read_bytes()
    step("converting: TFLite Micro C array and ahead-of-time compiled C")
    write_tflm_array(tflite, out / "convert" / "tflm", arena_bytes=tflm_arena_bytes(tflite))
    compiled = compile_model(tflite, name="kws_demo")
    compiled.write(out / "convert" / "aot")
    fw = make_firmware(compiled, board, out / "firmware" / board.name)
    test = result.dataset.test
    pick = np.random.default_rng(seed).permutation(len(test.y))[:inputs]
    inp = compiled.input_tensors[0]
    xq = quantize_inputs(test.x[pick], inp.scale0, inp.zp0)
    report = bench(fw, tflite, xq, test.y[pick])
    report["accuracy_float"] = result.card["accuracy_float"]
    report["accuracy_host_int8_full_test"] = result.card["accuracy_int8"]
    report["model_card"] = str(result.card_path)
    report["tflite"] = str(result.tflite_path)
    report["firmware_elf"] = str(fw.build.elf)
    write_json_atomic(json_path or out / "report.json", report)
    print(format_report(report))
    print(f"report: {json_path or out / 'report.json'}")
    return report
