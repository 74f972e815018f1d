"""Build a rendered firmware project with PlatformIO (offline) and measure the ELF."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tinydeploy.boards import Board
from tinydeploy.errors import TinyDeployError
from tinydeploy.stack_usage import worst_case_stack
from tinydeploy.toolchain import platformio_command, platformio_env, require

FLASH_SECTIONS = (".isr_vector", ".text", ".rodata", ".ARM.exidx", ".data")
RAM_SECTIONS = (".data", ".bss", ".stack")


@dataclass
class BuildResult:
    elf: Path
    bin: Path
    flash_bytes: int
    ram_bytes: int
    log: str
    stack_bytes: int | None = None      # worst case from the call graphs (stack_usage.py)
    stack_available: int | None = None  # RAM left to the stack above .data and .bss


def elf_sections(elf: Path) -> dict[str, int]:
    """Section sizes in bytes, read with arm-none-eabi-size."""
    out = subprocess.run([require("arm-none-eabi-size"), "-A", "-d", str(elf)],
                         capture_output=True, text=True, check=True).stdout
    sizes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


def memory_use(elf: Path) -> tuple[int, int]:
    """(flash, RAM) bytes of a firmware ELF: code + constants + initialised data; data + bss + stack."""
    s = elf_sections(elf)
    return (sum(s.get(k, 0) for k in FLASH_SECTIONS), sum(s.get(k, 0) for k in RAM_SECTIONS))


def build_project(project: Path, board: Board, verbose: bool = False) -> BuildResult:
    """Run `pio run` in the project. Failures raise with the compiler's own message."""
    require("arm-none-eabi-gcc")
    cmd = platformio_command() + ["run", "-d", str(project), "-e", board.name]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=platformio_env())
    log = proc.stdout + proc.stderr
    if verbose:
        print(log)
    if proc.returncode:
        errors = [ln for ln in log.splitlines()
                  if "error" in ln.lower() or "undefined reference" in ln
                  or "overflowed by" in ln or "will not fit" in ln][:8]
        raise TinyDeployError("firmware build failed:\n  " + "\n  ".join(errors or log.splitlines()[-10:]),
                              f"see the full log with: pio run -d {project}")
    build_dir = project / ".pio" / "build" / board.name
    elf = build_dir / "firmware.elf"
    flash, ram = memory_use(elf)
    available = board.ram_size - (ram - elf_sections(elf).get(".stack", 0))
    stack = worst_case_stack(build_dir)
    if stack is not None and stack.bytes > available:
        raise TinyDeployError(
            f"the firmware needs up to {stack.bytes:,} bytes of stack ({' -> '.join(stack.path)}),"
            f" {board.name} leaves {available:,} above its data", "pick a board with more RAM or "
            "a model with a smaller arena")
    return BuildResult(elf, build_dir / "firmware.bin", flash, ram, log,
                       stack.bytes if stack else None, available)
