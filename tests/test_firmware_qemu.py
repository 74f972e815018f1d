"""Firmware built with PlatformIO, run in QEMU, driven over its UART: real runs, real traffic."""

import numpy as np
import pytest

from conftest import REFERENCE_MODELS, shared_model
from generated import generated_model
from tinydeploy.bench import bench, make_firmware
from tinydeploy.boards import get_board
from tinydeploy.compiler import compile_model
from tinydeploy.errors import TinyDeployError
from tinydeploy.host_runner import HostModel
from tinydeploy.qemu import QemuSession
from tinydeploy.reference import ReferenceInterpreter
from tinydeploy.serial_link import DeviceError, DeviceLink


@pytest.fixture(scope="module")
def kws_firmware(tmp_path_factory, tiny_kws):
    """A keyword spotter with kws01's operators and I/O (490 int8 in, 12 out)."""
    cm = compile_model(tiny_kws)
    return make_firmware(cm, get_board("qemu-m4"), tmp_path_factory.mktemp("fw") / "kws")


@pytest.fixture
def kws_input() -> np.ndarray:
    return np.random.default_rng(11).integers(-128, 128, (1, 49, 10, 1)).astype(np.int8)


@pytest.fixture
def kws_link(kws_firmware):
    with QemuSession(kws_firmware.board, kws_firmware.build.elf) as q:
        link = DeviceLink.open(q.url, alive=q.check_alive, timeout=30)
        yield link
        link.close()


def test_build_measures_flash_and_ram(kws_firmware):
    b = kws_firmware.build
    assert b.elf.is_file() and b.bin.is_file()
    weights = kws_firmware.compiled.weight_bytes
    # weights plus a small engine (its unrolled assembly loops included)
    assert weights < b.flash_bytes < weights + 40 * 1024
    assert kws_firmware.compiled.arena_bytes < b.ram_bytes < 64 * 1024


def test_mlperf_protocol(kws_link, kws_input):
    assert kws_link.command("name") == ["m-name-dut-[tinydeploy]"]
    assert kws_link.command("profile") == ["m-profile-[ULPMark for tinyML Firmware V0.0.1]",
                                           "m-model-[tiny_kws]"]
    assert kws_link.command("db load 490") == ["m-[Expecting 490 bytes]"]
    data = kws_input.tobytes()
    for i in range(0, 490, 31):
        last = kws_link.command("db " + data[i:i + 31].hex())
    assert last == ["m-load-done"]
    printed = kws_link.command("db print")
    assert printed[0] == "m-buffer-" + "-".join(f"{b:02x}" for b in data[:8])
    us, results = kws_link.mlperf_infer(runs=2, warmup=1)
    assert us > 0 and len(results) == 12
    assert kws_link.command("results")[0].startswith("m-results-[")
    assert abs(sum(results) - 1.0) < 0.05


def test_device_output_is_bit_exact(kws_link, kws_firmware, kws_input):
    host = HostModel(kws_firmware.compiled)
    rng = np.random.default_rng(3)
    inputs = [kws_input] + [rng.integers(-128, 128, (1, 49, 10, 1)).astype(np.int8)
                              for _ in range(3)]
    ticks = []
    for x in inputs:
        kws_link.load_input(x.tobytes())
        inf = kws_link.infer()
        np.testing.assert_array_equal(np.frombuffer(inf.output, np.int8),
                                      host.run([x])[0].reshape(-1))
        ticks.append(inf.ticks)
    # under -icount the same code path takes nearly the same count every time
    assert max(ticks) - min(ticks) < 0.01 * max(ticks)
    layers = kws_link.layers()
    assert [n for n, _ in layers][0] == "0:CONV_2D" and len(layers) == 6
    assert sum(t for _, t in layers) <= ticks[-1]


def test_device_reports_errors(kws_link):
    with pytest.raises(DeviceError, match="Unknown command: bogus"):
        kws_link.command("bogus")
    assert kws_link.command("db load 5") == ["m-[Expecting 5 bytes]"]
    with pytest.raises(DeviceError, match="send db load 490"):
        kws_link.command("td-infer")  # our timed inference wants the model's whole input
    with pytest.raises(DeviceError, match="Invalid hex digit 'zz'"):
        kws_link.command("db load 490")
        kws_link.command("db zz")
    assert kws_link.command("name") == ["m-name-dut-[tinydeploy]"]  # still answering


