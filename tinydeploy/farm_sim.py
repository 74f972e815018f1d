"""A simulated board for the farm, run on an exporter host beside `labgrid-exporter`.

QEMU runs the last firmware flashed, its UART on a pseudo-terminal (`-serial pty`). Each flash
restarts QEMU, so the terminal's /dev/pts/N changes; a symbolic link under /dev/shm always points
at the current one, and that link is the `RawSerialPort` the exporter publishes through ser2net
(ser2net opens the device when a client connects, so it follows the link to the running QEMU).
Flashing is an HTTP PUT of the ELF to this service (`labgrid_qemu.QemuFlashDriver` sends it), so a
client flashes a simulated place through labgrid the way it flashes a real one, without a login
on the exporter host.

The service runs whatever ELF it is sent in QEMU, with semihosting (the firmware's exit uses it,
and it can reach the service user's files): like labgrid's exporters and ser2net ports, it belongs
on a lab network whose clients are trusted, under an unprivileged user.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from tinydeploy.boards import Board
from tinydeploy.errors import TinyDeployError
from tinydeploy.qemu import QemuSession

MAX_IMAGE_BYTES = 64 << 20


def default_link(place: str) -> Path:
    """Where a simulated place's UART link lives unless told otherwise. Under /dev because
    labgrid's exporter serves only device paths there; /dev/shm is writable without root."""
    return Path("/dev/shm/tinydeploy-farm") / place / "uart"


class SimulatedBoard:
    """QEMU running the last firmware flashed, its UART behind `link`."""

    def __init__(self, board: Board, link: Path) -> None:
        if not board.is_qemu:
            raise TinyDeployError(f"board {board.name} is not simulated",
                                  "simulate a qemu-* board; export a real board with --serial")
        if not str(link).startswith("/dev/"):
            raise TinyDeployError(f"UART link {link} is outside /dev",
                                  "labgrid exports serial ports under /dev only: use /dev/shm/...")
        self.board, self.link = board, link
        self.image = link.parent / "firmware.elf"
        self.session: QemuSession | None = None
        self.lock = threading.Lock()
        link.parent.mkdir(parents=True, exist_ok=True)

    def flash(self, elf: bytes) -> str:
        """Restart QEMU with this firmware and point the link at its new terminal; returns the
        terminal. A firmware QEMU refuses (not an ELF, wrong machine) is a TinyDeployError."""
        with self.lock:
            self._stop_qemu()
            tmp = self.image.with_suffix(".tmp")
            tmp.write_bytes(elf)
            tmp.replace(self.image)
            self.session = QemuSession(self.board, self.image, serial="pty").start()
            new = self.link.with_name(self.link.name + ".new")
            new.unlink(missing_ok=True)
            os.symlink(self.session.url, new)
            new.replace(self.link)
            return self.session.url

    def status(self) -> dict[str, object]:
        """What runs now: the board, QEMU's process id (None when off) and its terminal."""
        with self.lock:
            proc = self.session.proc if self.session else None
            running = proc is not None and proc.poll() is None
            return {"board": self.board.name, "link": str(self.link),
                    "pid": proc.pid if running and proc else None,
                    "pty": self.session.url if running and self.session else None}

    def _stop_qemu(self) -> None:
        if self.session is not None:
            self.session.stop()
            self.session = None

    def close(self) -> None:
        """Stop QEMU and remove the link, so the exporter's port leads nowhere."""
        with self.lock:
            self._stop_qemu()
            self.link.unlink(missing_ok=True)


class _Handler(BaseHTTPRequestHandler):
    """PUT /flash (the ELF as the body) and GET /status (JSON)."""

    sim: SimulatedBoard

    def _answer(self, code: int, body: str, kind: str = "text/plain") -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path != "/status":
            self._answer(404, "GET /status or PUT /flash\n")
            return
        self._answer(200, json.dumps(self.sim.status()), "application/json")

    def do_PUT(self) -> None:
        length = self.headers.get("Content-Length") or "0"
        size = int(length) if length.isdigit() else 0
        if self.path != "/flash":
            self._answer(404, "GET /status or PUT /flash\n")
            return
        if not 0 < size <= MAX_IMAGE_BYTES:
            self._answer(413, f"an image of {size} bytes (1 to {MAX_IMAGE_BYTES} taken)\n")
            return
        try:
            pty = self.sim.flash(self.rfile.read(size))
        except TinyDeployError as exc:
            self._answer(500, f"{exc}\n")
            return
        self._answer(200, f"running on {pty}\n")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        print(f"{self.address_string()} {format % args}", flush=True)


def serve(board: Board, link: Path, host: str, port: int) -> None:
    """Run the flash service on host:port until SIGTERM or Ctrl-C, then stop QEMU."""
    sim = SimulatedBoard(board, link)
    handler = type("Handler", (_Handler,), {"sim": sim})
    try:
        # one request at a time, in this thread: QEMU dies with the thread that started it
        # (child_process.die_with_parent), so a thread per request would take QEMU with it
        server = HTTPServer((host, port), handler)
    except OSError as exc:
        raise TinyDeployError(f"cannot listen on {host}:{port}: {exc}",
                              "choose a free port with --listen HOST:PORT") from None
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"simulated {board.name}: flash service on http://{host}:{server.server_port}, "
          f"UART at {link}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sim.close()
