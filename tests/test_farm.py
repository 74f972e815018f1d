"""The board farm on labgrid, end to end on this machine: a real labgrid-coordinator and a real
labgrid-exporter (with ser2net) on 127.0.0.1, two simulated qemu-m4 places (`tinydeploy farm
simulate`), and `tinydeploy bench --place/--places` through them.

Everything listens on 127.0.0.1 only (the exporter's ser2net through a shim that binds it there)
and every process stops with the fixture, or with pytest itself where pytest is killed.
"""

from __future__ import annotations

import csv
import importlib.metadata
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import serial

from tinydeploy.boards import get_board
from tinydeploy.child_process import die_with_parent
from tinydeploy.cli import main
from tinydeploy.errors import TinyDeployError
from tinydeploy.farm import client_env, exporter_config, openocd_commands
from tinydeploy.qemu import free_port

PLACES = ("qemu-a", "qemu-b")
# ser2net as labgrid's exporter starts it, listening on 127.0.0.1 only, and ending with the
# exporter (parent-death signal) even where the exporter is killed
SER2NET_SHIM = """#!/bin/sh
for a in "$@"; do
  case "$a" in *"accepter: telnet(rfc2217,mode=server),tcp,"*)
    a=$(printf '%s' "$a" | sed 's/,tcp,/,tcp,127.0.0.1,/');; esac
  set -- "$@" "$a"; shift
done
exec setpriv --pdeathsig TERM "$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v ser2net)" "$@"
"""


