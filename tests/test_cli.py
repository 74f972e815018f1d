"""The command line as a user runs it: real subprocesses, one-line errors, reports on disk."""

import json
import subprocess
import sys

import numpy as np

from tinydeploy.cli import main


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tinydeploy.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=600)


def assert_one_line_error(proc, pattern):
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and pattern in lines[0], proc.stderr


def test_verify_json(kws01, tmp_path):
    out = tmp_path / "verify.json"
    assert main(["verify", str(kws01), "--inputs", "10", "--input",
                 str(kws01.parent / "kws01_input0.bin"), "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["mismatches"] == 0 and r["mismatches_per_output"] == [0] and r["inputs"] == 11
    assert r["arena_bytes"] == 11584 and r["tflm_arena_bytes_host"] == 24272


def test_verify_json_on_a_generated_model(tiny_kws, tmp_path):
    out = tmp_path / "verify.json"
    x = tmp_path / "x.bin"
    np.random.default_rng(0).integers(-128, 128, 490).astype(np.int8).tofile(x)
    assert main(["verify", str(tiny_kws), "--inputs", "5", "--input", str(x), "--json",
                 str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["mismatches"] == 0 and r["inputs"] == 6
    assert 0 < r["arena_bytes"] <= r["tflm_arena_bytes_host"]


def test_convert_writes_both_forms(tiny_kws, tmp_path):
    from tinydeploy.compiler import compile_model

    assert main(["convert", str(tiny_kws), "--out", str(tmp_path / "c")]) == 0
    for f in ("tflm/model_data.h", "tflm/model_data.c", "aot/td_model.h", "aot/td_model.c"):
        assert (tmp_path / "c" / f).is_file()
    header = (tmp_path / "c" / "aot" / "td_model.h").read_text()
    assert f"#define TD_MODEL_ARENA_BYTES {compile_model(tiny_kws).arena_bytes}" in header
    source = (tmp_path / "c" / "aot" / "td_model.c").read_text()
    # 16 filters of 10x4, wide, in 8 blocks of 4 biases, 40 words of weights and 2 records:
    # weights stay const, in flash
    assert "static const int32_t L0_w[400]" in source
    # int8 weights: half the flash, the same arena
    assert main(["convert", str(tiny_kws), "--out", str(tmp_path / "c8"), "--weights", "int8"]) == 0
    source = (tmp_path / "c8" / "aot" / "td_model.c").read_text()
    assert "static const int8_t L0_w[640]" in source


def test_corrupt_model_is_one_line_error(tiny_kws, tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(tiny_kws.read_bytes()[:3000])
    assert_one_line_error(run_cli("verify", bad), "corrupt or truncated")
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"hello, this is not a model at all")
    assert_one_line_error(run_cli("convert", junk, "--out", tmp_path / "o"), "not a TFLite model")


def test_hybrid_model_is_refused_naming_the_node(tmp_path):
    """Float activations with int8 weights (dynamic-range quantization: no representative data;
    the converter quantizes weights of more than 1024 values)."""
    import keras
    import tensorflow as tf

    m = keras.Sequential([keras.Input((64,), batch_size=1), keras.layers.Dense(32)])
    converter = tf.lite.TFLiteConverter.from_keras_model(m)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    path = tmp_path / "hybrid.tflite"
    path.write_bytes(converter.convert())
    proc = run_cli("convert", path, "--out", tmp_path / "o")
    assert_one_line_error(proc, "node 0 (FULLY_CONNECTED)")
    assert "float32" in proc.stderr and "full-integer" in proc.stderr
    assert not (tmp_path / "o").exists()  # nothing written before the check


def test_unsupported_op_is_refused(tmp_path):
    """An operator TFLite Micro has no kernel for either (a legacy hashing op)."""
    from tinydeploy.tflite_writer import Op, T, build

    q = dict(scale=[0.1], zero_point=[0])
    path = tmp_path / "lsh.tflite"
    path.write_bytes(build([T((1, 8), **q), T((1, 8), **q)], [Op("LSH_PROJECTION", [0], [1])],
                          [0], [1]))
    assert_one_line_error(run_cli("verify", path), "operator LSH_PROJECTION is not supported")


def test_foreign_output_folder_is_not_overwritten(tiny_fc, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    assert_one_line_error(run_cli("build", tiny_fc, "--out", out), "was not made by tinydeploy")
    assert (out / "notes.txt").read_text() == "precious"


def test_dead_port_is_one_line_error(tiny_fc, tmp_path):
    """A bad port (or baud rate) is found before anything is built."""
    import os

    env = dict(os.environ, TINYDEPLOY_QUIET="0")
    proc = subprocess.run([sys.executable, "-m", "tinydeploy.cli", "bench", str(tiny_fc),
                           "--port", "/dev/ttyNOPE", "--count", "1", "--out", str(tmp_path / "fw")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert_one_line_error(proc, "cannot open serial port /dev/ttyNOPE")
    assert "building" not in proc.stderr and not (tmp_path / "fw").exists()
    proc = run_cli("bench", tiny_fc, "--port", "/dev/null", "--baud", "4000000000",
                   "--out", tmp_path / "fw")
    assert_one_line_error(proc, "cannot open serial port /dev/null")


def test_help_teaches():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for cmd in ("demo", "train", "tune", "quantize", "convert", "build", "bench", "flash",
                "boards", "verify"):
        assert cmd in proc.stdout


def test_real_board_without_port_names_the_problem(tiny_fc, tmp_path):
    proc = run_cli("bench", tiny_fc, "--board", "nucleo-f446re",
                   "--count", "1", "--out", tmp_path)
    assert_one_line_error(proc, "no board found on USB serial ports")


def test_flash_real_board_names_the_missing_tool(tiny_fc, tmp_path):
    import shutil

    import pytest

    if shutil.which("openocd"):
        pytest.skip("openocd is installed here: the missing-tool path cannot be shown")
    proc = run_cli("flash", tiny_fc, "--board", "nucleo-f446re",
                   cwd=tmp_path)
    assert_one_line_error(proc, "openocd not found: nucleo-f446re is flashed with it")


def test_bad_user_files_are_one_line_errors(tiny_fc, tmp_path):
    hello = tiny_fc
    inputs = tmp_path / "in"
    inputs.mkdir()
    np.array([1], np.int8).tofile(inputs / "a.bin")
    (inputs / "labels.json").write_text("{not json")
    assert_one_line_error(run_cli("bench", hello, "--inputs", inputs, "--out", tmp_path / "fw"),
                          "labels.json: not valid JSON")
    (tmp_path / "m.keras").write_bytes(b"junk")
    np.save(tmp_path / "x.npy", np.zeros((2, 4), np.float32))
    assert_one_line_error(run_cli("quantize", tmp_path / "m.keras", "--data", tmp_path / "x.npy",
                                  "--out", tmp_path / "q.tflite"), "cannot read")
    assert_one_line_error(run_cli("convert", hello, "--out", "/proc/forbidden/out"),
                          "check the path, its permissions")
