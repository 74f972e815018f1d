"""Training options on the small real digits set: reproducible bytes, pruning, distillation,
quantization-aware training, board-aware sizes and the model card."""

import json

import pytest

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


@pytest.mark.slow
def test_qat_reports_ptq_and_is_bitexact_on_device(tmp_path):
    """QAT's int8 accuracy beside PTQ's, and the QAT model runs bit-exact on a Cortex-M0."""
    from ophelp import assert_qemu_bitexact

    r = train("image", "digits", "small_cnn:8", epochs=3, out_dir=tmp_path, qat=True)
    q = r.card["qat"]
    assert q["epochs"] == 2 and len(q["loss"]) == 2
    for key in ("accuracy_int8_ptq", "accuracy_int8_ptq_same_epochs", "accuracy_int8_qat"):
        assert 0.2 < q[key] <= 1.0, key
    assert q["accuracy_int8_qat"] == r.card["accuracy_int8"]
    assert_qemu_bitexact([r.tflite_path], ("qemu-m0",), count=4)


def test_qat_weights_land_on_the_int8_grid():
    """The exported kernels are the codes the converter writes: per output channel,
    max |w| / 127 apart, so quantizing them again changes nothing."""
    import numpy as np

    from tinydeploy.qat import snap_kernel

    w = np.random.default_rng(0).normal(0, 0.3, (3, 3, 4, 8)).astype(np.float32)
    snapped = snap_kernel(w, (0, 1, 2))
    scale = np.abs(snapped).max(axis=(0, 1, 2)) / 127
    codes = snapped / scale
    assert np.allclose(codes, np.round(codes), atol=1e-4)
    assert np.array_equal(snap_kernel(snapped, (0, 1, 2)), snapped)


@pytest.mark.slow
def test_channel_pruning_pays_on_the_device(tmp_path):
    """Half the filters removed: MACs, weights, arena and the instructions measured in QEMU
    drop, and the pruned model is still bit-exact on a Cortex-M0."""
    from ophelp import assert_qemu_bitexact

    r = train("image", "digits", "ds_cnn:width=16,depth=2", epochs=2, out_dir=tmp_path,
              board="qemu-m0", prune_channels=0.5)
    c = r.card["channel_pruning"]
    before, after = c["before"], c["after"]
    assert set(c["pruned_filters"]) and all(b == 2 * a for b, a in c["pruned_filters"].values())
    assert after["macs"] <= 0.6 * before["macs"]
    assert after["weights_bytes"] < before["weights_bytes"]
    assert after["arena_bytes"] < before["arena_bytes"]
    assert after["instructions"] < 0.75 * before["instructions"]
    assert c["measured_on"] == "qemu-m0" and after["accuracy_int8"] == r.card["accuracy_int8"]
    assert_qemu_bitexact([r.tflite_path], ("qemu-m0",), count=3)


@pytest.mark.slow
def test_unstructured_sparsity_does_not_pay(tmp_path):
    """Magnitude pruning zeroes weights but the int8 kernels still load and multiply them: the
    compiled model has the same MACs and weight bytes, and QEMU measures the same instructions
    within 2% (the card says so)."""
    from tinydeploy.boards import get_board
    from tinydeploy.compiler import compile_model
    from tinydeploy.costmodel import measure

    dense = train("image", "digits", "small_cnn:8", epochs=2, out_dir=tmp_path / "d")
    sparse = train("image", "digits", "small_cnn:8", epochs=2, out_dir=tmp_path / "s", prune=0.6)
    assert "unchanged" in sparse.card["sparsity_note"]
    models = [compile_model(r.tflite_path) for r in (dense, sparse)]
    assert models[0].macs == models[1].macs
    assert models[0].weight_bytes == models[1].weight_bytes
    totals, _ = measure(models, get_board("qemu-m0"), tmp_path / "q")
    assert abs(totals[1] - totals[0]) <= 0.02 * totals[0]
