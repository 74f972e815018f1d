"""The static memory plan: no two live tensors overlap, aliases share storage, arenas are small."""

import pytest

from conftest import REFERENCE_MODELS, shared_model
from generated import MODELS, generated_model
from tinydeploy.compiler import compile_model
from tinydeploy.reference import tflm_arena_bytes


@pytest.mark.parametrize("name", REFERENCE_MODELS + sorted(MODELS))
def test_live_tensors_never_overlap(name):
    cm = compile_model(shared_model(name) if "/" in name else generated_model(name))
    plan, model = cm.plan, cm.model
    roots = list(plan.lifetimes)
    for i, a in enumerate(roots):
        a0, a1 = plan.lifetimes[a]
        sa = model.tensors[a].nbytes
        assert plan.offsets[a] % 16 == 0
        assert plan.offsets[a] + sa <= plan.arena_bytes
        for b in roots[i + 1:]:
            b0, b1 = plan.lifetimes[b]
            if a1 < b0 or b1 < a0:
                continue
            sb = model.tensors[b].nbytes
            oa, ob = plan.offsets[a], plan.offsets[b]
            assert oa + sa <= ob or ob + sb <= oa, f"tensors {a} and {b} overlap while both live"


def test_reshape_aliases_its_input(tiny_kws):
    cm = compile_model(tiny_kws)
    reshape = next(lay for lay in cm.layers if lay.op.opcode == "RESHAPE")
    assert reshape.func is None
    assert cm.plan.offsets[reshape.inputs[0]] == cm.plan.offsets[reshape.outputs[0]]


@pytest.mark.parametrize("name", REFERENCE_MODELS + sorted(MODELS))
def test_arena_at_most_tflm(name):
    path = shared_model(name) if "/" in name else generated_model(name)
    ours = compile_model(path).arena_bytes
    tflm = tflm_arena_bytes(path)
    assert tflm is not None, "the tflite-micro wheel should report its arena"
    assert ours <= tflm


def test_kws01_runs_in_place(kws01):
    """The largest activations are 25x5x64 int8 = 8,000 bytes. Depthwise (through a ring of two
    rows of int16 vertical pixel pairs padded to 7 columns, 2 * 7 * 64 * 4 = 3,584 bytes) and
    pointwise convolutions overwrite their input, so one buffer is enough."""
    cm = compile_model(kws01)
    assert cm.arena_bytes == 8000 + 3584
    for lay in cm.layers:
        if lay.op.opcode in ("DEPTHWISE_CONV_2D", "CONV_2D") and lay.inplace:
            assert cm.plan.offsets[lay.inputs[0]] == cm.plan.offsets[lay.outputs[0]]
    assert sum(lay.inplace for lay in cm.layers) == 8


def test_strided_conv_shares_its_buffer_with_its_input():
    """micro_speech's first layer (49x40x1 -> 25x20x8, stride 2) writes output rows that never
    reach the input rows still to be read, so its input sits 2,240 bytes into its output buffer:
    the arena is below input + output (1,960 + 4,000) and within 0.7x of TFLM's 6,788 bytes."""
    cm = compile_model(shared_model("tflm/micro_speech_quantized"))
    conv = cm.layers[1]
    assert conv.func == "td_conv2d_s8" and conv.overlap == 2240
    x, y = conv.inputs[0], conv.outputs[0]
    assert cm.plan.offsets[x] == cm.plan.offsets[y] + 2240
    assert cm.arena_bytes < 1960 + 4000 and cm.arena_bytes <= 0.7 * 6788


def test_fast_scratch_granted_only_where_the_arena_keeps_its_size(kws01):
    """Quad buffers (convolutions taking pixels four at a time) cost scratch: kws01's pointwise
    layers get theirs inside the arena the depthwise ring already needs, while micro_speech's
    only convolution would grow its arena and keeps the pair path."""
    cm = compile_model(kws01)
    pointwise = {i for i, lay in enumerate(cm.layers) if lay.func == "td_conv1x1_s8"}
    assert len(pointwise) == 4 and pointwise <= cm.plan.fast
    assert cm.arena_bytes == 8000 + 3584 and ".quads = 1" in cm.c.source
    micro = compile_model(shared_model("tflm/micro_speech_quantized"))
    conv = {i for i, lay in enumerate(micro.layers) if lay.fast_scratch}
    assert conv and not conv & micro.plan.fast
    assert micro.arena_bytes == 4560 and ".quads = 1" not in micro.c.source