class Lab:
    """The farm's processes and what the tests ask of them."""

    def __init__(self, root: Path, shm: Path) -> None:
        self.root, self.shm = root, shm
        self.coordinator = f"127.0.0.1:{free_port()}"
        self.flash_ports = {name: free_port() for name in PLACES}
        self.procs: list[subprocess.Popen[bytes]] = []
        shim = root / "bin"
        shim.mkdir()
        (shim / "ser2net").write_text(SER2NET_SHIM)
        (shim / "ser2net").chmod(0o755)
        self.env = dict(os.environ, PATH=f"{shim}{os.pathsep}{os.environ['PATH']}")

    def start(self, name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        """A child with its own process group (so the exporter's ser2net goes with it), logged
        to ROOT/NAME.log, dying with this process."""
        log = open(self.root / f"{name}.log", "wb")
        proc = subprocess.Popen(cmd, cwd=self.root, env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, preexec_fn=die_with_parent)
        log.close()
        self.procs.append(proc)
        return proc

    def lg(self, *args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
        """labgrid's own client, as this user or as another one."""
        env = dict(self.env, **({"LG_USERNAME": user} if user else {}))
        return subprocess.run([sys.executable, "-m", "labgrid.remote.client", "-x",
                               self.coordinator, *args], env=env, capture_output=True,
                              text=True, timeout=60)

    def holder(self, place: str) -> str | None:
        """Who holds the place, as labgrid-client tells it."""
        out = self.lg("-p", place, "show").stdout
        line = next((ln for ln in out.splitlines() if ln.strip().startswith("acquired:")), "")
        value = line.split(":", 1)[1].strip() if line else "None"
        return None if value == "None" else value

    def status(self, place: str) -> dict:
        url = f"http://127.0.0.1:{self.flash_ports[place]}/status"
        with urllib.request.urlopen(url, timeout=5) as answer:
            return json.loads(answer.read())

    def stop(self) -> None:
        for proc in reversed(self.procs):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            try:  # whatever of its group outlived it (ser2net, QEMU)
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _wait_for(what: str, check, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if shutil.which("ser2net") is None and not Path("/usr/sbin/ser2net").exists():
        pytest.skip("ser2net is not installed (scripts/setup.sh installs it)")
    shm = Path(tempfile.mkdtemp(prefix="tinydeploy-farm-test-", dir="/dev/shm"))
    lab = Lab(tmp_path_factory.mktemp("farm"), shm)
    try:
        lab.start("coordinator", [sys.executable, "-m", "labgrid.remote.coordinator", "-l",
                                  lab.coordinator])
        board = get_board("qemu-m4")
        config = ""
        for name in PLACES:
            port = lab.flash_ports[name]
            lab.start(name, [sys.executable, "-m", "tinydeploy.cli", "farm", "simulate",
                             "--board", "qemu-m4", "--place", name, "--listen",
                             f"127.0.0.1:{port}", "--link", str(shm / name / "uart")])
            config += exporter_config(board, name, simulator=f"127.0.0.1:{port}",
                                      link=shm / name / "uart", exporter="td-test")
        (lab.root / "exporter.yaml").write_text(config)
        lab.start("exporter", [sys.executable, "-m", "labgrid.remote.exporter", "-c",
                               lab.coordinator, "-n", "td-test", "--hostname", "127.0.0.1",
                               str(lab.root / "exporter.yaml")])
        _wait_for("the exporter's resources",
                  lambda: all(f"td-test/{n}/" in lab.lg("resources").stdout for n in PLACES))
        for name in PLACES:
            for cmd in (["create"], ["add-match", f"td-test/{name}/*"],
                        ["set-tags", "board=qemu-m4"]):
                done = lab.lg("-p", name, *cmd)
                assert done.returncode == 0, done.stderr
            _wait_for(f"{name}'s flash service", lambda n=name: lab.status(n)["board"])
        yield lab
    finally:
        lab.stop()
        shutil.rmtree(shm, ignore_errors=True)


def _report(path: Path) -> dict:
    return json.loads(path.read_text())


def test_serial_module_is_labgrids_fork():
    """PlatformIO's pyserial and labgrid's fork install the same files: the fork's are in place."""
    assert serial.__version__ == importlib.metadata.version("pyserial-labgrid")


def test_exporter_config_and_env_come_from_board_files():
    import yaml

    nucleo = get_board("nucleo-f446re")
    config = yaml.safe_load(exporter_config(nucleo, "n1", serial="/dev/ttyACM0", probe="0670FF"))
    assert config == {"n1": {"RawSerialPort": {"port": "/dev/ttyACM0", "speed": 115200},
                             "USBDebugger": {"match": {"ID_SERIAL_SHORT": "0670FF"}}}}
    drivers = client_env(nucleo, "n1")["targets"]["n1"]["drivers"]
    assert drivers["OpenOCDDriver"]["load_commands"] == [
        "source [find interface/stlink.cfg]", "source [find target/stm32f4x.cfg]",
        "program {filename} verify reset exit"]
    nrf = openocd_commands(get_board("nrf52840-dk"))
    assert nrf[:2] == ["source [find interface/jlink.cfg]", "transport select swd"]
    qemu = get_board("qemu-m4")
    sim = yaml.safe_load(exporter_config(qemu, "q", simulator="lab1:7000"))["q"]
    assert sim["NetworkQemuFlash"] == {"host": "lab1", "port": 7000}
    assert sim["RawSerialPort"]["port"].startswith("/dev/shm/")
    assert client_env(qemu, "q")["imports"] == ["tinydeploy.labgrid_qemu"]
    with pytest.raises(TinyDeployError, match="picotool, not OpenOCD"):
        exporter_config(get_board("rpi-pico"), "p", serial="/dev/ttyACM0")
    with pytest.raises(TinyDeployError, match="needs --serial"):
        exporter_config(nucleo, "n1")


def test_bench_on_a_place_equals_local_bench(lab, tiny_fc, tmp_path):
    args = [str(tiny_fc), "--count", "5", "--runs", "2", "--out", str(tmp_path / "fw")]
    assert main(["bench", *args, "--json", str(tmp_path / "local.json")]) == 0
    assert main(["bench", *args, "--place", "qemu-a", "--coordinator", lab.coordinator,
                 "--json", str(tmp_path / "farm.json")]) == 0
    local, farm = _report(tmp_path / "local.json"), _report(tmp_path / "farm.json")
    assert farm["mismatches"] == 0 and farm["inputs"] == 5 and farm["place"] == "qemu-a"
    for key in ("flash_bytes", "arena_bytes_device"):
        assert farm[key] == local[key], key
    # SysTick counts 40 instructions a tick on this machine, and where a run starts within a tick
    # depends on how long the firmware polled its UART (host timing): a latency may differ by a
    # tick, as between local runs
    tick = 1e9 / get_board("qemu-m4").clock_hz
    for key in ("latency_instructions_min", "latency_instructions_median",
                "latency_instructions_max"):
        assert abs(farm[key] - local[key]) <= tick, key
    assert [x["layer"] for x in farm["layers"]] == [x["layer"] for x in local["layers"]]
    for f, loc in zip(farm["layers"], local["layers"]):
        assert abs(f["instructions"] - loc["instructions"]) <= tick
    assert lab.holder("qemu-a") is None


def test_matrix_runs_on_both_places_at_once_and_merges(lab, tiny_fc, tiny_kws, tmp_path):
    out = tmp_path / "m"
    assert main(["bench", str(tiny_fc), str(tiny_kws), "--places", "board=qemu-m4",
                 "--coordinator", lab.coordinator, "--count", "8", "--runs", "2",
                 "--out", str(tmp_path / "fw"), "--json", f"{out}.json", "--csv", f"{out}.csv",
                 "--html", f"{out}.html"]) == 0
    report = _report(Path(f"{out}.json"))
    runs = report["runs"]
    assert [r["model"] for r in runs] == [tiny_fc.stem, tiny_kws.stem]
    assert report["mismatches"] == 0 and report["inputs"] == 16
    assert {r["place"] for r in runs} == set(PLACES)
    a, b = runs
    assert a["started"] < b["started"] + b["seconds"] and b["started"] < a["started"] + a["seconds"]
    rows = list(csv.DictReader(open(f"{out}.csv")))
    assert sorted(row["place"] for row in rows) == sorted(PLACES)
    assert Path(f"{out}.html").read_text().count("data:image/png;base64,") == 4
    assert all(lab.holder(p) is None for p in PLACES)


def test_a_place_killed_mid_run_is_retried_on_the_other(lab, tiny_kws, tmp_path):
    killed: list[str] = []
    before = {lab.status(place)["pid"] for place in PLACES}

    def kill_the_first_running_qemu() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for place in PLACES:
                pid = lab.status(place)["pid"]
                if pid and pid not in before:
                    time.sleep(1.0)  # mid-run: flashed, streaming inputs
                    os.kill(pid, signal.SIGKILL)
                    killed.append(place)
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_the_first_running_qemu, daemon=True)
    killer.start()
    assert main(["bench", str(tiny_kws), "--places", ",".join(PLACES), "--coordinator",
                 lab.coordinator, "--count", "20", "--runs", "2", "--out", str(tmp_path / "fw"),
                 "--json", str(tmp_path / "r.json")]) == 0
    killer.join(timeout=10)
    report = _report(tmp_path / "r.json")
    assert len(killed) == 1 and report["mismatches"] == 0 and report["inputs"] == 20
    assert [f["place"] for f in report["failed_places"]] == killed
    assert report["place"] != killed[0]
    assert all(lab.holder(p) is None for p in PLACES)


def test_a_place_held_by_another_client_is_a_clear_error(lab, tiny_fc, tmp_path, capsys):
    done = lab.lg("-p", "qemu-b", "acquire", user="alice")
    assert done.returncode == 0, done.stderr
    try:
        args = ["bench", str(tiny_fc), "--place", "qemu-b", "--coordinator", lab.coordinator,
                "--count", "2", "--out", str(tmp_path / "fw")]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert "place qemu-b is held by" in err and "/alice" in err and "--wait" in err
        started = time.monotonic()
        assert main([*args, "--wait", "2"]) == 2
        assert time.monotonic() - started >= 2
        assert "/alice" in capsys.readouterr().err
    finally:
        lab.lg("-p", "qemu-b", "release", user="alice")
    assert lab.holder("qemu-b") is None


def _interruptible() -> None:
    """The child as a terminal starts it: Ctrl-C's signal at its default. A shell that runs the
    suite in the background (`... &`) ignores SIGINT, the children inherit that, and Python then
    never raises KeyboardInterrupt."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_releases_the_place(lab, tiny_kws, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "tinydeploy.cli", "bench", str(tiny_kws),
                             "--place", "qemu-a", "--coordinator", lab.coordinator, "--count",
                             # streaming takes far longer than the test waits, whatever the load
                             "5000", "--out", str(tmp_path / "fw")], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=_interruptible)
    try:
        _wait_for("the run to reach the board", lambda: lab.status("qemu-a")["pid"], 180)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        proc.kill()
        proc.wait()
    assert lab.holder("qemu-a") is None
