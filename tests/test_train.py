"""Training options on the small real digits set: reproducible bytes, pruning, distillation,
board-aware sizes and the model card."""

import json

import pytest

from tinydeploy.errors import TinyDeployError
from tinydeploy.train import train


def test_same_seed_same_tflite_bytes(tmp_path):
    a = train("image", "digits", "small_cnn:8", epochs=2, out_dir=tmp_path / "a", seed=3)
    b = train("image", "digits", "small_cnn:8", epochs=2, out_dir=tmp_path / "b", seed=3)
    assert a.tflite_path.read_bytes() == b.tflite_path.read_bytes()
    card = json.loads(a.card_path.read_text())
    assert card["accuracy_int8"] > 0.3 and 0 <= card["accuracy_float"] <= 1
    assert card["input"]["dtype"] == "int8" and len(card["confusion_matrix_int8"]) == 10
    assert card["macs"] > 0 and card["arena_bytes"] > 0
    assert (tmp_path / "a" / "training_curves.png").stat().st_size > 1000


def test_pruning_reaches_target_sparsity(tmp_path):
    r = train("image", "digits", "small_cnn:8", epochs=3, out_dir=tmp_path, prune=0.6)
    assert r.card["sparsity"] >= 0.59


def test_distillation_and_board_choice(tmp_path):
    r = train("image", "digits", "small_cnn", epochs=2, out_dir=tmp_path, board="qemu-m0",
              distill_from="small_cnn:32")
    assert r.card["model_spec"] == "small_cnn:64"  # the largest width under 256 KB / 16 KB
    assert "fits qemu-m0" in r.card["board_choice"] and r.card["distilled_from"] == "small_cnn:32"
    assert r.card["arena_bytes"] + 8192 <= 16384


def test_anomaly_task(tmp_path):
    r = train("anomaly", "builtin", epochs=4, out_dir=tmp_path)
    assert r.card["metric"] == "auc" and r.card["auc_int8"] > 0.6


def test_qat_says_why_not():
    with pytest.raises(TinyDeployError, match="tf-keras"):
        train("image", "digits", qat=True)