def test_bench_report(kws_firmware, tiny_kws):
    rng = np.random.default_rng(0)
    xs = rng.integers(-128, 128, (3, 1, 49, 10, 1)).astype(np.int8)
    r = bench(kws_firmware, tiny_kws.read_bytes(), xs, labels=np.array([0, 1, 2]))
    assert r["mismatches"] == 0 and r["inputs"] == 3
    assert r["latency_unit"] == "instructions"
    assert r["latency_instructions_min"] <= r["latency_instructions_median"] <= r["latency_instructions_max"]
    assert r["arena_bytes"] == r["arena_bytes_device"] == kws_firmware.compiled.arena_bytes
    assert r["accuracy_device"] == r["accuracy_host_int8"]
    assert r["flash_bytes"] == kws_firmware.build.flash_bytes


@pytest.mark.parametrize("td_board", ["qemu-m0", "qemu-m3", "qemu-m7", "qemu-m33", "qemu-m55"],
                         indirect=True)
def test_every_qemu_board_runs(td_board, td_device, tiny_fc, tiny_kws):
    """The other simulated cores, through the pytest plugin's fixtures, as a user would use them."""
    small = td_board.ram_size < 32 * 1024  # the micro:bit has 16 KB of RAM
    cm = compile_model(tiny_fc if small else tiny_kws)
    link = td_device(cm)
    assert link.info()["board"] == td_board.name
    x = np.random.default_rng(1).integers(-128, 128, cm.input_tensors[0].shape).astype(np.int8)
    link.load_input(x.tobytes())
    out = np.frombuffer(link.infer().output, np.int8)
    np.testing.assert_array_equal(out, HostModel(cm).run([x])[0].reshape(-1))


@pytest.mark.parametrize("name", REFERENCE_MODELS)
def test_reference_models_bitexact_in_qemu(name, td_device):
    """Every reference model, compiled for the Cortex-M4 and run in QEMU, matches TFLite."""
    path = shared_model(name)
    cm = compile_model(path)
    link = td_device(cm)
    ref = ReferenceInterpreter(path)
    for seed in range(2):
        x = np.random.default_rng(seed).integers(-128, 128, cm.input_tensors[0].shape).astype(np.int8)
        link.load_input(x.tobytes())
        assert link.infer().output == ref.run([x])[0].tobytes()


def test_model_too_big_is_refused(tmp_path):
    cm = compile_model(generated_model("big_weights"))
    with pytest.raises(TinyDeployError, match=r"needs about [\d,]+ bytes of flash \([\d,]+ for "
                                              r"weights, [\d,]+ for code\), board qemu-m3 has "
                                              r"262,144"):
        make_firmware(cm, get_board("qemu-m3"), tmp_path / "fw")
    assert not (tmp_path / "fw").exists()  # refused before anything was written
    wide = compile_model(generated_model("wide_activations"))
    with pytest.raises(TinyDeployError, match=rf"needs [\d,]+ bytes of RAM \(arena "
                                              rf"{wide.arena_bytes:,} .*qemu-m0 has 16,384"):
        make_firmware(wide, get_board("qemu-m0"), tmp_path / "fw")
    assert not (tmp_path / "fw").exists()


def test_fit_check_counts_code_too(tmp_path):
    """Weights that fit the flash alone, but not with the firmware's code, are refused before
    anything is written; and where a link fails anyway, ld's own overflow line is shown."""
    import shutil

    from tinydeploy.build import build_project

    cm = compile_model(generated_model("almost_full_flash"))
    board = get_board("qemu-m3")
    assert cm.with_layout("int8").weight_bytes < board.flash_size
    with pytest.raises(TinyDeployError, match=r"for code\), board qemu-m3 has 262,144"):
        make_firmware(cm, board, tmp_path / "fw")
    assert not (tmp_path / "fw").exists()
    fw = make_firmware(compile_model(generated_model("tiny_fc")), board, tmp_path / "ok")
    ld = fw.project / "linker.ld"
    ld.write_text(ld.read_text().replace("LENGTH = 262144", "LENGTH = 2048"))
    shutil.rmtree(fw.project / ".pio")  # SCons does not track the linker script
    with pytest.raises(TinyDeployError, match=r"region `FLASH' overflowed by \d+ bytes"):
        build_project(fw.project, board)


def test_bench_engine_script(tmp_path):
    """The engine yardstick runs, checks outputs on the device and writes its JSON."""
    shared_model("mlperf/ad01")  # the yardstick measures the published models
    import json
    import subprocess
    import sys

    from tinydeploy.paths import ROOT

    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_engine.py"), "--models",
                           "hello_world_int8,ad01", "--json", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {r["model"]: r for r in json.loads(out.read_text())["rows"]}
    ad = rows["mlperf/ad01"]
    assert ad["bit_exact"] and ad["repeatable"]
    assert ad["instructions_per_inference"] > ad["macs"] / 2  # an SMLAD does two MACs
    assert ad["ratio_vs_tflm_cmsis_nn"] == round(ad["instructions_per_inference"] / 580000, 3)
    assert 0 < ad["code_bytes"] < 20000 and ad["arena_bytes"] == 768
    assert "2 of 2 models bit-exact" in proc.stdout


