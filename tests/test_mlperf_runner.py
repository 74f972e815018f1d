"""MLPerf Tiny conformance: the firmware driven over a pseudo-terminal exactly as the official
runner (mlcommons/tiny benchmark/runner) drives a device: its serial framing ('%' ends a command,
a reply ends at the line holding m-ready, a read thread splitting lines), its command sequence in
performance and accuracy modes (name, profile, db load and 31-byte db chunks, `infer N W`), its
parsing of m-lap-us and m-results. The runner itself finds devices by USB ids only; everything it
says to a device is reproduced here."""

import queue
import re
import subprocess
import sys
import threading

import numpy as np
import pytest
import serial

from tinydeploy.bench import bench, make_firmware
from tinydeploy.boards import get_board
from tinydeploy.compiler import compile_model
from tinydeploy.reference import ReferenceInterpreter


class RunnerLink:
    """The runner's view of a device: pyserial at 115200 baud with a 0.1 s read timeout, a reader
    thread queueing lines, commands ending in '%', replies ending with m-ready."""

    def __init__(self, path: str) -> None:
        self.port = serial.Serial(path, 115200, timeout=0.1)
        self.lines: queue.Queue[str] = queue.Queue()
        self.running = True
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        text = ""
        while self.running:
            ch = self.port.read(1).decode(errors="replace")
            if ch and ch not in "\r\n\0":
                text += ch
            elif ch == "\n":
                self.lines.put(text)
                text = ""

    def send(self, command: str, timeout: float = 30.0) -> list[str]:
        self.port.write(f"{command}%".encode())
        out = []
        while True:
            line = self.lines.get(timeout=timeout)
            if line:
                out.append(line)
            if "m-ready" in line:
                return out

    def load(self, data: bytes) -> list[str]:
        self.send(f"db load {len(data)}")
        result: list[str] = []
        for i in range(0, len(data), 31):
            result = self.send("db " + data[i:i + 31].hex())
        return result

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.port.close()


def _truncated(values: np.ndarray, scale: float, zp: int) -> list[str]:
    """The dequantized outputs as the reference API prints them: 3 decimals, truncated."""
    out = []
    for q in values.reshape(-1):
        f = np.float32(np.float32(int(q)) - np.float32(zp)) * np.float32(scale)
        sign, f = ("-", -f) if f < 0 else ("", f)
        whole = int(f)
        milli = int(np.float32(f - np.float32(whole)) * np.float32(1000))
        out.append(f"{sign}{whole}.{milli:03d}")
    return out


@pytest.fixture
def pty_device(tiny_kws, tmp_path):
    """`tinydeploy flash MODEL --board qemu-m4 --serial pty`, as a user starts it for the runner."""
    proc = subprocess.Popen([sys.executable, "-m", "tinydeploy.cli", "flash", str(tiny_kws),
                             "--board", "qemu-m4", "--serial", "pty"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        path = None
        for line in proc.stdout:
            m = re.search(r"its UART is (/dev/pts/\d+)", line)
            if m:
                path = m.group(1)
                break
        assert path, proc.stderr.read()
        link = RunnerLink(path)
        yield link
        link.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_runner_performance_and_accuracy_modes(pty_device, tiny_kws, tmp_path):
    dut = pty_device
    assert dut.send("name") == ["m-name-dut-[tinydeploy]", "m-ready"]
    assert dut.send("profile") == ["m-profile-[ULPMark for tinyML Firmware V0.0.1]",
                                   "m-model-[tiny_kws]", "m-ready"]
    assert any(line.startswith("infer N") for line in dut.send("help"))
    cm = compile_model(tiny_kws)
    inp, out = cm.input_tensors[0], cm.output_tensors[0]
    ref = ReferenceInterpreter(tiny_kws)
    rng = np.random.default_rng(9)
    files = [rng.integers(-128, 128, inp.shape).astype(np.int8) for _ in range(5)]
    # performance mode: five windows of one file, `infer N W` each
    elapsed = []
    for _ in range(5):
        assert dut.load(files[0].tobytes()) == ["m-load-done", "m-ready"]
        lines = dut.send("infer 20 2")
        assert lines[:2] == ["m-warmup-start-2", "m-warmup-done"]
        assert lines[2] == "m-infer-start-20" and "m-infer-done" in lines
        laps = [int(ln[len("m-lap-us-"):]) for ln in lines if re.match(r"^m-lap-us-\d+$", ln)]
        assert len(laps) == 2 and laps[1] > laps[0]
        elapsed.append((laps[1] - laps[0]) / 20)
    # accuracy mode: every file, one inference, no warm-up; results as the reference API prints
    for x in files:
        dut.load(x.tobytes())
        lines = dut.send("infer 1 0")
        results = next(ln for ln in lines if ln.startswith("m-results-["))
        expected = _truncated(ref.run([x])[0], out.scale0, out.zp0)
        assert results == "m-results-[" + ",".join(expected) + "]"
    # the runner's microseconds are the board's: equal to bench's, in the same time model
    fw = make_firmware(cm, get_board("qemu-m4"), tmp_path / "fw")
    r = bench(fw, tiny_kws.read_bytes(), files[0][None], runs=0)
    assert abs(np.median(elapsed) - r["latency_ms_median"] * 1000) < 0.02 * np.median(elapsed)


def test_reference_api_details(pty_device):
    """Where firmware tends to differ from the reference API (benchmark/api)."""
    dut = pty_device
    assert dut.send("infer 0 0")[0] == "e-[Inference iterations must be >0]"
    assert dut.send("db")[0] == "e-[Command 'db' requires a subcommand]"
    assert dut.send("db load")[0] == "e-[Command 'db load' requires the # of bytes]"
    assert dut.send("db   load   4")[0] == "m-[Expecting 4 bytes]"  # runs of spaces
    assert dut.send("db abc")[0] == "e-[Insufficent number of hex digits]"
    assert dut.send("db 0102")[0] == "m-ready"
    assert dut.send("db 030405")[0] == "m-load-done"  # bytes past a full buffer are ignored
    assert dut.send("db print") == ["m-buffer-01-02-03-04", "m-ready"]
    lines = dut.send("infer")  # defaults: 1 inference after 10 warm-ups
    assert lines[0] == "m-warmup-start-10" and "m-infer-start-1" in lines
    assert dut.send("timestamp")[0].startswith("m-lap-us-")
