"""tinydeploy tune on scikit-learn's digits for qemu-m0 (16 KB of RAM), with a small budget: the
result fits the board, every candidate's arena and weights are what `tinydeploy convert` reports
for its .tflite, the finalists' QEMU latency is within the cost model's stated error, and the
search resumes from its study."""

from __future__ import annotations

import json

import pytest

from tinydeploy.boards import get_board
from tinydeploy.cli import main
from tinydeploy.compiler import compile_model
from tinydeploy.errors import TinyDeployError
from tinydeploy.firmware import check_fits, ram_needed, weights_for_board
from tinydeploy.tune import TuneConfig, tune

CONFIG = dict(task="image", dataset="digits", board="qemu-m0", trials=4, proxy_epochs=2,
              epochs=3, finalists=2, calibration_models=8)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    out = tmp_path_factory.mktemp("tune")
    return out, tune(TuneConfig(**CONFIG), out)


@pytest.mark.slow
def test_result_fits_qemu_m0(tuned):
    out, r = tuned
    board = get_board("qemu-m0")
    model = weights_for_board(compile_model(r.tflite_path), board)
    check_fits(model, board)
    assert ram_needed(model) <= 16 * 1024
    assert r.card["tune"]["chosen"]["model_spec"] == r.report["chosen"]["model_spec"]
    assert r.card["accuracy_int8"] > 0.2 and r.card["input_features"]
    assert (out / "tradeoffs.png").stat().st_size > 5000
    assert json.loads((out / "tune_report.json").read_text())["search"]["trained"] == 4


@pytest.mark.slow
def test_every_candidate_as_convert_reports_it(tuned, tmp_path, capsys):
    out, r = tuned
    compiled = [c for c in r.report["candidates"] if c["tflite"]]
    assert len(compiled) >= CONFIG["trials"]
    for c in compiled:
        report = tmp_path / f"{c['trial']}.json"
        assert main(["convert", str(out / c["tflite"]), "--out", str(tmp_path / "c"),
                     "--weights", c["layout"], "--json", str(report)]) == 0
        converted = json.loads(report.read_text())
        assert (converted["arena_bytes"], converted["weights_bytes"]) == \
            (c["arena_bytes"], c["weights_bytes"]), c["model_spec"]
    capsys.readouterr()


@pytest.mark.slow
def test_finalists_within_the_stated_error(tuned):
    _, r = tuned
    error = r.report["cost_model"]["stated_error"]
    assert 0 < error <= 0.25
    for f in r.report["finalists"]:
        measured, est = f["latency_instructions_measured"], f["latency_instructions_est"]
        assert abs(est - measured) <= error * measured, f
        assert f["within_stated_error"]


@pytest.mark.slow
def test_resume_trains_nothing_again(tuned):
    out, r = tuned
    again = tune(TuneConfig(**CONFIG), out)
    assert again.report["search"]["trials_drawn"] == r.report["search"]["trials_drawn"]
    assert again.report["chosen"]["model_spec"] == r.report["chosen"]["model_spec"]


def test_other_options_refused_on_resume(tmp_path):
    (tmp_path / "tune_config.json").write_text(json.dumps({**CONFIG, "seed": 0, "size": "default",
                                                           "max_latency_ms": None,
                                                           "max_arena_kb": None,
                                                           "families": None, "qat": False}))
    with pytest.raises(TinyDeployError, match="other board"):
        tune(TuneConfig(**{**CONFIG, "board": "qemu-m4"}), tmp_path)


def test_space_draws_and_views_inputs():
    """The same seed draws the same candidates; each task's input choices give the shapes the
    candidate's model takes."""
    import numpy as np

    from tinydeploy import space
    from tinydeploy.datasets.base import Dataset, Split

    draws = [space.sample(space.RandomChooser(7), "kws", (49, 10, 1)) for _ in range(2)]
    assert draws[0] == draws[1] and draws[0].family in space.FAMILIES["kws"]
    x = np.zeros((3, 49, 10, 1), np.float32)
    assert space.transform(x, "kws", {"coeffs": 8, "frame_step": 2}).shape == (3, 25, 8, 1)
    assert space.transform(np.zeros((3, 200)), "anomaly", {"frames": 3}).shape == (3, 120)
    assert space.input_options("image", (8, 8, 1)) == {"size": [[8, 8], [6, 6]]}
    assert space.input_options("image", (32, 32, 3)) == {"size": [[32, 32], [24, 24], [16, 16]]}
    ds = Dataset("d", ["a"], Split(x, np.zeros(3, np.int64)), Split(x, np.zeros(3, np.int64)),
                 Split(x, np.zeros(3, np.int64)))
    viewed = space.transform_dataset(ds, "kws", {"coeffs": 6, "frame_step": 1})
    assert viewed.input_shape == (49, 6, 1) and viewed.view(x).shape == (3, 49, 6, 1)
    assert space.transform_dataset(ds, "kws", {"coeffs": 10, "frame_step": 1}) is ds
