"""Boards are data: every file loads, bad files name the bad field."""

import json

import pytest

from tinydeploy.boards import get_board, list_boards, load_board_file
from tinydeploy.cli import main
from tinydeploy.errors import TinyDeployError
from tinydeploy.paths import BOARDS


def test_qemu_boards_for_every_core():
    cores = {b.core for b in list_boards() if b.is_qemu}
    assert {"cortex-m0", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55"} <= cores


def test_real_boards_people_benchmark_on():
    names = {b.name for b in list_boards()}
    assert {"nucleo-l4r5zi", "nucleo-f446re", "nucleo-h7a3zi", "stm32f746g-disco", "nrf52840-dk",
            "nano33ble", "rpi-pico"} <= names
    for b in list_boards():
        assert b.flash_size > 0 and b.ram_size > 0 and b.baud > 0
        assert b.is_qemu or b.timer == "dwt" or b.core.startswith("cortex-m0")


def test_default_board():
    b = get_board("qemu-m4")
    assert b.qemu_machine == "mps2-an386" and b.clock_hz == 25_000_000
    assert b.cpu_flags == ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"]
    assert b.latency_unit == "instructions"


def test_unknown_board_lists_choices():
    with pytest.raises(TinyDeployError, match="unknown board 'nope'.*qemu-m4"):
        get_board("nope")


@pytest.mark.parametrize("edit,field", [
    (lambda t: t.replace('core = "cortex-m4"', 'core = "cortex-z9"'), "core"),
    (lambda t: t.replace("clock_hz = 25_000_000", 'clock_hz = "fast"'), "clock_hz"),
    (lambda t: t.replace("baud = 115200\n", ""), "uart.baud"),
    (lambda t: t.replace('driver = "cmsdk"', 'driver = "usb"'), "uart.driver"),
    (lambda t: t + '\n[[init]]\naddr = 0x40000000\nmask = 1\n', "value"),
    (lambda t: t + '\n[[init]]\nop = "poke"\naddr = 1\nmask = 1\nvalue = 1\n', "op"),
])
def test_bad_board_file_names_the_field(tmp_path, edit, field):
    p = tmp_path / "mine.toml"
    p.write_text(edit((BOARDS / "qemu-m4.toml").read_text()))
    with pytest.raises(TinyDeployError, match=f"{p}: .*'{field}'"):
        load_board_file(p)


def test_user_board_folder(tmp_path, monkeypatch):
    (tmp_path / "my-board.toml").write_text((BOARDS / "qemu-m4.toml").read_text())
    monkeypatch.setenv("TINYDEPLOY_BOARDS", str(tmp_path))
    assert "my-board" in [b.name for b in list_boards()]


def test_boards_json(capsys):
    assert main(["boards", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    m4 = next(b for b in data if b["name"] == "qemu-m4")
    assert m4["flash_bytes"] == 4194304 and m4["ram_bytes"] == 4194304 and m4["simulated"]
