"""Every bring-up step of every board file (its common [[init]] steps and every clock
configuration's) is checked against the vendor's description of the chip: the register it names
(`reg = "RCC.AHB4ENR"`) must sit at the step's address in the right peripheral, and every set bit
of its mask must lie in one of that register's fields.

The description is the chip's CMSIS-SVD file where pyocd ships one (`svd = "..."` in the board
file; parsed here with xml.etree, derivedFrom peripherals, clusters and dim arrays resolved), and a
register table taken from the vendor's C device header where it does not (boards/registers/*.toml,
named by `registers = "..."`; each entry cites the header). A table entry wins over the SVD: that is
how a board whose SVD is only a close relative of its chip records the registers that differ.
"""

from __future__ import annotations

import importlib.util
import tomllib
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import pytest

from tinydeploy.boards import Board, InitStep, list_boards, load_board_file
from tinydeploy.paths import BOARDS

TABLES = BOARDS / "registers"


@dataclass(frozen=True)
class Register:
    addr: int
    fields: tuple[tuple[str, int, int], ...]   # (name, lsb, width)
    source: str


def _int(text: str | None) -> int:
    t = (text or "").strip().lower()
    if t.startswith("#"):
        return int(t[1:].replace("x", "0"), 2)
    return int(t, 0)


def _svd_archive() -> Path | None:
    """pyocd's archive of SVD files (found without importing pyocd and its dependencies)."""
    spec = importlib.util.find_spec("pyocd")
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(list(spec.submodule_search_locations)[0]) / "debug" / "svd" / "svd_data.zip"
    return p if p.is_file() else None


def _dim_names(node: ET.Element, name: str, offset: int) -> list[tuple[str, int]]:
    """A register or cluster with <dim>: one (name, offset) per element."""
    if node.find("dim") is None:
        return [(name, offset)]
    dim, step = _int(node.findtext("dim")), _int(node.findtext("dimIncrement"))
    index = node.findtext("dimIndex")
    labels = index.split(",") if index and "-" not in index else [str(i) for i in range(dim)]
    return [(name.replace("[%s]", str(label)).replace("%s", str(label)), offset + i * step)
            for i, label in enumerate(labels)]


def _fields(reg: ET.Element, size: int) -> tuple[tuple[str, int, int], ...]:
    out = []
    for f in reg.findall("fields/field"):
        if f.find("bitOffset") is not None:
            lsb, width = _int(f.findtext("bitOffset")), _int(f.findtext("bitWidth") or "1")
        elif f.find("lsb") is not None:
            lsb = _int(f.findtext("lsb"))
            width = _int(f.findtext("msb")) - lsb + 1
        else:  # bitRange "[msb:lsb]"
            msb, lsb = (int(x) for x in f.findtext("bitRange", "").strip("[]").split(":"))
            width = msb - lsb + 1
        out.append((f.findtext("name", "").strip(), lsb, width))
    # a register without fields is one value as wide as the register
    return tuple(out) if out else (("(whole register)", 0, size),)


def _walk(node: ET.Element, prefix: str, base: int, size: int, out: dict[str, Register],
          source: str) -> None:
    size = _int(node.findtext("size")) if node.find("size") is not None else size
    for reg in node.findall("register"):
        rsize = _int(reg.findtext("size")) if reg.find("size") is not None else size
        for name, off in _dim_names(reg, reg.findtext("name", "").strip(),
                                    _int(reg.findtext("addressOffset"))):
            out[f"{prefix}.{name}"] = Register(base + off, _fields(reg, rsize), source)
    for cl in node.findall("cluster"):
        for name, off in _dim_names(cl, cl.findtext("name", "").strip(),
                                    _int(cl.findtext("addressOffset"))):
            _walk(cl, f"{prefix}.{name}", base + off, size, out, source)


@cache
def svd_registers(svd_name: str) -> dict[str, Register]:
    """PERIPHERAL.REGISTER (PERIPHERAL.CLUSTER.REGISTER) -> address and fields, from the SVD
    file `svd_name` in pyocd's package data."""
    archive = _svd_archive()
    if archive is None:
        pytest.skip("pyocd's SVD files are not installed")
    with zipfile.ZipFile(archive) as z:
        root = ET.fromstring(z.read(svd_name))
    device_size = _int(root.findtext("size") or "32")
    peripherals = {p.findtext("name", "").strip(): p for p in root.findall("peripherals/peripheral")}
    out: dict[str, Register] = {}
    for name, p in peripherals.items():
        base = _int(p.findtext("baseAddress"))
        body = p
        if p.find("registers") is None and p.get("derivedFrom"):
            body = peripherals[p.get("derivedFrom", "")]
        regs = body.find("registers")
        if regs is not None:
            _walk(regs, name, base, device_size, out, f"{svd_name} {name}")
    return out


