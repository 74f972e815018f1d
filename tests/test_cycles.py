"""Cycle estimates (tinydeploy/cycles.py): the QEMU tracer and the Arm TRM timing tables.

Hand-written loops run under the tracer on the emulated Cortex-M4; the difference between 200 and
100 iterations is the loop body's cycles, which the Cortex-M4 TRM's instruction timings state
(P = 2 for the taken branch's refill). Then a real model: the traced instruction count agrees
with the count SysTick gives under -icount, and `bench --json` carries the estimates per layer.
"""

import json
import subprocess

import numpy as np
import pytest

from tinydeploy import cycles
from tinydeploy.batch import run_batch
from tinydeploy.boards import get_board
from tinydeploy.cli import main
from tinydeploy.compiler import compile_model
from tinydeploy.firmware import qemu_command
from tinydeploy.reference import ReferenceInterpreter

LOOP = """
.syntax unified
.cpu cortex-m4
.fpu fpv4-sp-d16
.thumb
.text
.word 0x20010000
.word reset
.thumb_func
.global reset
reset:
  ldr r1, =0xE000ED88   @ CPACR: the FPU on
  ldr r2, [r1]
  orr r2, r2, #0xF00000
  str r2, [r1]
  dsb
  isb
  ldr r0, =0x20000100
  ldr r3, =ITER
  bl td_trace_start
1:
{body}
  subs r3, #1
  bne 1b
  bl td_trace_stop
  movs r0, #0x18
  ldr r1, =0x20026
  bkpt 0xab
.thumb_func
.global td_trace_start
td_trace_start: bx lr
.thumb_func
.global td_trace_stop
td_trace_stop: bx lr
.thumb_func
.global td_profile_mark
td_profile_mark: bx lr
"""


def _trace_loop(body: str, iterations: int, tmp_path) -> cycles.Trace:
    src = tmp_path / "loop.S"
    src.write_text(LOOP.format(body=body))
    elf = tmp_path / f"loop{iterations}.elf"
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-nostdlib",
                    f"-DITER={iterations}", "-x", "assembler-with-cpp", str(src),
                    "-Wl,-Ttext=0x0", "-Wl,-ereset", "-o", str(elf)], check=True)
    command = qemu_command(get_board("qemu-m4")).split() + ["-kernel", str(elf)]
    return cycles.run_trace(command, elf, tmp_path, timeout=60)


def _per_iteration(body: str, tmp_path, core: str = "cortex-m4",
                   wait_states: int = 0) -> tuple[int, int]:
    """(instructions, estimated cycles) of one loop iteration, body plus subs/bne."""
    short, long = _trace_loop(body, 100, tmp_path), _trace_loop(body, 200, tmp_path)
    insns = (long.instructions - short.instructions) // 100
    c = (cycles.estimate(long, core, wait_states).cycles
         - cycles.estimate(short, core, wait_states).cycles)
    assert c % 100 == 0, "every iteration costs the same"
    return insns, c // 100


# body, Cortex-M4 cycles of one iteration per the TRM (subs 1 + taken bne 1 + P)
M4_LOOPS = [
    # LDR 2, a second LDR pipelined behind it 1, SMLAD 1
    ("ldr r1, [r0]\n ldr r2, [r0, #4]\n smlad r4, r1, r2, r4", 4 + 4),
    # LDM of 4 registers: 1 + N
    ("ldm r0, {r1, r2, r4, r5}", 5 + 4),
    # LDRD 3 (a two-word load is not pipelined like single loads)
    ("ldrd r1, r2, [r0]", 3 + 4),
    # STR 1 each; a load after a store pipelines: 1
    ("str r1, [r0]\n str r2, [r0, #4]\n ldr r4, [r0, #8]", 3 + 4),
    # 32x32 multiply-accumulates and saturating arithmetic: 1 each
    ("smlal r4, r5, r1, r2\n qadd r1, r1, r2\n mla r4, r1, r2, r4", 3 + 4),
    # FPU: VMLA 3, VADD 1, VLDR 2
    ("vldr s0, [r0]\n vmla.f32 s1, s0, s2\n vadd.f32 s3, s3, s0", 6 + 4),
]


