"""The serial client against misbehaving devices on loopback: errors, never hangs."""

import socket
import threading
import time

import pytest

from tinydeploy.serial_link import DeviceError, DeviceLink


class FakeDevice:
    """A TCP server on 127.0.0.1 that plays a scripted device; `url` is its pyserial URL."""

    def __init__(self, script):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.url = f"socket://127.0.0.1:{self.sock.getsockname()[1]}"
        self.script = script
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        conn, _ = self.sock.accept()
        try:
            self.script(conn)
        except OSError:
            pass
        finally:
            time.sleep(0.2)
            conn.close()
            self.sock.close()


def read_command(conn):
    data = b""
    while not data.endswith(b"%"):
        chunk = conn.recv(1)
        if not chunk:
            raise OSError("closed")
        data += chunk
    return data[:-1].decode()


BANNER = b"m-timestamp-mode-performance\r\nm-lap-us-0\r\nm-init-done\r\nm-ready\r\n"


def boot(conn):
    """Answer the host's opening `name` handshake, after a boot banner as QEMU would print."""
    conn.sendall(BANNER)
    assert read_command(conn) == "name"
    conn.sendall(b"m-name-dut-[fake]\r\nm-ready\r\n")


def test_healthy_fake_device():
    def script(conn):
        boot(conn)
        assert read_command(conn) == "name"
        conn.sendall(b"m-name-dut-[fake]\r\nm-ready\r\n")
    dev = FakeDevice(script)
    with DeviceLink.open(dev.url, timeout=2) as link:
        assert link.command("name") == ["m-name-dut-[fake]"]


def test_silent_device_times_out():
    dev = FakeDevice(lambda conn: time.sleep(3))
    t = time.monotonic()
    with pytest.raises(DeviceError, match="no answer from the device .*sent 'name'"):
        DeviceLink.open(dev.url, timeout=0.5)
    assert time.monotonic() - t < 2.5


def test_garbage_on_the_wire():
    def script(conn):  # a device on another baud rate: every answer is noise
        read_command(conn)
        conn.sendall(bytes(range(128, 256)) * 4 + b"\r\n")
        time.sleep(1)
    dev = FakeDevice(script)
    with pytest.raises(DeviceError, match="garbage on the serial line .*baud"):
        DeviceLink.open(dev.url, timeout=2)


def test_device_that_resets_mid_command():
    def script(conn):
        boot(conn)
        read_command(conn)
        conn.sendall(BANNER)
    dev = FakeDevice(script)
    with DeviceLink.open(dev.url, timeout=2) as link:
        with pytest.raises(DeviceError, match="reset while running 'td-infer'"):
            link.command("td-infer")


def test_disconnect_mid_answer():
    def script(conn):
        boot(conn)
        read_command(conn)
        conn.sendall(b"m-td-ticks-5\r\n")
    dev = FakeDevice(script)
    with DeviceLink.open(dev.url, timeout=1) as link:
        with pytest.raises(DeviceError):
            link.infer()


def test_dead_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(DeviceError, match="cannot open serial port"):
        DeviceLink.open(f"socket://127.0.0.1:{port}", connect_timeout=0.5)
    with pytest.raises(DeviceError, match="cannot open serial port /dev/ttyNOPE"):
        DeviceLink.open("/dev/ttyNOPE")


def test_malformed_load_confirmation():
    def script(conn):
        boot(conn)
        while True:
            cmd = read_command(conn)
            conn.sendall(b"m-[Expecting 4 bytes]\r\nm-ready\r\n" if cmd.startswith("db load")
                         else b"m-ready\r\n")
    dev = FakeDevice(script)
    with DeviceLink.open(dev.url, timeout=1) as link:
        with pytest.raises(DeviceError, match="did not confirm loading 4 bytes"):
            link.load_input(b"\x01\x02\x03\x04")


def test_glitch_is_retried():
    """A device that resets once mid-inference, then behaves: run_input retries and succeeds."""
    state = {"resets": 0}

    def script(conn):
        boot(conn)
        while True:
            cmd = read_command(conn)
            if cmd == "td-infer" and state["resets"] == 0:
                state["resets"] += 1
                conn.sendall(BANNER)  # the board resets
            elif cmd.startswith("db load"):
                conn.sendall(b"m-[Expecting 2 bytes]\r\nm-ready\r\n")
            elif cmd.startswith("db "):
                conn.sendall(b"m-load-done\r\nm-ready\r\n")
            elif cmd == "td-infer":
                conn.sendall(b"m-td-ticks-7\r\nm-td-out-0aff\r\nm-ready\r\n")
            else:
                conn.sendall(b"m-ready\r\n")
    dev = FakeDevice(script)
    with DeviceLink.open(dev.url, timeout=1) as link:
        inf = link.run_input(b"\x01\x02")
    assert inf.ticks == 7 and inf.output == b"\x0a\xff" and state["resets"] == 1


def test_garbage_after_the_handshake_is_reported_as_garbage_quickly():
    """A device that answers `name` and then sends noise: the first diagnosis (garbage) is what
    the error says, within seconds, not 'stopped answering' after the whole timeout."""
    def script(conn):
        boot(conn)
        while True:
            read_command(conn)
            conn.sendall(bytes(range(128, 256)) * 2 + b"\r\n")
    dev = FakeDevice(script)
    with DeviceLink.open(dev.url, timeout=5) as link:
        t = time.monotonic()
        with pytest.raises(DeviceError, match="garbage on the serial line"):
            link.run_input(b"\x01\x02")
        assert time.monotonic() - t < 5


def test_closed_socket_stops_at_once():
    """The far end goes away mid-exchange: one error at once, no retry loop on a dead socket."""
    def script(conn):
        boot(conn)
        read_command(conn)
    dev = FakeDevice(script)
    with DeviceLink.open(dev.url, timeout=10) as link:
        t = time.monotonic()
        with pytest.raises(DeviceError, match="failed"):
            link.run_input(b"\x01\x02")
        assert time.monotonic() - t < 2


def test_impossible_baud_rate_is_a_clear_error():
    with pytest.raises(DeviceError, match="cannot open serial port /dev/ttyS0.*--baud"):
        DeviceLink.open("/dev/ttyS0", baud=4_000_000_000)
