"""`tinydeploy bench` and `flash` as users run them, against QEMU boards."""

import csv
import json
import socket
import subprocess
import sys
import time

import numpy as np

from tinydeploy.cli import main
from tinydeploy.serial_link import DeviceLink


def test_bench_compares_boards_in_one_report(tiny_fc, tmp_path):
    hello = tiny_fc
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for i, v in enumerate((-100, 0, 90)):
        np.array([v], np.int8).tofile(inputs / f"x{i}.bin")
    (inputs / "labels.json").write_text(json.dumps({"x0.bin": 0, "x1.bin": 0, "x2.bin": 0}))
    out = tmp_path / "r"
    rc = main(["bench", str(hello), "--board", "qemu-m4,qemu-m3", "--inputs", str(inputs),
               "--runs", "3", "--json", f"{out}.json", "--csv", f"{out}.csv", "--html",
               f"{out}.html", "--out", str(tmp_path / "fw")])
    assert rc == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["mismatches"] == 0 and report["inputs"] == 6
    assert [r["board"] for r in report["runs"]] == ["qemu-m4", "qemu-m3"]
    for r in report["runs"]:
        assert r["accuracy_device"] == r["accuracy_host_int8"]  # one-output model: argmax 0
        assert r["latency_mlperf_us"] > 0 and r["mlperf_runs"] == 3
        assert r["layers"] and all(lay["instructions"] > 0 for lay in r["layers"])
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    assert [row["board"] for row in rows] == ["qemu-m4", "qemu-m3"]
    assert rows[0]["latency_unit"] == "instructions" and int(rows[0]["latency_median"]) > 0
    page = (tmp_path / "r.html").read_text()
    assert page.count("data:image/png;base64,") == 4  # latency, memory, two layer profiles
    assert "instruction counts, not cycles" in page


def test_uint8_wire_format_for_mlperf_image_models(tiny_image, tmp_path):
    """An image model over the MLPerf image convention: uint8 bytes on the wire, shifted on the
    device."""
    rc = main(["bench", str(tiny_image), "--count", "2", "--runs", "1", "--input-format",
               "uint8_minus_128", "--json", str(tmp_path / "r.json"), "--out", str(tmp_path)])
    assert rc == 0
    assert json.loads((tmp_path / "r.json").read_text())["mismatches"] == 0


def test_flash_starts_qemu_for_simulated_boards(tiny_fc, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "tinydeploy.cli", "flash",
                             str(tiny_fc), "--board", "qemu-m4"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path)
    try:
        url = None
        for line in proc.stdout:
            if "its UART is" in line:
                url = line.split("its UART is ")[1].split()[0]
                break
        assert url and url.startswith("socket://127.0.0.1:")
        with DeviceLink.open(url, timeout=20) as link:
            assert link.info()["model"] == tiny_fc.stem
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    # the emulator went with it: nothing still listens on its UART port
    port = int(url.rsplit(":", 1)[1])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                break
        time.sleep(0.2)
    else:
        raise AssertionError("QEMU outlived `tinydeploy flash`")
