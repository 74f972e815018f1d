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


def test_clock_configurations_are_picked_by_name():
    b = get_board("nucleo-f446re")
    assert b.clock == "max" and b.clock_hz == 180_000_000 and b.uart_clock_hz == 45_000_000
    assert b.clock_steps > 0 and b.init[:b.clock_steps][0].note.startswith("RCC APB1ENR")
    reset = get_board("nucleo-f446re", "reset")
    assert reset.clock == "reset" and reset.clock_hz == 16_000_000 and reset.clock_steps == 0
    assert reset.init == b.init[b.clock_steps:]  # the common steps follow either configuration
    assert b.uart_fallback_clock_hz == reset.uart_clock_hz == 16_000_000
    assert [(c.name, c.hz) for c in b.clock_options] == [("reset", 16_000_000),
                                                          ("max", 180_000_000)]
    f405 = get_board("qemu-stm32f405")
    assert f405.clock == "reset" and f405.is_qemu and f405.qemu_serial_index == 1


def test_every_real_board_defaults_to_its_max_clock():
    for b in list_boards():
        if not b.is_qemu:
            assert b.clock == "max" and {c.name for c in b.clock_options} == {"max", "reset"}


def test_clock_errors_name_the_choices(tmp_path):
    with pytest.raises(TinyDeployError, match="no clock configuration 'turbo'.*reset, max"):
        get_board("nucleo-f446re", "turbo")
    with pytest.raises(TinyDeployError, match="qemu-m4 has one fixed clock"):
        get_board("qemu-m4", "max")
    text = (BOARDS / "nucleo-f446re.toml").read_text()
    p = tmp_path / "mine.toml"
    p.write_text(text.replace('default = "max"', 'default = "fast"'))
    with pytest.raises(TinyDeployError, match=f"{p}: .*'clock.default'"):
        load_board_file(p)
    p.write_text(text.replace("hz = 180_000_000", 'hz = "fast"'))
    with pytest.raises(TinyDeployError, match=f"{p}: .*'clock.max.hz'"):
        load_board_file(p)
    p.write_text("clock_hz = 1\n" + text)
    with pytest.raises(TinyDeployError, match="both 'clock_hz' and a \\[clock\\] table"):
        load_board_file(p)
    p.write_text(text.replace('[clock.max]\n', '[clock.max]\ncore_caches = true\n'))
    with pytest.raises(TinyDeployError, match="core_caches' is for Cortex-M7"):
        load_board_file(p)


def test_boards_json_shows_every_clock(capsys):
    assert main(["boards", "--json"]) == 0
    data = {b["name"]: b for b in json.loads(capsys.readouterr().out)}
    f446 = data["nucleo-f446re"]
    assert f446["clock"] == "max" and f446["clock_hz"] == 180_000_000
    assert f446["clocks"] == {"reset": {"hz": 16_000_000, "uart_clock_hz": 16_000_000},
                              "max": {"hz": 180_000_000, "uart_clock_hz": 45_000_000}}
    assert data["qemu-m4"]["clock"] is None and data["qemu-m4"]["clocks"] == {}
    assert data["qemu-stm32f405"]["clock"] == "reset"
