"""Boards are data: one TOML file per board in `boards/`. This module loads and checks them.

A user adds a board by adding a file (in `boards/` or a folder named by `TINYDEPLOY_BOARDS`);
a missing or mistyped field is reported with the file and the field's name.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinydeploy.errors import TinyDeployError
from tinydeploy.paths import BOARDS

CORES = {"cortex-m0", "cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33",
         "cortex-m55"}
DSP_CORES = {"cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55"}
UART_DRIVERS = {"cmsdk", "pl011", "stm32_usart_v1", "stm32_usart_v2", "nrf"}
INIT_OPS = {"write", "wait"}
TIMERS = {"systick", "dwt"}


@dataclass(frozen=True)
class InitStep:
    """One bring-up step: a masked register write, or a wait until (reg & mask) == value."""

    op: str
    addr: int
    mask: int
    value: int
    note: str


@dataclass(frozen=True)
class Board:
    """One target: the CPU, its memories, how to talk to it and how to time it."""

    name: str
    description: str
    core: str
    fpu: str
    clock_hz: int
    flash_origin: int
    flash_size: int
    ram_origin: int
    ram_size: int
    irq_count: int
    uart_driver: str
    uart_base: int
    baud: int
    uart_clock_hz: int
    brr_scale: int
    timer: str
    pio_board: str
    upload_protocol: str
    qemu_machine: str | None
    qemu_cpu: str | None
    path: Path
    init: tuple[InitStep, ...] = ()
    set_vtor: bool = False
    uf2_family: int | None = None
    official_board: str | None = None
    official_platform: str | None = None
    upload_command: str | None = None   # PlatformIO upload_command ($SOURCE, $UPLOAD_PORT)
    upload_image: str = "bin"           # what $SOURCE is: elf, bin or uf2
    qemu_serial_index: int = 0          # which of QEMU's -serial options is the board's UART

    @property
    def is_qemu(self) -> bool:
        return self.qemu_machine is not None

    @property
    def has_dsp(self) -> bool:
        """The core has the DSP extension (SMLAD, SXTB16), which the kernels' fast paths use."""
        return self.core in DSP_CORES

    @property
    def has_mve(self) -> bool:
        """The core has Helium (M-profile vector extension), which the kernels' vector paths use."""
        return self.core == "cortex-m55"

    @property
    def cpu_flags(self) -> list[str]:
        """gcc flags selecting the core and its floating-point unit."""
        flags = [f"-mcpu={self.core}", "-mthumb"]
        if self.fpu == "none":
            flags.append("-mfloat-abi=soft")
        elif self.fpu == "auto":
            flags.append("-mfloat-abi=hard")
        else:
            flags += [f"-mfpu={self.fpu}", "-mfloat-abi=hard"]
        return flags

    @property
    def units_per_tick(self) -> float:
        """Timer ticks to latency units: QEMU's SysTick under -icount counts clock_hz ticks per
        1e9 instructions; a real board's timer counts cycles."""
        return 1e9 / self.clock_hz if self.is_qemu else 1.0

    @property
    def timer_hz(self) -> int:
        """Timer ticks per second of the board's time model: on QEMU boards one instruction counts
        as one cycle at clock_hz, and SysTick advances clock_hz ticks per 1e9 instructions; on a
        real board the timer counts cycles."""
        return round(self.clock_hz * self.clock_hz / 1e9) if self.is_qemu else self.clock_hz

    @property
    def latency_unit(self) -> str:
        """What the board's timer counts: QEMU's SysTick follows instructions, DWT counts cycles."""
        return "instructions" if self.is_qemu else "cycles"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "core": self.core,
                "fpu": self.fpu, "clock_hz": self.clock_hz, "flash_bytes": self.flash_size,
                "ram_bytes": self.ram_size, "uart": self.uart_driver, "baud": self.baud,
                "timer": self.timer, "platformio_board": self.pio_board,
                "upload_protocol": self.upload_protocol, "qemu_machine": self.qemu_machine,
                "simulated": self.is_qemu}


