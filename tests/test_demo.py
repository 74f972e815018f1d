"""The whole pipeline, as `tinydeploy demo` runs it, in its quick form."""

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_quick_end_to_end(tmp_path):
    report = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-m", "tinydeploy.cli", "demo", "--quick", "--out",
                           str(tmp_path / "demo"), "--json", str(report)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(report.read_text())
    assert r["mismatches"] == 0 and r["inputs"] == 30
    assert r["accuracy_device"] == r["accuracy_host_int8"]
    assert r["accuracy_host_int8"] > 1 / 12  # better than chance after a few epochs
    assert 0 <= r["accuracy_float"] <= 1
    assert r["latency_unit"] == "instructions" and r["latency_instructions_median"] > 0
    assert r["flash_bytes"] > r["weights_bytes"] and r["ram_bytes"] > r["arena_bytes"] > 0
    card = json.loads((tmp_path / "demo" / "train" / "model_card.json").read_text())
    assert {"accuracy_float", "accuracy_int8", "confusion_matrix_int8", "input"} <= set(card)
    for f in ("train/model.tflite", "train/training_curves.png", "train/confusion_matrix.png",
              "convert/tflm/model_data.c", "convert/aot/td_model.c"):
        assert (tmp_path / "demo" / f).is_file()
    assert "bit-exact" in proc.stdout
