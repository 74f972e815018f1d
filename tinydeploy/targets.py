"""Targets: where a firmware runs and how its serial line is reached, behind one protocol
{flash, link, reset, close}, so `bench`, `flash` and the pytest fixture drive a simulated board and
a board on this machine's USB the same way (and a board farm's place, next, the same again).
"""

from __future__ import annotations

import shutil
import subprocess
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType

from tinydeploy.boards import Board
from tinydeploy.errors import TinyDeployError
from tinydeploy.serial_link import DeviceLink, check_port, find_port


class Target(ABC):
    """A board to run firmware on."""

    board: Board

    @abstractmethod
    def flash(self, elf: Path, project: Path) -> None:
        """Put the firmware (its ELF and PlatformIO project) on the board."""

    @abstractmethod
    def link(self, timeout: float = 30.0) -> DeviceLink:
        """An open protocol session with the running firmware."""

    def reset(self) -> None:
        """Start the firmware from reset (where the target can)."""

    def close(self) -> None:
        """Release what the target holds (an emulator, a port)."""

    @property
    def description(self) -> str:
        return self.board.name

    def __enter__(self) -> "Target":
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class QemuTarget(Target):
    """A simulated board: flashing remembers the ELF, linking starts QEMU with its UART on a local
    TCP port, resetting restarts it."""

    def __init__(self, board: Board) -> None:
        if not board.is_qemu:
            raise TinyDeployError(f"board {board.name} is not simulated",
                                  "use a qemu-* board, or give the real board's --port")
        self.board = board
        self.elf: Path | None = None
        self.session = None

    def flash(self, elf: Path, project: Path) -> None:
        self.close()
        self.elf = Path(elf)

    def link(self, timeout: float = 30.0) -> DeviceLink:
        from tinydeploy.qemu import QemuSession

        if self.elf is None:
            raise TinyDeployError("nothing flashed", "flash a firmware before linking")
        if self.session is None:
            self.session = QemuSession(self.board, self.elf).start()
        return DeviceLink.open(self.session.url, self.board.baud, timeout=timeout,
                               alive=self.session.check_alive)

    def reset(self) -> None:
        self.close()

    def close(self) -> None:
        if self.session is not None:
            self.session.stop()
            self.session = None

    @property
    def description(self) -> str:
        return f"{self.board.name} (QEMU)"


class SerialTarget(Target):
    """A board on a serial port of this machine. Flashing runs the board file's upload command
    through PlatformIO; with upload=False the board is assumed to run the firmware already."""

    def __init__(self, board: Board, port: str | None = None, baud: int | None = None,
                 upload: bool = False) -> None:
        self.board = board
        self.port = port or find_port()
        self.baud = baud or board.baud
        self.upload = upload
        check_port(self.port, self.baud)

    def flash(self, elf: Path, project: Path) -> None:
        if not self.upload:
            return
        from tinydeploy.toolchain import platformio_command, platformio_env

        require_upload_tool(self.board)
        cmd = platformio_command() + ["run", "-d", str(project), "-e", self.board.name, "-t",
                                      "upload", "--upload-port", self.port]
        if subprocess.run(cmd, env=platformio_env()).returncode:
            raise TinyDeployError(f"upload to {self.port} failed",
                                  "check the cable, the port and the board's upload tool")

    def link(self, timeout: float = 30.0) -> DeviceLink:
        return DeviceLink.open(self.port, self.baud, timeout=timeout)

    @property
    def description(self) -> str:
        return f"{self.board.name} ({self.port})"


def require_upload_tool(board: Board) -> None:
    """The program the board file uploads with must be installed."""
    if board.upload_command:
        tool = board.upload_command.split()[0]
        if shutil.which(tool) is None:
            raise TinyDeployError(f"{tool} not found: {board.name} is flashed with it",
                                  f"install {tool} (Debian: apt-get install {tool}), or edit "
                                  f"upload_command in {board.path}")


def open_target(board: Board, port: str | None = None, baud: int | None = None,
                upload: bool = False) -> Target:
    """QEMU for a simulated board without a port; otherwise the board on `port` (found on USB when
    not given). A port that cannot be opened is an error here, before anything is built."""
    if board.is_qemu and port is None:
        return QemuTarget(board)
    return SerialTarget(board, port, baud, upload)
