"""pytest fixtures for hardware-in-the-loop tests, against QEMU or a real board, with one code.

    def test_my_model(td_device):
        link = td_device("model.tflite")          # builds, starts QEMU or opens --td-port
        link.load_input(bytes(490))
        assert len(link.infer().output) == 12

Options: `--td-board NAME` (default qemu-m4) and `--td-port URL` (a real board's serial port;
without it simulated boards run in QEMU). Installed with tinydeploy as a pytest plugin.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tinydeploy.boards import Board, get_board
from tinydeploy.serial_link import DeviceLink


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tinydeploy")
    group.addoption("--td-board", default="qemu-m4", help="board for td_device (default qemu-m4)")
    group.addoption("--td-port", default=None, help="serial port of a real board for td_device")


@pytest.fixture
def td_board(request: pytest.FixtureRequest) -> Board:
    """The board named by --td-board, or by indirect parametrization of `td_board`."""
    return get_board(getattr(request, "param", None) or request.config.getoption("--td-board"))


@pytest.fixture
def td_device(td_board: Board, request: pytest.FixtureRequest,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., DeviceLink]]:
    """A factory: td_device(model, weights="auto") builds firmware for the model and returns an
    open DeviceLink."""
    from tinydeploy.bench import make_firmware
    from tinydeploy.compiler import CompiledModel, compile_model
    from tinydeploy.qemu import QemuSession

    port = request.config.getoption("--td-port")
    opened: list[tuple[DeviceLink, QemuSession | None]] = []

    def factory(model: str | Path | CompiledModel, timeout: float = 30.0,
                weights: str = "auto") -> DeviceLink:
        compiled = model if isinstance(model, CompiledModel) else compile_model(model)
        fw = make_firmware(compiled, td_board, tmp_path_factory.mktemp(f"fw-{td_board.name}"),
                           weights=weights)
        qemu = None
        if port is None:
            qemu = QemuSession(td_board, fw.build.elf).start()
        try:
            link = DeviceLink.open(qemu.url if qemu else port, td_board.baud, timeout=timeout,
                                   alive=qemu.check_alive if qemu else None)
        except BaseException:
            if qemu:
                qemu.stop()
            raise
        opened.append((link, qemu))
        return link

    yield factory
    for link, qemu in opened:
        link.close()
        if qemu:
            qemu.stop()
