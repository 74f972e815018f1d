"""Boards are data: one TOML file per board in `boards/`. This module loads and checks them.

A user adds a board by adding a file (in `boards/` or a folder named by `TINYDEPLOY_BOARDS`);
a missing or mistyped field is reported with the file and the field's name.

A board may describe its clock set-up as data: a `[clock]` table names its configurations
(`[clock.max]`, `[clock.reset]`, ...), each with the core clock (`hz`), the UART kernel clock it
implies (`uart_clock_hz`) and the bring-up steps that reach it (`[[clock.NAME.init]]`); `default`
says which one is built unless the user picks another. The chosen configuration's steps run first,
then the board's common `[[init]]` steps (pins, peripheral clocks). A board without a `[clock]`
table (the QEMU machines) has one fixed clock, its top-level `clock_hz`.
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
INIT_OPS = {"write", "wait", "delay"}
TIMERS = {"systick", "dwt"}


@dataclass(frozen=True)
class InitStep:
    """One bring-up step: a masked register write, a bounded wait until (reg & mask) == value, or
    a delay of `value` busy-loop rounds (for settling times a manual gives in microseconds).
    `reg` names the register written or read, PERIPHERAL.REGISTER as the vendor's header or SVD
    spells it (tests/test_board_registers.py checks address and mask against that description)."""

    op: str
    addr: int
    mask: int
    value: int
    note: str
    reg: str = ""


@dataclass(frozen=True)
class ClockOption:
    """One clock configuration a board file offers: its name, core clock and UART kernel clock."""

    name: str
    hz: int
    uart_clock_hz: int


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
    clock: str | None = None            # the clock configuration built (None: the board's fixed clock)
    clock_options: tuple[ClockOption, ...] = ()   # every configuration the board file offers
    clock_steps: int = 0                # how many of `init`'s first steps are the clock set-up
    core_caches: bool = False           # enable the Cortex-M7 L1 instruction and data caches
    uart_fallback_clock_hz: int = 0     # UART kernel clock if the clock set-up gives up (reset's)
    flash_wait_states: int = 0          # flash latency of the clock configuration built
    code_cache: bool = False            # a cache or accelerator serves code fetched again (loops)

    @property
    def branch_wait_states(self) -> int:
        """Wait states a taken branch pays in the cycle estimates (tinydeploy/cycles.py): the
        flash's, unless a code cache serves the loops that dominate inference."""
        return 0 if self.code_cache else self.flash_wait_states

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
        if self.core == "cortex-m7":  # kernels order loads beside multiplies for its dual issue
            flags.append("-DTD_DUAL_ISSUE")
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
                "simulated": self.is_qemu, "clock": self.clock,
                "clocks": {c.name: {"hz": c.hz, "uart_clock_hz": c.uart_clock_hz}
                           for c in self.clock_options}}


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


def _steps(data: dict[str, Any], path: Path, key: str) -> tuple[InitStep, ...]:
    """The [[KEY]] bring-up steps (KEY: "init" or "clock.NAME.init")."""
    node: Any = data
    for part in key.split("."):
        node = node.get(part, []) if isinstance(node, dict) else []
    if not isinstance(node, list) or not all(isinstance(st, dict) for st in node):
        raise TinyDeployError(f"board file {path}: '{key}' must be a list of [[{key}]] tables",
                              "see boards/nucleo-f446re.toml")
    steps = []
    for st in node:
        op = _get(st, path, "op", str, INIT_OPS, default="write")
        if op == "delay":  # no register: value is the number of busy-loop rounds
            steps.append(InitStep(op, 0, 0, _get(st, path, "value", int),
                                  _get(st, path, "note", str, default=""), ""))
            continue
        addr, mask = _get(st, path, "addr", int), _get(st, path, "mask", int)
        value = _get(st, path, "value", int)
        if max(addr, mask, value) > 0xFFFFFFFF:
            raise TinyDeployError(f"board file {path}: a [[{key}]] step has a value wider than "
                                  "32 bits", "fix the addr, mask or value")
        steps.append(InitStep(op, addr, mask, value, _get(st, path, "note", str, default=""),
                              _get(st, path, "reg", str, default="")))
    return tuple(steps)


def _clock_options(data: dict[str, Any], path: Path) -> tuple[str, dict[str, Any]]:
    """The [clock] table's default configuration name and its configurations."""
    table = data["clock"]
    if not isinstance(table, dict):
        raise TinyDeployError(f"board file {path}: 'clock' must be a table",
                              "see boards/nucleo-f446re.toml")
    if "clock_hz" in data:
        raise TinyDeployError(f"board file {path}: both 'clock_hz' and a [clock] table",
                              "keep the frequencies in [clock.NAME] tables only (hz = ...)")
    default = _get(data, path, "clock.default", str)
    configs = {k: v for k, v in table.items() if k != "default"}
    if not configs or not all(isinstance(v, dict) for v in configs.values()):
        raise TinyDeployError(f"board file {path}: [clock] needs configuration tables such as "
                              "[clock.max] and [clock.reset]", "see boards/nucleo-f446re.toml")
    if default not in configs:
        raise TinyDeployError(f"board file {path}: field 'clock.default' is {default!r}, expected "
                              f"one of {sorted(configs)}", "name one of the [clock.NAME] tables")
    return default, configs