def _get(data: dict[str, Any], path: Path, key: str, kind: type, choices: set[str] | None = None,
         default: Any = ...) -> Any:
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            if default is not ...:
                return default
            raise TinyDeployError(f"board file {path}: missing field '{key}'",
                                  "add it; see boards/qemu-m4.toml for a complete example")
        node = node[part]
    if (kind is int and isinstance(node, bool)) or not isinstance(node, kind):
        raise TinyDeployError(f"board file {path}: field '{key}' must be {kind.__name__}, "
                              f"found {node!r}", "fix the value in the board file")
    if choices is not None and node not in choices:
        raise TinyDeployError(f"board file {path}: field '{key}' is {node!r}, "
                              f"expected one of {sorted(choices)}", "fix the value in the board file")
    if kind is int and node < 0:
        raise TinyDeployError(f"board file {path}: field '{key}' must not be negative",
                              "fix the value in the board file")
    return node


def load_board_file(path: Path) -> Board:
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TinyDeployError(f"board file {path}: not valid TOML ({exc})",
                              "fix the syntax; see boards/qemu-m4.toml") from None
    qemu = data.get("qemu")
    steps = data.get("init", [])
    if not isinstance(steps, list):
        raise TinyDeployError(f"board file {path}: 'init' must be a list of [[init]] tables",
                              "see boards/nucleo-f446re.toml")
    init = tuple(
        InitStep(_get(st, path, "op", str, INIT_OPS, default="write"), _get(st, path, "addr", int),
                 _get(st, path, "mask", int), _get(st, path, "value", int),
                 _get(st, path, "note", str, default=""))
        for st in steps)
    clock = _get(data, path, "clock_hz", int)
    return Board(
        name=path.stem,
        description=_get(data, path, "description", str),
        core=_get(data, path, "core", str, CORES),
        fpu=_get(data, path, "fpu", str),
        clock_hz=clock,
        flash_origin=_get(data, path, "flash.origin", int),
        flash_size=_get(data, path, "flash.size", int),
        ram_origin=_get(data, path, "ram.origin", int),
        ram_size=_get(data, path, "ram.size", int),
        irq_count=_get(data, path, "irq_count", int, default=32),
        uart_driver=_get(data, path, "uart.driver", str, UART_DRIVERS),
        uart_base=_get(data, path, "uart.base", int),
        baud=_get(data, path, "uart.baud", int),
        uart_clock_hz=_get(data, path, "uart.clock_hz", int, default=clock),
        brr_scale=_get(data, path, "uart.brr_scale", int, default=1),
        timer=_get(data, path, "timer.kind", str, TIMERS),
        pio_board=_get(data, path, "platformio.board", str),
        upload_protocol=_get(data, path, "platformio.upload_protocol", str),
        qemu_machine=_get(data, path, "qemu.machine", str) if qemu is not None else None,
        qemu_cpu=_get(data, path, "qemu.cpu", str) if qemu is not None else None,
        path=path,
        init=init,
        set_vtor=_get(data, path, "set_vtor", bool, default=False),
        uf2_family=_get(data, path, "platformio.uf2_family", int, default=None),
        official_board=_get(data, path, "platformio.official_board", str, default=None),
        official_platform=_get(data, path, "platformio.official_platform", str, default=None),
        upload_command=_get(data, path, "platformio.upload_command", str, default=None),
        upload_image=_get(data, path, "platformio.upload_image", str, {"elf", "bin", "uf2"},
                          default="bin"),
        qemu_serial_index=_get(data, path, "qemu.serial_index", int, default=0),
    )


def board_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get("TINYDEPLOY_BOARDS", "").split(os.pathsep) if p]
    return extra + [BOARDS]


def list_boards() -> list[Board]:
    """Every board file found, sorted by name (a user's folder overrides a built-in board)."""
    found: dict[str, Board] = {}
    for d in reversed(board_dirs()):
        for p in sorted(d.glob("*.toml")):
            found[p.stem] = load_board_file(p)
    return [found[k] for k in sorted(found)]


def get_board(name: str) -> Board:
    for d in board_dirs():
        p = d / f"{name}.toml"
        if p.is_file():
            return load_board_file(p)
    names = ", ".join(b.name for b in list_boards())
    raise TinyDeployError(f"unknown board '{name}'", f"choose one of: {names}")
