"""The host's half of the device protocol (MLPerf Tiny's plus tinydeploy's `td-` commands).

Every read has a deadline, so a hung board, a reset, a wrong baud rate or a pulled cable becomes a
clear `DeviceError` rather than a hang. Works with any pyserial URL: `/dev/ttyACM0` for a board,
`socket://127.0.0.1:PORT` for a QEMU UART.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import serial

from tinydeploy.errors import TinyDeployError

CHUNK = 31              # bytes per `db` command, as the MLPerf runner sends them
MAX_GARBAGE = 20        # lines that are not protocol before we call the line broken


def open_port(url: str, baud: int = 115200, connect_timeout: float = 10.0,
              alive: Callable[[], None] | None = None) -> serial.SerialBase:
    """Open a pyserial URL or device path; any failure is one DeviceError naming the port (a
    socket is retried while an emulator starts)."""
    deadline = time.monotonic() + connect_timeout
    while True:
        try:
            port = serial.serial_for_url(url, baudrate=baud, timeout=0.05)
            break
        except (serial.SerialException, OSError, ValueError, OverflowError, TypeError) as exc:
            if alive:
                alive()
            if time.monotonic() > deadline or not url.startswith("socket://"):
                raise DeviceError(f"cannot open serial port {url}: {exc}",
                                  "check the cable, the --port and --baud values "
                                  "(tinydeploy flash lists the ports it can see)") from None
            time.sleep(0.05)
    sock = getattr(port, "_socket", None)
    if sock is not None:  # socket:// (QEMU): without this, every round trip waits ~40 ms
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return port


def check_port(url: str, baud: int = 115200) -> None:
    """Open and close the port: a bad --port or --baud is reported before anything is built."""
    open_port(url, baud, connect_timeout=2.0).close()


def find_port() -> str:
    """The one USB serial port that looks like a board, or an error listing the candidates."""
    from serial.tools import list_ports

    ports = [p.device for p in list_ports.comports() if p.vid is not None]
    if len(ports) == 1:
        return ports[0]
    raise TinyDeployError("no board found on USB serial ports" if not ports else
                          f"several boards found: {', '.join(ports)}",
                          "connect the board, or choose one with --port")


class DeviceError(TinyDeployError):
    """The device did not answer as the protocol says."""


class PortClosed(DeviceError):
    """The serial line itself is gone (a closed socket, a pulled cable): retrying cannot help."""


class Garbage(DeviceError):
    """Bytes that are not the protocol: a wrong baud rate, or not tinydeploy firmware."""


@dataclass
class Inference:
    ticks: int
    output: bytes


class DeviceLink:
    """A protocol session on an open serial line."""

    def __init__(self, port: serial.SerialBase, url: str, timeout: float = 10.0,
                 alive: Callable[..., None] | None = None) -> None:
        self.port, self.url, self.timeout = port, url, timeout
        # alive(wait=seconds) raises a clear error where the device (an emulator) has died
        self.alive = alive
        self._buf = b""
        self.log: list[str] = []

    @classmethod
    def open(cls, url: str, baud: int = 115200, timeout: float = 10.0,
             connect_timeout: float = 10.0, alive: Callable[[], None] | None = None) -> "DeviceLink":
        """Open the port (retrying while an emulator starts) and check the device answers.

        The boot banner is not relied on: a board booted before the port was opened, and
        pyserial discards whatever arrived before `open` returned."""
        port = open_port(url, baud, connect_timeout, alive)
        link = cls(port, url, timeout, alive)
        try:
            link.handshake()
        except BaseException:
            link.close()
            raise
        return link

    def _dead(self, exc: BaseException) -> PortClosed:
        """The line failed: say why, naming the emulator where it is the emulator that died."""
        if self.alive:
            self.alive(1.0)
        return PortClosed(f"serial port {self.url} failed: {exc}",
                          "the device was disconnected; reconnect it and retry")

    def handshake(self) -> str:
        """Send `name` until the device answers with its name (banner lines are skipped)."""
        deadline = time.monotonic() + self.timeout
        garbage = 0
        while time.monotonic() < deadline:
            self._write(b"name%")
            resend = min(deadline, time.monotonic() + 1.0)
            name = None
            try:
                while True:
                    line = self._read_line(resend, "the device to answer 'name'")
                    if line.startswith("m-name-dut-"):
                        name = line
                    elif line == "m-ready" and name:
                        return name
                    elif not line.startswith(("m-", "e-")):
                        garbage = self._garbage(line, garbage)
            except (Garbage, PortClosed):
                raise
            except DeviceError:
                continue
        if self.alive:
            self.alive()
        raise DeviceError(f"no answer from the device on {self.url} (sent 'name' for "
                          f"{self.timeout:g} s, last lines: {self.log[-3:]})",
                          "check the port, the baud rate and that the board runs tinydeploy "
                          "firmware; reset it and retry")

    def close(self) -> None:
        try:
            self.port.close()
        except (serial.SerialException, OSError):
            pass

    def __enter__(self) -> "DeviceLink":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- line level ----
    def _read_line(self, deadline: float, what: str) -> str:
        while b"\n" not in self._buf:
            if time.monotonic() > deadline:
                if self.alive:
                    self.alive()
                raise DeviceError(
                    f"no answer from the device on {self.url} while waiting for {what} "
                    f"(last lines: {self.log[-3:]})",
                    "the board may be hung, reset, or on another baud rate; reset it and retry")
            try:
                # block for one byte (up to the port's short timeout), then take what is waiting:
                # read(4096) would sit out the whole timeout on every exchange
                chunk = self.port.read(1)
                if chunk and self.port.in_waiting:
                    chunk += self.port.read(self.port.in_waiting)
            except (serial.SerialException, OSError) as exc:
                raise self._dead(exc) from None
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\n", 1)
        line = raw.rstrip(b"\r").decode("ascii", "replace")
        self.log.append(line)
        return line

    def _garbage(self, line: str, seen: int) -> int:
        """Count a line that is not protocol; too many, or undecodable bytes, mean a bad line."""
        if seen + 1 > MAX_GARBAGE or "\ufffd" in line:
            raise Garbage(f"garbage on the serial line {self.url}: {line[:60]!r}",
                              "check the baud rate (--baud) and that the board runs "
                              "tinydeploy firmware")
        return seen + 1

    def read_until_ready(self, what: str, timeout: float | None = None) -> list[str]:
        """Lines of one answer, up to and without the closing `m-ready`."""
        deadline = time.monotonic() + (timeout or self.timeout)
        lines: list[str] = []
        garbage = 0
        while True:
            line = self._read_line(deadline, what)
            if line == "m-ready":
                return lines
            if line.startswith("e-"):
                self.read_until_ready(what, timeout)
                raise DeviceError(f"device error while {what}: {line}",
                                  "check that the firmware matches the model and input")
            if line.startswith("m-"):
                lines.append(line)
            else:
                garbage = self._garbage(line, garbage)

    def _write(self, data: bytes) -> None:
        try:
            self.port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise self._dead(exc) from None

    def command(self, cmd: str, timeout: float | None = None) -> list[str]:
        """Send one command and return its answer lines."""
        self._write(cmd.encode("ascii") + b"%")
        lines = self.read_until_ready(f"the answer to '{cmd[:20]}'", timeout)
        if "m-init-done" in lines:
            raise DeviceError(f"the device reset while running '{cmd[:20]}'",
                              "check the power supply and the stack size; then retry")
        return lines

    # ---- protocol level ----
    def _send_hex(self, cmd: str, data: bytes) -> list[str]:
        """`cmd <hex>` in CHUNK-byte pieces; the answer to the last piece."""
        done: list[str] = []
        for i in range(0, len(data), CHUNK):
            done = self.command(f"{cmd} " + data[i:i + CHUNK].hex())
        return done

    def load_input(self, data: bytes) -> None:
        self.command(f"db load {len(data)}")
        if "m-load-done" not in self._send_hex("db", data):
            raise DeviceError(f"device did not confirm loading {len(data)} bytes",
                              "the firmware expects another input size: rebuild it for this model")

    def infer(self) -> Inference:
        """One timed inference on the loaded input: exact ticks and raw output bytes."""
        ticks, out = None, None
        for line in self.command("td-infer"):
            if line.startswith("m-td-ticks-"):
                ticks = int(line[len("m-td-ticks-"):])
            elif line.startswith("m-td-out-"):
                out = bytes.fromhex(line[len("m-td-out-"):])
        if ticks is None or out is None:
            raise DeviceError("malformed answer to td-infer", "rebuild and reflash the firmware")
        return Inference(ticks, out)

    def resync(self, cause: DeviceError) -> None:
        """After a failed exchange: drop what is buffered and wait for the device to answer again.
        A dead line ends it at once; where the device never recovers, the first diagnosis
        (`cause`: garbage, a reset, silence) is what the error reports."""
        try:
            self.port.reset_input_buffer()
        except (serial.SerialException, OSError, AttributeError):
            pass
        self._buf = b""
        deadline = time.monotonic() + min(self.timeout, 10.0)
        while time.monotonic() < deadline:
            try:
                self._write(b"%")  # ends any half-received command; answered by m-ready
                self.read_until_ready("the device to recover", timeout=1.0)
                return
            except PortClosed:
                raise
            except Garbage:
                raise cause from None
            except DeviceError:
                continue
        raise type(cause)(f"{cause.problem}; the device on {self.url} did not recover",
                          cause.fix) from None

    def run_input(self, data: bytes, retries: int = 2) -> Inference:
        """Load one input and run it, re-synchronising and retrying after a glitch on the line
        (never after the line itself failed)."""
        for attempt in range(retries + 1):
            try:
                self.load_input(data)
                return self.infer()
            except PortClosed:
                raise
            except DeviceError as exc:
                if attempt == retries:
                    raise
                self.resync(exc)
        raise AssertionError("unreachable")

    def run_audio(self, pcm: bytes) -> tuple[int, Inference]:
        """Send raw 16-bit audio; the device computes MFCCs and runs the model.
        Returns (feature ticks, inference)."""
        self.command(f"td-audio load {len(pcm) // 2}")
        if "m-td-audio-done" not in self._send_hex("td-audio", pcm):
            raise DeviceError("device did not confirm the audio", "rebuild with the audio front end")
        lines = self.command("td-audio-infer")
        found = {ln.split("-")[2]: ln for ln in lines if ln.startswith("m-td-")}
        try:
            feature = int(found["feature"].rsplit("-", 1)[1])
            ticks = int(found["ticks"].rsplit("-", 1)[1])
            out = bytes.fromhex(found["out"][len("m-td-out-"):])
        except (KeyError, ValueError):
            raise DeviceError("malformed answer to td-audio-infer",
                              "rebuild and reflash the firmware") from None
        return feature, Inference(ticks, out)

    def layers(self) -> list[tuple[str, int]]:
        """Ticks per kernel call of the last inference."""
        result = []
        for line in self.command("td-layers"):
            if line.startswith("m-td-layer-"):
                body = line[len("m-td-layer-"):]
                _, rest = body.split("-", 1)
                name, ticks = rest.rsplit("-", 1)
                result.append((name, int(ticks)))
        return result

    def info(self) -> dict[str, str]:
        info = {}
        for line in self.command("td-info"):
            body = line[len("m-td-"):]
            if body.endswith("]") and "-[" in body:
                k, v = body[:-1].split("-[", 1)
            else:
                k, v = body.rsplit("-", 1)
            info[k] = v
        return info

    def mlperf_infer(self, runs: int, warmup: int) -> tuple[float, list[float]]:
        """MLPerf `infer N W`: mean microseconds per run (device timer) and dequantized results."""
        lines = self.command(f"infer {runs} {warmup}", timeout=self.timeout + runs)
        laps = [int(ln[len("m-lap-us-"):]) for ln in lines if ln.startswith("m-lap-us-")]
        res = [ln for ln in lines if ln.startswith("m-results-[")]
        if len(laps) != 2 or not res:
            raise DeviceError("malformed answer to infer", "rebuild and reflash the firmware")
        values = [float(v) for v in res[0][len("m-results-["):-1].split(",")]
        return (laps[1] - laps[0]) / runs, values

    def exit(self, wait: float = 2.0) -> None:
        """Ask a simulated board to end its run (semihosting exit), and give the line up to
        `wait` seconds to close as the emulator ends: a relay between (ser2net, for a farm's
        simulated place) drops what it still holds for the board when the client hangs up."""
        try:
            self._write(b"td-exit%")
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                self.port.read(256)
        except (DeviceError, serial.SerialException, OSError):
            pass  # the line closed: the emulator has ended