def load_board_file(path: Path, clock: str | None = None) -> Board:
    """The board in `path`, built with clock configuration `clock` (None: the file's default)."""
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TinyDeployError(f"board file {path}: not valid TOML ({exc})",
                              "fix the syntax; see boards/qemu-m4.toml") from None
    qemu = data.get("qemu")
    core = _get(data, path, "core", str, CORES)
    common = _steps(data, path, "init")
    clock_steps: tuple[InitStep, ...] = ()
    options: tuple[ClockOption, ...] = ()
    caches = code_cache = False
    wait_states = 0
    if "clock" in data:
        default, configs = _clock_options(data, path)
        options = tuple(
            ClockOption(name, _get(data, path, f"clock.{name}.hz", int),
                        _get(data, path, f"clock.{name}.uart_clock_hz", int,
                             default=_get(data, path, f"clock.{name}.hz", int)))
            for name in configs)
        clock = clock or default
        if clock not in configs:
            raise TinyDeployError(f"board {path.stem} has no clock configuration '{clock}'",
                                  f"choose one of: {', '.join(configs)}")
        chosen = next(o for o in options if o.name == clock)
        hz, uart_hz = chosen.hz, chosen.uart_clock_hz
        fallback = next((o.uart_clock_hz for o in options if o.name == "reset"), uart_hz)
        clock_steps = _steps(data, path, f"clock.{clock}.init")
        caches = _get(data, path, f"clock.{clock}.core_caches", bool, default=False)
        wait_states = _get(data, path, f"clock.{clock}.flash_wait_states", int, default=0)
        code_cache = _get(data, path, f"clock.{clock}.code_cache", bool, default=caches)
        if caches and core != "cortex-m7":
            raise TinyDeployError(f"board file {path}: 'clock.{clock}.core_caches' is for "
                                  f"Cortex-M7 cores, this board's core is {core}",
                                  "remove it; enable other caches with [[init]] steps")
    else:
        if clock is not None:
            raise TinyDeployError(f"board {path.stem} has one fixed clock (no [clock] table), "
                                  f"so no configuration '{clock}'",
                                  "leave --clock out for this board")
        hz = _get(data, path, "clock_hz", int)
        uart_hz = fallback = _get(data, path, "uart.clock_hz", int, default=hz)
    return Board(
        name=path.stem,
        description=_get(data, path, "description", str),
        core=core,
        fpu=_get(data, path, "fpu", str),
        clock_hz=hz,
        flash_origin=_get(data, path, "flash.origin", int),
        flash_size=_get(data, path, "flash.size", int),
        ram_origin=_get(data, path, "ram.origin", int),
        ram_size=_get(data, path, "ram.size", int),
        irq_count=_get(data, path, "irq_count", int, default=32),
        uart_driver=_get(data, path, "uart.driver", str, UART_DRIVERS),
        uart_base=_get(data, path, "uart.base", int),
        baud=_get(data, path, "uart.baud", int),
        uart_clock_hz=uart_hz,
        brr_scale=_get(data, path, "uart.brr_scale", int, default=1),
        timer=_get(data, path, "timer.kind", str, TIMERS),
        pio_board=_get(data, path, "platformio.board", str),
        upload_protocol=_get(data, path, "platformio.upload_protocol", str),
        qemu_machine=_get(data, path, "qemu.machine", str) if qemu is not None else None,
        qemu_cpu=_get(data, path, "qemu.cpu", str) if qemu is not None else None,
        path=path,
        init=clock_steps + common,
        set_vtor=_get(data, path, "set_vtor", bool, default=False),
        uf2_family=_get(data, path, "platformio.uf2_family", int, default=None),
        official_board=_get(data, path, "platformio.official_board", str, default=None),
        official_platform=_get(data, path, "platformio.official_platform", str, default=None),
        upload_command=_get(data, path, "platformio.upload_command", str, default=None),
        upload_image=_get(data, path, "platformio.upload_image", str, {"elf", "bin", "uf2"},
                          default="bin"),
        qemu_serial_index=_get(data, path, "qemu.serial_index", int, default=0),
        clock=clock,
        clock_options=options,
        clock_steps=len(clock_steps),
        core_caches=caches,
        uart_fallback_clock_hz=fallback,
        flash_wait_states=wait_states,
        code_cache=code_cache,
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


def get_board(name: str, clock: str | None = None) -> Board:
    """The board called `name`, built with clock configuration `clock` (None: its default)."""
    for d in board_dirs():
        p = d / f"{name}.toml"
        if p.is_file():
            return load_board_file(p, clock)
    names = ", ".join(b.name for b in list_boards())
    raise TinyDeployError(f"unknown board '{name}'", f"choose one of: {names}")