def test_audio_front_end_on_the_device(tiny_kws, tmp_path):
    """Raw audio in, MFCCs computed by the device, inference: equal to the host pipeline
    (numpy MFCC -> int8 quantization -> TFLite)."""
    from tinydeploy import audio
    from tinydeploy.quantize import quantize_inputs

    cm = compile_model(tiny_kws)
    fw = make_firmware(cm, get_board("qemu-m4"), tmp_path / "fw", audio_frontend=True)
    t = np.arange(audio.SAMPLE_RATE) / audio.SAMPLE_RATE
    pcm = (0.3 * np.sin(2 * np.pi * 500 * t) * np.hanning(audio.SAMPLE_RATE) * 32767).astype("<i2")
    inp = cm.input_tensors[0]
    features = quantize_inputs(audio.mfcc(pcm.astype(np.float32) / 32768.0), inp.scale0, inp.zp0)
    expected = ReferenceInterpreter(tiny_kws).run([features.reshape(inp.shape)])[0]
    with QemuSession(fw.board, fw.build.elf) as q:
        with DeviceLink.open(q.url, alive=q.check_alive, timeout=60) as link:
            feature_ticks, inf = link.run_audio(pcm.tobytes())
    assert inf.output == expected.tobytes()
    assert feature_ticks > 0


def test_audio_front_end_needs_mfcc_input(tmp_path, tiny_image):
    cm = compile_model(tiny_image)
    with pytest.raises(TinyDeployError, match="49x10 int8 MFCCs"):
        make_firmware(cm, get_board("qemu-m4"), tmp_path / "fw", audio_frontend=True)


def _odd_shapes_model() -> bytes:
    """Shapes that leave every kernel a tail: reduction lengths and channel counts that are not
    multiples of 4, an odd number of pixels and of filters, a broadcast-free ADD, a depth
    multiplier of 2, a 3x3 depthwise layer on 4 channels over an odd number of rows and columns
    (vertical tap pairs), 1x1 convolutions over 3, 5 and 18 channels (pixels in fours, every
    remainder of groups) and fully connected layers over 9 values."""
    import keras

    from tinydeploy.quantize import quantize_int8

    keras.utils.set_random_seed(3)
    L = keras.layers
    x = keras.Input((11, 9, 3), batch_size=1)
    a = L.Conv2D(5, (3, 2), strides=(2, 1), padding="same", activation="relu")(x)
    b = L.DepthwiseConv2D(3, padding="same")(a)
    c = L.Conv2D(5, 1)(b)
    d = L.Add()([a, c])
    t = L.DepthwiseConv2D(3, padding="same", activation="relu6")(L.Conv2D(4, 1)(x))
    d = L.Concatenate()([d, L.AveragePooling2D((2, 1), padding="same")(t)])
    d = L.Conv2D(7, 1)(L.Concatenate()([d, d]))  # 18 channels: 1 + 4 groups of four pixels
    e = L.DepthwiseConv2D((5, 3), strides=2, depth_multiplier=2)(d)
    f = L.Dense(9, activation="relu")(L.Reshape((-1,))(e))
    y = L.Dense(6)(f)
    reps = np.random.default_rng(0).normal(0, 1, (16, 11, 9, 3))
    return quantize_int8(keras.Model(x, y), reps)


@pytest.mark.parametrize("td_board,weights", [("qemu-m4", "int16"), ("qemu-m4", "int8"),
                                              ("qemu-m3", "auto"), ("qemu-m55", "auto")],
                         indirect=["td_board"])
def test_kernel_tails_bitexact_in_qemu(td_board, weights, td_device):
    """The DSP kernels (both weight layouts), the Helium ones (int8 rows) and the portable ones on
    odd shapes match TFLite."""
    tflite = _odd_shapes_model()
    link = td_device(compile_model(tflite), weights=weights)
    ref = ReferenceInterpreter(tflite)
    for seed in range(3):
        x = np.random.default_rng(seed).integers(-128, 128, (1, 11, 9, 3)).astype(np.int8)
        link.load_input(x.tobytes())
        assert link.infer().output == ref.run([x])[0].tobytes()
