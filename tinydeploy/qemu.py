"""Run firmware in QEMU with its UART on a local TCP port (or a pseudo-terminal), as a context
manager.

`-icount shift=0` makes the guest's SysTick advance exactly with executed instructions, so timing
is deterministic; `wait=on` holds the guest until the host connects, so no output is lost. With
serial="pty" the UART is a /dev/pts/N device that any serial program (the MLPerf Tiny runner, a
terminal) can open; the boot banner is read off it first, so the line starts clean (the protocol
does not need the banner: the host speaks first).
"""

from __future__ import annotations

import re
import select
import shlex
import socket
import subprocess
import time
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

    def __init__(self, board: Board, elf: Path, serial: str = "tcp") -> None:
        if not board.is_qemu:
            raise TinyDeployError(f"board {board.name} is not simulated",
                                  "use a qemu-* board, or flash the real board with --port")
        if serial not in ("tcp", "pty"):
            raise TinyDeployError(f"unknown serial mode '{serial}'", "use tcp or pty")
        require("qemu-system-arm")
        self.board, self.elf, self.serial = board, Path(elf), serial
        self.port = free_port() if serial == "tcp" else 0
        self.url = f"socket://127.0.0.1:{self.port}" if serial == "tcp" else ""
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        # the machine maps -serial options to its UARTs in order: the ones before the board's
        # UART go nowhere
        uart = (f"tcp:127.0.0.1:{self.port},server=on,wait=on,nodelay=on"
                if self.serial == "tcp" else "pty")
        return shlex.split(qemu_command(self.board)) + [
            "-kernel", str(self.elf), *["-serial", "null"] * self.board.qemu_serial_index,
            "-serial", uart]

    def start(self) -> "QemuSession":
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     preexec_fn=die_with_parent)
        if self.serial == "pty":
            self.url = self._pty_path()
            self._drain_banner()
        return self

    def _drain_banner(self, timeout: float = 10.0) -> None:
        """Read the boot banner off the pseudo-terminal (it buffers it until someone reads), so
        whoever opens it next starts with a clean line, as with a board booted long ago."""
        import serial

        port = serial.Serial(self.url, 115200, timeout=0.1)
        try:
            seen, deadline = b"", time.monotonic() + timeout
            while b"m-ready" not in seen and time.monotonic() < deadline:
                seen += port.read(256)
                self.check_alive()
        finally:
            port.close()

    def _pty_path(self, timeout: float = 10.0) -> str:
        """The /dev/pts/N QEMU announces for the UART ("char device redirected to ...")."""
        assert self.proc is not None and self.proc.stdout is not None
        deadline, seen = time.monotonic() + timeout, b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.1)
            if ready:
                chunk = self.proc.stdout.read1(4096)  # type: ignore[attr-defined]
                seen += chunk
                m = re.search(rb"redirected to (/dev/pts/\d+)", seen)
                if m:
                    return m.group(1).decode()
                if not chunk:
                    break
            self.check_alive()
        self.stop()
        raise TinyDeployError(f"QEMU did not announce its pseudo-terminal: "
                              f"{seen.decode(errors='replace')[-200:] or 'no output'}",
                              "check that /dev/pts is available, or use the TCP serial line")

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
