"""The fault campaign in CI (tinydeploy/fuzz.py): seeded mutants of generated models and, where
present, the published ones, through the compiler and the generated C built with ASan, UBSan and
write checks. Zero crashes, findings and silent mismatches."""

from conftest import shared_model_if_present
from generated import generated_model
from opgen import op_model
from tinydeploy.fuzz import run_campaign


def test_mutants_are_refused_or_bit_exact():
    sources = {n: generated_model(n).read_bytes()
               for n in ("tiny_fc", "tiny_kws", "tiny_image", "two_in_two_out", "float_io")}
    for opcode in ("SOFTMAX", "MEAN", "HARD_SWISH", "PAD", "CONCATENATION", "LOGISTIC", "ADD",
                   "MAX_POOL_2D", "DEPTHWISE_CONV_2D"):
        sources[opcode] = op_model(opcode, 1)[0].read_bytes()
    for name in ("mlperf/kws01", "tflm/hello_world_int8", "tflm/micro_speech_quantized"):
        p = shared_model_if_present(name)
        if p is not None:
            sources[name] = p.read_bytes()
    result = run_campaign(sources, count=300, seed=7)
    assert not result.crashes, result.crashes[0]
    assert not result.findings, result.findings[0]
    assert not result.mismatches, result.mismatches[:5]
    assert result.counts["refused"] > 50 and result.counts["accepted"] > 50, result.counts
