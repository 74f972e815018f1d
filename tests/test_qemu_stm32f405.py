"""The STM32 firmware path in QEMU: netduinoplus2's STM32F405 runs the NUCLEO boards' USART driver
and RCC/GPIO bring-up; its reset configuration benches bit-exact, and its max configuration (the
168 MHz PLL set-up, whose ready flag QEMU never sets) is refused with the clock error."""

import json

import numpy as np
import pytest

from generated import generated_model
from tinydeploy.bench import bench, make_firmware
from tinydeploy.boards import get_board
from tinydeploy.cli import main
from tinydeploy.compiler import compile_model
from tinydeploy.errors import TinyDeployError
from tinydeploy.targets import QemuTarget


def test_bench_on_the_f405_reset_configuration(tmp_path):
    model = generated_model("tiny_kws")
    report = tmp_path / "r.json"
    assert main(["bench", str(model), "--board", "qemu-stm32f405", "--count", "3", "--runs", "2",
                 "--json", str(report), "--out", str(tmp_path / "fw")]) == 0
    r = json.loads(report.read_text())
    assert r["mismatches"] == 0 and r["inputs"] == 3
    assert r["clock"] == "reset" and r["clock_hz"] == 168_000_000
    assert r["latency_instructions_median"] > 0 and r["latency_mlperf_us"] > 0


def test_f405_counts_the_instructions_qemu_m4_counts(tmp_path):
    """SysTick runs at 168 MHz on netduinoplus2 (25 MHz on mps2-an386): with clock_hz right, the
    same model's instruction count agrees on both machines (qemu-m4 resolves 40 instructions)."""
    cm = compile_model(generated_model("tiny_kws"))
    x = np.random.default_rng(3).integers(-128, 128, cm.input_tensors[0].shape).astype(np.int8)
    counts = {}
    for name in ("qemu-m4", "qemu-stm32f405"):
        board = get_board(name)
        fw = make_firmware(cm, board, tmp_path / name, weights="int8")
        with QemuTarget(board) as target:
            target.flash(fw.build.elf, fw.project)
            counts[name] = target.link().run_input(x.tobytes()).ticks * board.units_per_tick
    assert counts["qemu-stm32f405"] == pytest.approx(counts["qemu-m4"], abs=80)


def test_the_max_configuration_is_refused_with_the_clock_error(tmp_path, capsys):
    board = get_board("qemu-stm32f405", "max")
    assert board.clock == "max" and board.clock_steps == 9 and board.uart_clock_hz == 42_000_000
    cm = compile_model(generated_model("tiny_fc"))
    fw = make_firmware(cm, board, tmp_path / "fw")
    with QemuTarget(board) as target:
        target.flash(fw.build.elf, fw.project)
        info = target.link().info()
    # the PLL never locks, the common steps still run and the UART answers
    assert info["clock"] == "failed at step 3: RCC CR: wait for PLLRDY"
    assert info["clock-config"] == "max"
    with QemuTarget(board) as target, pytest.raises(TinyDeployError, match="failed at step 3"):
        bench(fw, generated_model("tiny_fc").read_bytes(), np.zeros((1, 1), np.int8),
              target=target, runs=0)
    assert main(["bench", str(generated_model("tiny_fc")), "--board", "qemu-stm32f405",
                 "--clock", "max", "--count", "1", "--out", str(tmp_path / "cli")]) == 2
    assert "clock set-up failed at step 3: RCC CR: wait for PLLRDY" in capsys.readouterr().err