@pytest.mark.parametrize("body,expected", M4_LOOPS, ids=["smlad", "ldm", "ldrd", "str-ldr",
                                                         "mac64", "vfp"])
def test_m4_loop_cycles_follow_the_manual(body, expected, tmp_path):
    insns, c = _per_iteration(body, tmp_path)
    assert insns == body.count("\n") + 1 + 2  # the tracer saw every instruction of the body
    assert c == expected


def test_flash_wait_states_cost_every_taken_branch(tmp_path):
    body = "ldr r1, [r0]\n ldr r2, [r0, #4]\n smlad r4, r1, r2, r4"
    assert _per_iteration(body, tmp_path, wait_states=5)[1] == 8 + 5


def test_m7_dual_issue_approximation(tmp_path):
    """Two loads cannot pair (one load/store pipe), a load pairs with the multiply, subs with the
    branch ending the block: 3 issue slots, plus 1 for the predicted taken branch."""
    body = "ldr r1, [r0]\n ldr r2, [r0, #4]\n smlad r4, r1, r2, r4"
    assert _per_iteration(body, tmp_path, core="cortex-m7")[1] == 4


def test_traced_model_agrees_with_systick(tiny_kws, tmp_path):
    """The tracer sees one inference exactly as SysTick counts it under -icount shift=0, and
    the traced run still gives TFLite's outputs."""
    board = get_board("qemu-m4")
    compiled = compile_model(tiny_kws)
    x = np.random.default_rng(3).integers(-128, 128, compiled.input_tensors[0].shape, np.int8)
    res = run_batch([compiled], [(0, [x], False)], board, tmp_path, trace=True)
    assert res.outputs[0][0].tobytes() == ReferenceInterpreter(tiny_kws).run([x])[0].tobytes()
    trace = res.traces[0]
    systick = res.ticks[0] * board.units_per_tick
    # the timer reads and the two marker calls lie between SysTick's reads, not in the trace
    assert 0 <= systick - trace.instructions <= 2 * board.units_per_tick + 64
    report = cycles.report(trace, [f"{lay.op.index}:{lay.op.opcode}" for lay in compiled.layers
                                   if lay.kernel is not None])
    per_layer = report["cycles_estimate_layers"]
    assert len(per_layer) == sum(lay.kernel is not None for lay in compiled.layers)
    assert sum(lay["cycles_estimate_m4"] for lay in per_layer) <= report["cycles_estimate_m4"]
    # loads take 2 cycles and branches 3 on the M4: more cycles than instructions
    assert report["cycles_estimate_m4"] > report["instructions_traced"]
    assert report["cycles_estimate_m7"] < report["cycles_estimate_m4"]


def test_bench_json_reports_cycle_estimates(tiny_kws, tmp_path):
    rc = main(["bench", str(tiny_kws), "--count", "2", "--runs", "1", "--json",
               str(tmp_path / "r.json"), "--out", str(tmp_path / "fw")])
    assert rc == 0
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["cycles_estimate_m4"] > r["instructions_traced"] > 0
    assert "estimate" in r["cycles_estimate_note"]
    assert all(lay["cycles_estimate_m4"] > 0 for lay in r["layers"])
    # the traced inference is the first input's: within SysTick's resolution of its count
    assert abs(r["instructions_traced"] - r["latency_instructions_min"]) < 2000


def test_cycles_on_for_a_board_without_a_model_is_refused(tiny_fc, tmp_path, capsys):
    rc = main(["bench", str(tiny_fc), "--board", "qemu-m0", "--cycles", "on",
               "--out", str(tmp_path)])
    assert rc != 0
    err = capsys.readouterr().err
    assert "no cycle estimates for qemu-m0" in err and len(err.strip().splitlines()) == 1
