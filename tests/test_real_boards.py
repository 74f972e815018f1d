"""Firmware for the real boards: every one compiles and links offline with the system toolchain
through the project's PlatformIO platform (they cannot run here; the QEMU boards do)."""

import struct

import pytest

from generated import generated_model
from tinydeploy.bench import make_firmware
from tinydeploy.boards import get_board, list_boards
from tinydeploy.build import elf_sections
from tinydeploy.compiler import compile_model

REAL = [b.name for b in list_boards() if not b.is_qemu]
REAL_CLOCKS = [(b.name, c.name) for b in list_boards() if not b.is_qemu for c in b.clock_options]


@pytest.fixture(scope="module")
def kws_compiled(tiny_kws):
    return compile_model(tiny_kws)


@pytest.mark.parametrize("name,clock", REAL_CLOCKS)
def test_real_board_firmware_links(name, clock, kws_compiled, tmp_path):
    board = get_board(name, clock)
    fw = make_firmware(kws_compiled, board, tmp_path / name)
    sections = elf_sections(fw.build.elf)
    assert sections[".isr_vector"] >= 16 * 4
    assert fw.build.flash_bytes <= board.flash_size and fw.build.ram_bytes <= board.ram_size
    board_config = (fw.project / "src" / "board_config.h").read_text()
    for step in board.init:  # every bring-up step of the board file reaches the firmware
        assert f"0x{step.addr:08X}u" in board_config
    # the chosen clock configuration's steps come first, with its frequencies
    assert f"#define TD_CLOCK_STEPS {board.clock_steps} " in board_config
    assert f"#define TD_CLOCK_HZ {board.clock_hz}u" in board_config
    assert f"#define TD_UART_CLOCK_HZ {board.uart_clock_hz}u" in board_config
    assert f'#define TD_CLOCK_CONFIG "{clock}"' in board_config
    assert f"#define TD_CORE_CACHES {int(board.core_caches)} " in board_config
    ini = (fw.project / "platformio.ini").read_text()
    assert f"upload_protocol = {board.upload_protocol}" in ini
    assert f"upload_command = {board.upload_command}" in ini


def test_pico_uf2_layout(kws_compiled, tmp_path):
    board = get_board("rpi-pico")
    fw = make_firmware(kws_compiled, board, tmp_path / "pico")
    image = fw.build.bin.read_bytes()
    uf2 = (fw.build.bin.parent / "firmware.uf2").read_bytes()
    assert len(uf2) % 512 == 0 and len(uf2) // 512 == (len(image) + 255) // 256
    payload = b""
    for n in range(len(uf2) // 512):
        block = uf2[512 * n: 512 * (n + 1)]
        magic0, magic1, flags, addr, size, index, total, family = struct.unpack("<8I", block[:32])
        assert (magic0, magic1, struct.unpack("<I", block[508:])[0]) == (0x0A324655, 0x9E5D5157,
                                                                        0x0AB16F30)
        assert flags == 0x2000 and family == 0xE48BFF56  # family id present: RP2040
        assert addr == 0x20000000 + 256 * n and size == 256 and index == n
        assert total == len(uf2) // 512
        payload += block[32:32 + size]
    assert payload[:len(image)] == image


def test_board_too_small_for_model(tmp_path):
    cm = compile_model(generated_model("wide_activations"))
    with pytest.raises(Exception, match="qemu-m0 has 16,384"):
        make_firmware(cm, get_board("qemu-m0"), tmp_path / "fw")


def test_build_takes_the_clock_configuration(tiny_kws, tmp_path):
    from tinydeploy.cli import main

    for clock, hz in (("reset", 16_000_000), ("max", 180_000_000)):
        out = tmp_path / clock
        assert main(["build", str(tiny_kws), "--board", "nucleo-f446re", "--clock", clock,
                     "--out", str(out)]) == 0
        config = (out / "src" / "board_config.h").read_text()
        assert f"#define TD_CLOCK_HZ {hz}u" in config and f'"{clock}"' in config