@cache
def table_registers(table: str) -> dict[str, Register]:
    """PERIPHERAL.REGISTER -> address and fields from boards/registers/TABLE.toml."""
    data = tomllib.loads((TABLES / f"{table}.toml").read_text())
    out = {}
    for periph, regs in data.items():
        if not isinstance(regs, dict):
            continue
        for name, entry in regs.items():
            fields = tuple((f, lsb, width) for f, (lsb, width) in entry["fields"].items())
            out[f"{periph}.{name}"] = Register(entry["addr"], fields,
                                               f"{table}.toml: {entry['cite']}")
    return out


def board_sources(path: Path) -> tuple[str | None, str | None]:
    data = tomllib.loads(path.read_text())
    return data.get("svd"), data.get("registers")


def lookup(path: Path, reg: str) -> Register | None:
    """The vendor's description of register `reg` for the chip of the board file at `path`."""
    svd, table = board_sources(path)
    if table and reg in table_registers(table):
        return table_registers(table)[reg]
    if svd and reg in svd_registers(svd):
        return svd_registers(svd)[reg]
    return None


def check_step(path: Path, step: InitStep) -> list[str]:
    """What is wrong with one step, as sentences (empty: nothing)."""
    if step.op == "delay":
        return []
    if not step.reg:
        return [f"step '{step.note}' at 0x{step.addr:08X} names no register (reg = \"PERIPH.REG\")"]
    found = lookup(path, step.reg)
    if found is None:
        return [f"{step.reg}: no such register in {' or '.join(filter(None, board_sources(path)))}"]
    problems = []
    if found.addr != step.addr:
        problems.append(f"{step.reg} is at 0x{found.addr:08X} ({found.source}), the step "
                        f"'{step.note}' writes 0x{step.addr:08X}")
    covered = 0
    for _, lsb, width in found.fields:
        covered |= ((1 << width) - 1) << lsb
    stray = (step.mask | step.value) & ~covered & 0xFFFFFFFF
    if stray:
        problems.append(f"{step.reg}: mask/value bits 0x{stray:08X} of step '{step.note}' are in "
                        f"no field ({found.source})")
    return problems


def all_configurations(board: Board) -> list[Board]:
    """The board once per clock configuration (once if it has a fixed clock)."""
    if not board.clock_options:
        return [board]
    return [load_board_file(board.path, c.name) for c in board.clock_options]


# the boards with register steps (the MPS2/MPS3 QEMU boards have none to check)
BOARD_FILES = sorted(p for p in BOARDS.glob("*.toml")
                     if any(b.init for b in all_configurations(load_board_file(p))))


@pytest.mark.parametrize("path", BOARD_FILES, ids=[p.stem for p in BOARD_FILES])
def test_every_step_matches_the_vendor_register_map(path):
    board = load_board_file(path)
    steps = {s for b in all_configurations(board) for s in b.init}
    svd, table = board_sources(path)
    assert svd or table, f"{path.name} names neither an SVD file nor a register table"
    problems = [p for s in sorted(steps, key=lambda s: (s.addr, s.note)) for p in check_step(path, s)]
    assert not problems, "\n".join(problems)


def test_the_old_h7a3_gpiod_clock_address_is_caught():
    """The NUCLEO-H7A3ZI file once enabled GPIOD's clock at RCC+0x140; ST's stm32h7a3xx.h puts
    RCC_AHB4ENR at RCC+0xE0 (0x580244E0)."""
    path = BOARDS / "nucleo-h7a3zi.toml"
    step = next(s for s in load_board_file(path).init if s.reg == "RCC.AHB4ENR")
    assert step.addr == 0x580244E0 and not check_step(path, step)
    old = replace(step, addr=0x58024540)
    assert any("RCC.AHB4ENR is at 0x580244E0" in p for p in check_step(path, old))


def test_a_mask_outside_the_fields_is_caught():
    path = BOARDS / "nucleo-f446re.toml"
    step = next(s for s in load_board_file(path).init if s.reg == "GPIOA.AFRL")
    assert not check_step(path, step)
    # RCC_CR bit 2 is reserved on the F4 (between HSIRDY and HSITRIM)
    bad = InitStep("write", 0x40023800, 0x4, 0x4, "reserved bit", "RCC.CR")
    assert any("in no field" in p for p in check_step(path, bad))


def test_register_tables_cite_their_source():
    for table in sorted(TABLES.glob("*.toml")):
        data = tomllib.loads(table.read_text())
        assert isinstance(data.get("header"), str), f"{table.name}: say which header it is from"
        for periph, regs in data.items():
            if not isinstance(regs, dict):
                continue
            for name, entry in regs.items():
                assert entry.get("cite"), f"{table.name}: {periph}.{name} cites nothing"
                for field, (lsb, width) in entry["fields"].items():
                    assert 0 <= lsb and lsb + width <= 32, f"{table.name}: {periph}.{name}.{field}"


def test_every_board_with_steps_is_checked():
    """A user's new board file with register steps needs a description to be checked against."""
    for board in list_boards():
        if any(b.init for b in all_configurations(board)):
            svd, table = board_sources(board.path)
            assert svd or table, board.name
