"""Weight layouts per layer (issue #16): a mix of int16, int8 and rows weights in one model is
bit-exact, and on a DSP core whose flash cannot hold every layer widened, `weights="auto"` widens
the layers that gain most per extra flash byte, fits, and runs faster than all-int8."""

from __future__ import annotations

import itertools
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ophelp import assert_host_bitexact, reference_cases
from tinydeploy.batch import run_batch
from tinydeploy.bench import layer_weights
from tinydeploy.boards import Board, get_board
from tinydeploy.cli import main
from tinydeploy.compiler import CompiledModel, compile_model, layer_weight_bytes
from tinydeploy.errors import TinyDeployError
from tinydeploy.firmware import fill_knapsack, flash_needed, weights_for_board

# every layout in one model: tiny_image's convolutions are L0 and L1, tiny_kws's L0 and L2 (1x1),
# both classifiers L4
MIX = "int16,L0=int8,L4=rows"


def _extras(cm: CompiledModel) -> dict[str, int]:
    """Flash bytes each weighted layer adds when widened to int16."""
    narrow = dict(cm.with_layout("int8").named_layers)
    return {name: layer_weight_bytes(lay) - layer_weight_bytes(narrow[name])
            for name, lay in cm.with_layout("int16").named_layers if lay.layout}


def _board_with_spare(cm: CompiledModel, spare: int) -> Board:
    """qemu-m4 with just enough flash for all-int8 weights and `spare` bytes more."""
    m4 = get_board("qemu-m4")
    return replace(m4, flash_size=flash_needed([cm.with_layout("int8")], m4).total + spare)


def test_layout_specs_compile_per_layer(tiny_image):
    cm = compile_model(tiny_image, layout="int16,L4=rows,L0=int8,L1=int16")
    assert cm.layout == MIX  # canonical: model order, no entry repeating the default
    assert cm.layer_layouts == {"L0": "int8", "L1": "int16", "L4": "rows"}
    assert cm.layout_mix == "int8 x1, int16 x1, rows x1"
    assert cm is compile_model(tiny_image, layout=MIX)  # one compilation for equal choices
    report = layer_weights(cm)  # what bench --json and bench_engine.py list per layer
    assert [r["weight_layout"] for r in report] == ["int8", "int16", None, None, "rows", None]
    assert sum(r["weights_bytes"] for r in report) == cm.weight_bytes
    sizes = {lay: dict(cm.with_layout(lay).named_layers) for lay in ("int8", "int16", "rows")}
    for name, lay in cm.named_layers:
        assert layer_weight_bytes(lay) == layer_weight_bytes(sizes[lay.layout or "int8"][name])
    with pytest.raises(TinyDeployError, match=r"L2 \(ADD\) of model .* no weights"):
        compile_model(tiny_image, layout="int8,L2=int16")
    with pytest.raises(TinyDeployError, match="model 'tiny_image' has no layer L9"):
        compile_model(tiny_image, layout="int8,L9=int16")
    with pytest.raises(TinyDeployError, match="bad per-layer weight layout 'L1=int4'"):
        compile_model(tiny_image, layout="int8,L1=int4")
    with pytest.raises(TinyDeployError, match="unknown weight layout 'auto,L1=int16'"):
        weights_for_board(cm, get_board("qemu-m4"), "auto,L1=int16")


def test_cli_takes_a_per_layer_layout(tiny_kws, tmp_path, capsys):
    assert main(["convert", str(tiny_kws), "--out", str(tmp_path), "--weights",
                 "int8,L0=int16"]) == 0
    source = (tmp_path / "aot" / "td_model.c").read_text()
    assert "static const int32_t L0_w[" in source and "static const int8_t L2_w[" in source
    assert main(["convert", str(tiny_kws), "--out", str(tmp_path), "--weights",
                 "int8,L1=int16"]) == 2
    assert "L1 (DEPTHWISE_CONV_2D) of model 'tiny_kws'" in capsys.readouterr().err


