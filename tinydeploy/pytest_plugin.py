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
    """A factory: td_device(model, weights="auto") builds firmware for the model (or a list of
    models, one firmware) on the board's target (QEMU, or the board on --td-port) and returns an
    open DeviceLink."""
    from tinydeploy.bench import make_firmware
    from tinydeploy.compiler import CompiledModel, compile_model
    from tinydeploy.targets import Target, open_target

    port = request.config.getoption("--td-port")
    opened: list[tuple[DeviceLink, Target]] = []

    def factory(model: str | Path | CompiledModel | list, timeout: float = 30.0,
                weights: str = "auto") -> DeviceLink:
        models = model if isinstance(model, list) else [model]
        compiled = [m if isinstance(m, CompiledModel) else compile_model(m) for m in models]
        fw = make_firmware(compiled, td_board, tmp_path_factory.mktemp(f"fw-{td_board.name}"),
                           weights=weights)
        target = open_target(td_board, port)
        try:
            target.flash(fw.build.elf, fw.project)
            link = target.link(timeout)
        except BaseException:
            target.close()
            raise
        opened.append((link, target))
        return link

    yield factory
    for link, target in opened:
        link.close()
        target.close()
