"""Firmware holding several models, and models of any input/output types and counts, in QEMU."""

import json

import numpy as np

from generated import generated_model
from tinydeploy.bench import bench, make_firmware
from tinydeploy.boards import get_board
from tinydeploy.cli import main
from tinydeploy.compiler import compile_model
from tinydeploy.host_runner import HostModel
from tinydeploy.targets import QemuTarget


def test_two_models_in_one_firmware(tiny_kws, tiny_fc, td_device):
    """A keyword spotter and a small regressor in one qemu-m4 image: one arena, a state each;
    `td-model N` selects which one the protocol drives, each bit-exact with its host build."""
    kws, fc = compile_model(tiny_kws), compile_model(tiny_fc)
    link = td_device([kws, fc])
    assert link.command("td-models") == ["m-td-model-0-[tiny_kws]", "m-td-model-1-[tiny_fc]"]
    rng = np.random.default_rng(2)
    for index, cm in ((0, kws), (1, fc), (0, kws)):
        assert link.command(f"td-model {index}") == [f"m-td-model-[{cm.name}]"]
        x = rng.integers(-128, 128, cm.input_tensors[0].shape).astype(np.int8)
        inf = link.run_input(x.tobytes())
        assert inf.output == HostModel(cm).run([x])[0].tobytes()
        assert link.info()["model"] == cm.name
    info = link.info()
    assert info["models"] == "2"
    assert 0 < int(info["stack-used"]) <= int(info["stack-bytes"])


def test_build_command_takes_several_models(tiny_kws, tiny_fc, tmp_path):
    out = tmp_path / "fw"
    assert main(["build", str(tiny_kws), str(tiny_fc), "--out", str(out), "--json",
                 str(tmp_path / "b.json")]) == 0
    r = json.loads((tmp_path / "b.json").read_text())
    assert [m["prefix"] for m in r["models"]] == ["td_model", "td_model1"]
    table = (out / "src" / "td_models.c").read_text()
    assert "&td_model_desc, &td_model1_desc" in table


def test_bench_moves_any_inputs_and_outputs(tmp_path):
    """Two int8 inputs and two outputs; then float32 input and output: the wire carries every
    input's bytes and every output's, and both match the reference bit for bit."""
    board = get_board("qemu-m4")
    two = generated_model("two_in_two_out")
    cm = compile_model(two)
    fw = make_firmware(cm, board, tmp_path / "two")
    rng = np.random.default_rng(5)
    cases = [[rng.integers(-128, 128, (1, 6, 5, 4)).astype(np.int8) for _ in range(2)]
             for _ in range(3)]
    with QemuTarget(board) as target:
        r = bench(fw, two.read_bytes(), cases, target=target, runs=2)
    assert r["mismatches"] == 0 and r["inputs"] == 3
    assert r["inputs_types"] == ["int8", "int8"] and r["outputs_types"] == ["int8", "int8"]
    assert r["latency_instructions_median"] > 0
    assert main(["bench", str(generated_model("float_io")), "--count", "4", "--runs", "2",
                 "--json", str(tmp_path / "f.json"), "--out", str(tmp_path / "fw")]) == 0
    f = json.loads((tmp_path / "f.json").read_text())
    assert f["mismatches"] == 0 and f["inputs_types"] == ["float32"]
    assert f["outputs_types"] == ["float32"] and f["oracle"] == "litert"


def test_stack_is_checked_at_link_time_and_measured_on_the_device(tiny_kws, tmp_path):
    """The call graphs give a worst case the linker layout must hold; the device's painted stack
    gives the high-water mark, which must stay below it."""
    board = get_board("qemu-m4")
    fw = make_firmware(compile_model(tiny_kws), board, tmp_path / "fw")
    assert 256 < fw.build.stack_bytes < fw.build.stack_available
    with QemuTarget(board) as target:
        target.flash(fw.build.elf, fw.project)
        with target.link() as link:
            link.run_input(np.zeros(490, np.int8).tobytes())
            used = int(link.info()["stack-used"])
    assert 0 < used <= fw.build.stack_bytes
