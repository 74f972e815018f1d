"""Cycle estimates for Cortex-M4 and Cortex-M7 from an exact instruction trace.

QEMU counts instructions, not cycles. A TCG plugin (qemu_plugin/trace.c) records, while the batch
runner's inference runs, every executed translation block by the block it follows, per layer;
each block's instructions are decoded here (capstone) and charged with the timings of Arm's
technical reference manuals:

Cortex-M4 (TRM, "Processor instruction timings"): data processing, multiplies, the DSP and
saturating instructions and 32x32->64 multiply-accumulates 1 cycle; divides 2-12 (charged 7);
a single load 2 cycles, 1 when it follows another single load or store (their address and data
phases pipeline); a single store 1; LDRD/STRD 3; LDM/STM/PUSH/POP 1 + registers; a taken branch
1 + P with P = 2 (the pipeline refill; the manual gives 1-3), a branch not taken 1; TBB/TBH 2 + P;
FPU adds and multiplies 1, multiply-accumulates 3, VDIV/VSQRT 14, VLDR/VSTR 2, VLDM/VSTM 1 +
registers. Flash wait states (board data) are charged on every taken branch, the fetch a
prefetch buffer cannot hide.

Cortex-M7 is a documented approximation, not a pipeline model: loads and stores from
tightly-coupled memory or a warm cache 1 cycle, LDRD 1, LDM 1 + registers/2, taken branches 2
(the branch predictor hides most of the refill), and two adjacent instructions issue together
when at most one touches memory, at most one is a multiply or FPU operation and neither is a
branch other than the last; everything else as on the M4.

These are estimates from instruction timings without memory contention or cache misses: label
them so. `tests/test_cycles.py` checks the trace and the tables on hand-written loops whose cycle
counts follow from the manual.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from tinydeploy.errors import TinyDeployError
from tinydeploy.toolchain import cache_dir, require

PLUGIN_SOURCE = Path(__file__).parent / "qemu_plugin" / "trace.c"
P = 2  # Cortex-M4 pipeline refill after a taken branch (the manual's 1-3)


@dataclass(frozen=True)
class Insn:
    mnemonic: str   # without condition code, width qualifier or flag-setting suffix
    regs: int       # registers of a load/store multiple (0 otherwise)
    writes_pc: bool


@dataclass
class Block:
    vaddr: int
    insns: list[Insn]
    size: int

    @property
    def fallthrough(self) -> int:
        return self.vaddr + self.size


@dataclass
class Trace:
    """Blocks by id and (segment, from id, to id, count) transitions."""

    blocks: dict[int, Block]
    transitions: list[tuple[int, int, int, int]]

    @property
    def instructions(self) -> int:
        return sum(c * len(self.blocks[f].insns) for _, f, _, c in self.transitions)


@dataclass
class CycleEstimate:
    core: str
    cycles: int
    per_segment: list[int] = field(default_factory=list)


def plugin_path() -> Path:
    """The tracer built for this machine, once per source."""
    src = PLUGIN_SOURCE.read_bytes()
    out = cache_dir() / "qemu-plugin" / f"trace-{hashlib.sha256(src).hexdigest()[:12]}.so"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp.so")
        proc = subprocess.run([require("gcc"), "-O2", "-shared", "-fPIC", str(PLUGIN_SOURCE),
                               "-o", str(tmp)], capture_output=True, text=True)
        if proc.returncode:
            raise TinyDeployError(f"building the QEMU trace plugin failed: {proc.stderr[-300:]}",
                                  "install gcc (apt-get install gcc)")
        tmp.replace(out)
    return out


def symbol(elf: Path, name: str) -> int:
    out = subprocess.run([require("arm-none-eabi-nm"), str(elf)], capture_output=True,
                         text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16) & ~1
    raise TinyDeployError(f"{elf.name} has no symbol {name}",
                          "trace only firmware built as the batch runner (tinydeploy/batch.py)")


def run_trace(command: list[str], elf: Path, cwd: Path, timeout: float = 600.0) -> Trace:
    """Run `command` (QEMU with -kernel elf) under the tracer and read what it recorded."""
    with tempfile.TemporaryDirectory(prefix="td-trace-") as tmp:
        out = Path(tmp) / "trace.txt"
        args = (f"{plugin_path()},start={symbol(elf, 'td_trace_start'):x},"
                f"stop={symbol(elf, 'td_trace_stop'):x},"
                f"mark={symbol(elf, 'td_profile_mark'):x},out={out}")
        proc = subprocess.run([*command, "-plugin", args], cwd=cwd, capture_output=True,
                              timeout=timeout)
        if proc.returncode or not out.is_file():
            err = proc.stderr.decode(errors="replace")
            raise TinyDeployError(f"the traced QEMU run failed (status {proc.returncode}): "
                                  f"{err[-300:].strip()}",
                                  "this QEMU needs TCG plugin support (-plugin; Debian's "
                                  "qemu-system-arm 7.2 has it)" if "plugin" in err else
                                  "run the same firmware without tracing to see its error")
        return _read(out.read_text())


def _read(text: str) -> Trace:
    blocks, transitions = {}, []
    for line in text.splitlines():
        parts = line.split()
        if parts[0] == "B":
            data = bytes.fromhex(parts[3])
            lens = [int(v) for v in parts[4].split(",")] if len(parts) > 4 else []
            blocks[int(parts[1])] = Block(int(parts[2], 16), _decode(data, int(parts[2], 16),
                                                                      tuple(lens)), len(data))
        elif parts[0] == "T":
            transitions.append((int(parts[1]), int(parts[2]), int(parts[3]), int(parts[4])))
    return Trace(blocks, transitions)


@lru_cache(maxsize=None)
def _disassembler():  # type: ignore[no-untyped-def]
    import capstone

    md = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
    md.detail = False
    return md


_CONDITIONS = ("eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge",
               "lt", "gt", "le", "al")


def _normalize(mnemonic: str) -> str:
    m = mnemonic.split(".")[0]
    if m.startswith("it"):
        return "it"
    for base in ("b", "bl", "bx", "blx", "cbz", "cbnz"):
        if m[len(base):] in _CONDITIONS and m[:len(base)] == base:
            return base
    if len(m) > 2 and m[-2:] in _CONDITIONS and m[:-2] and not m.startswith("vcmp"):
        m = m[:-2]
    return m


def _decode(data: bytes, vaddr: int, lens: tuple[int, ...]) -> list[Insn]:
    out = []
    pos = 0
    for size in lens:
        chunk = data[pos:pos + size]
        decoded = list(_disassembler().disasm(chunk, vaddr + pos, 1))
        if decoded:
            ins = decoded[0]
            ops = ins.op_str
            regs = ops[ops.index("{"):].count(",") + 1 if "{" in ops else 0
            writes_pc = "pc" in ops.split(",")[0] if ops else False
            if ins.mnemonic.startswith("pop") and "pc" in ops:
                writes_pc = True
            out.append(Insn(_normalize(ins.mnemonic), regs, writes_pc))
        else:  # an instruction capstone does not know (Helium): one cycle
            out.append(Insn("unknown", 0, False))
        pos += size
    return out


_LOADS = {"ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "ldrex", "ldrt", "ldrbt", "ldrht", "ldrsbt",
          "ldrsht"}
_STORES = {"str", "strb", "strh", "strex", "strt", "strbt", "strht"}
_DUAL = {"ldrd", "strd"}
_MULTIPLE = {"ldm", "ldmia", "ldmdb", "stm", "stmia", "stmdb", "push", "pop"}
_BRANCHES = {"b", "bl", "bx", "blx", "cbz", "cbnz"}
_DIVIDES = {"udiv", "sdiv"}
_VFP_MAC = {"vmla", "vmls", "vnmla", "vnmls", "vfma", "vfms", "vfnma", "vfnms"}
_VFP_SLOW = {"vdiv", "vsqrt"}
_VFP_MEM = {"vldr", "vstr"}
_VFP_MULTIPLE = {"vldm", "vldmia", "vldmdb", "vstm", "vstmia", "vstmdb", "vpush", "vpop"}
_MULTIPLIES = {"mul", "mla", "mls", "smull", "umull", "smlal", "umlal", "smlad", "smladx",
               "smlsd", "smuad", "smusd", "smmul", "smmulr", "smmla", "smmlar", "smmls",
               "smlabb", "smlabt", "smlatb", "smlatt", "smulbb", "smulbt", "smultb", "smultt",
               "smlawb", "smlawt", "smulwb", "smulwt", "smlald", "smlsld", "umaal"}


def _is_memory(i: Insn) -> bool:
    return (i.mnemonic in _LOADS | _STORES | _DUAL | _MULTIPLE | _VFP_MEM | _VFP_MULTIPLE
            or i.mnemonic in ("tbb", "tbh"))


def _m4_block(block: Block, taken: bool, wait_states: int) -> int:
    cycles, prev_single_mem = 0, False
    last = len(block.insns) - 1
    for k, i in enumerate(block.insns):
        m = i.mnemonic
        single = m in _LOADS or m in _STORES
        if m in _LOADS:
            c = 1 if prev_single_mem else 2
        elif m in _STORES:
            c = 1
        elif m in _DUAL:
            c = 3
        elif m in _MULTIPLE:
            c = 1 + max(i.regs, 1) + (P if i.writes_pc else 0)
        elif m in _VFP_MULTIPLE:
            c = 1 + max(i.regs, 1)
        elif m in _VFP_MEM:
            c = 2
        elif m in _VFP_MAC:
            c = 3
        elif m in _VFP_SLOW:
            c = 14
        elif m in _DIVIDES:
            c = 7
        elif m in ("tbb", "tbh"):
            c = 2 + P
        else:
            c = 1
        if k == last and taken and (m in _BRANCHES or i.writes_pc or m in ("tbb", "tbh")):
            c += (P if m in _BRANCHES or (i.writes_pc and m not in _MULTIPLE) else 0)
            c += wait_states
        prev_single_mem = single
        cycles += c
    return cycles


def _m7_cost(i: Insn) -> int:
    m = i.mnemonic
    if m in _MULTIPLE or m in _VFP_MULTIPLE:
        return 1 + (max(i.regs, 1) + 1) // 2
    if m in _VFP_MAC:
        return 3
    if m in _VFP_SLOW:
        return 14
    if m in _DIVIDES:
        return 7
    return 1


def _m7_block(block: Block, taken: bool, wait_states: int) -> int:
    cycles, k, insns = 0, 0, block.insns
    while k < len(insns):
        a = insns[k]
        b = insns[k + 1] if k + 1 < len(insns) else None
        pair = (b is not None and a.mnemonic not in _BRANCHES and not a.writes_pc
                and not (_is_memory(a) and _is_memory(b))
                and not (a.mnemonic in _MULTIPLIES and b.mnemonic in _MULTIPLIES)
                and not (a.mnemonic.startswith("v") and b.mnemonic.startswith("v"))
                and _m7_cost(a) == 1 and _m7_cost(b) == 1)
        cycles += 1 if pair else _m7_cost(a)
        k += 2 if pair else 1
    if taken:
        cycles += 1 + wait_states
    return cycles


def _per_segment(trace: Trace, cost: Callable[[Block, bool], int]) -> list[int]:
    """Sum of cost(block, next block was not its fall-through) over the trace, per segment."""
    segments: dict[int, int] = {}
    for seg, f, t, c in trace.transitions:
        block = trace.blocks[f]
        taken = trace.blocks[t].vaddr != block.fallthrough
        segments[seg] = segments.get(seg, 0) + c * cost(block, taken)
    return [segments.get(s, 0) for s in range(max(segments, default=-1) + 1)]


def estimate(trace: Trace, core: str, wait_states: int = 0) -> CycleEstimate:
    """Cycles of the traced window on `core` ("cortex-m4" or "cortex-m7"), per segment."""
    model = {"cortex-m4": _m4_block, "cortex-m7": _m7_block}.get(core)
    if model is None:
        raise TinyDeployError(f"no cycle model for {core}", "cycle estimates cover cortex-m4 "
                                                            "and cortex-m7")
    per = _per_segment(trace, lambda block, taken: model(block, taken, wait_states))
    return CycleEstimate(core, sum(per), per)


def report(trace: Trace, layer_names: list[str], inferences: int = 1,
           wait_states: int = 0) -> dict[str, object]:
    """JSON figures per inference: traced instructions, estimated Cortex-M4 and -M7 cycles, and
    both per layer (`layer_names`: the entry graph's kernel layers, in the order they run)."""
    m4 = estimate(trace, "cortex-m4", wait_states)
    m7 = estimate(trace, "cortex-m7", wait_states)
    per = _per_segment(trace, lambda block, taken: len(block.insns))
    layers = []
    for k, name in enumerate(layer_names):
        layers.append({"layer": name, "instructions": _get(per, k) // inferences,
                       "cycles_estimate_m4": _get(m4.per_segment, k) // inferences,
                       "cycles_estimate_m7": _get(m7.per_segment, k) // inferences})
    return {"instructions_traced": trace.instructions // inferences,
            "cycles_estimate_m4": m4.cycles // inferences,
            "cycles_estimate_m7": m7.cycles // inferences,
            "cycles_estimate_flash_wait_states": wait_states,
            "cycles_estimate_note": ESTIMATE_NOTE,
            "cycles_estimate_layers": layers}


ESTIMATE_NOTE = ("estimates from Arm TRM instruction timings applied to QEMU's exact instruction "
                 "stream; no memory contention or cache misses (tinydeploy/cycles.py)")


def _get(values: list[int], k: int) -> int:
    return values[k] if k < len(values) else 0