def test_mixed_layouts_are_bitexact_on_host_and_m4(tiny_image, tiny_kws):
    paths = [tiny_image, tiny_kws]
    assert_host_bitexact(paths, count=4, layout=MIX)
    models, cases, expected = reference_cases(paths, 3, layout=MIX)
    assert {m.layout_mix for m in models} == {"int8 x1, int16 x1, rows x1"}
    with tempfile.TemporaryDirectory(prefix="td-mix-") as work:
        result = run_batch(models, cases, get_board("qemu-m4"), Path(work), weights=MIX)
    for got, want in zip(result.outputs, expected):
        assert [g.tobytes() for g in got] == [w.tobytes() for w in want]


def test_auto_widens_most_macs_per_byte_first(tiny_image):
    """The convolutions' order by MACs per extra byte decides which is widened first; the
    classifier (one MAC per weight) comes last."""
    cm = compile_model(tiny_image)
    extras = _extras(cm)
    macs = {name: lay.macs for name, lay in cm.named_layers if lay.layout}
    best, second, last = sorted(extras, key=lambda n: -macs[n] / extras[n])
    assert last == "L4"
    for spare, widened in ((extras[best] + min(extras[second], extras[last]) - 1, {best}),
                           (extras[best] + extras[second], {best, second}),
                           (0, set())):
        board = _board_with_spare(cm, spare)
        mixed = weights_for_board(cm, board)
        assert {n for n, lay in mixed.layer_layouts.items() if lay == "int16"} == widened
        assert flash_needed([mixed], board).total <= board.flash_size


def test_knapsack_finds_the_best_set_within_the_flash():
    """ad01's shape on 512 KB: two 80 KB layers and six of 16 KB, all saving the same per byte,
    21 KB too many; leaving out two 16 KB layers beats leaving out an 80 KB one, which is what
    widening the best gain per byte first until nothing fits does. And the best set of random
    small cases, by brute force."""
    items = [(80.0, 80), *[(16.0, 16)] * 6, (80.0, 80)]
    got = fill_knapsack(items, 234)
    assert {0, 7} <= set(got) and sum(items[i][1] for i in got) == 224
    rng = np.random.default_rng(0)
    for _ in range(200):
        k = int(rng.integers(1, 7))
        items = [(float(rng.uniform(0, 9)), int(rng.integers(1, 40))) for _ in range(k)]
        cap = int(rng.integers(0, 120))
        got = fill_knapsack(items, cap)
        assert sum(items[i][1] for i in got) <= cap
        best = max(sum(items[i][0] for i in s) for r in range(k + 1)
                   for s in itertools.combinations(range(k), r)
                   if sum(items[i][1] for i in s) <= cap)
        assert sum(items[i][0] for i in got) == pytest.approx(best)
    # large capacities in coarse units: the choice still fits
    big = [(float(s), s) for s in (300_001, 200_003, 99_999, 65_537)]
    assert sum(big[i][1] for i in fill_knapsack(big, 400_000)) <= 400_000


def test_auto_mix_fits_and_beats_int8_on_m4(tiny_image):
    """A board that holds all-int8 weights but not all-int16 ones: auto picks a mix that fits,
    bit-exact, with fewer instructions per inference than all-int8."""
    cm = compile_model(tiny_image)
    extras = _extras(cm)
    board = _board_with_spare(cm, sum(extras.values()) - 1)
    assert flash_needed([cm.with_layout("int16")], board).total > board.flash_size
    mixed = weights_for_board(cm, board)
    assert mixed.layout_mix == "int16 x2, int8 x1"
    models, cases, expected = reference_cases([tiny_image], 3)
    ticks = {}
    for weights in ("auto", "int8"):
        with tempfile.TemporaryDirectory(prefix="td-mix-") as work:
            result = run_batch(models, cases, board, Path(work), weights=weights)
        for got, want in zip(result.outputs, expected):
            assert [g.tobytes() for g in got] == [w.tobytes() for w in want]
        ticks[weights] = sum(result.ticks)
    assert ticks["auto"] < ticks["int8"]


def test_auto_keeps_all_int16_where_it_fits(tiny_image):
    cm = compile_model(tiny_image)
    m4 = get_board("qemu-m4")
    wide = cm.with_layout("int16")
    exact = replace(m4, flash_size=flash_needed([wide], m4).total)
    for board in (m4, exact):
        assert weights_for_board(cm, board) is wide
    assert weights_for_board(cm, get_board("qemu-m3")).layout == "int8"  # no DSP: no gain
    assert weights_for_board(cm, get_board("qemu-m55")).layout == "rows"
