"""Run firmware in QEMU with its UART on a local TCP port, as a context manager.

`-icount shift=0` makes the guest's SysTick advance exactly with executed instructions, so timing
is deterministic; `wait=on` holds the guest until the host connects, so no output is lost.
"""

from __future__ import annotations

import shlex
import socket
import subprocess
from pathlib import Path
from types import TracebackType

from tinydeploy.boards import Board
from tinydeploy.child_process import die_with_parent
from tinydeploy.errors import TinyDeployError
from tinydeploy.firmware import qemu_command
from tinydeploy.toolchain import require


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class QemuSession:
    """A running emulator; `url` is the pyserial URL of its UART."""

    def __init__(self, board: Board, elf: Path) -> None:
        if not board.is_qemu:
            raise TinyDeployError(f"board {board.name} is not simulated",
                                  "use a qemu-* board, or flash the real board with --port")
        require("qemu-system-arm")
        self.board, self.elf = board, Path(elf)
        self.port = free_port()
        self.url = f"socket://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        # the machine maps -serial options to its UARTs in order: the ones before the board's
        # UART go nowhere
        return shlex.split(qemu_command(self.board)) + [
            "-kernel", str(self.elf), *["-serial", "null"] * self.board.qemu_serial_index,
            "-serial", f"tcp:127.0.0.1:{self.port},server=on,wait=on,nodelay=on"]

    def start(self) -> "QemuSession":
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     preexec_fn=die_with_parent)
        return self

    def check_alive(self, wait: float = 0.0) -> None:
        """Raise a clear error if the emulator has exited (bad machine, bad ELF, killed); `wait`:
        seconds to give a process whose line just failed to finish exiting."""
        if self.proc is not None and wait:
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None and self.proc.poll() is not None:
            out = self.proc.stdout.read().decode(errors="replace") if self.proc.stdout else ""
            raise TinyDeployError(f"QEMU exited (status {self.proc.returncode}): "
                                  f"{out.strip()[:300] or 'no output'}",
                                  f"check the [qemu] settings in {self.board.path}")

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        return rc

    def __enter__(self) -> "QemuSession":
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
