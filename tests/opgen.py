"""Random single-operator test models, from each operator's generator in the registry
(OpSpec.generate), quantized by TensorFlow (int8, or 16x8 for qtype "int16") or converted as they
are (qtype "float32"), and cached on disk (tests/generated.py)."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np

from generated import cached_tflite
from tinydeploy.ops import get_spec


def _quantize(gen, qtype: str) -> bytes:  # type: ignore[no-untyped-def]
    if gen.tflite is not None:
        return gen.tflite
    import tensorflow as tf

    from tinydeploy.captured_output import captured_output
    from tinydeploy.quantize import _convert

    reps = gen.representative

    def samples():  # type: ignore[no-untyped-def]
        for i in range(len(reps[0])):
            yield [r[i:i + 1] for r in reps]

    with captured_output():
        converter = tf.lite.TFLiteConverter.from_keras_model(gen.keras_model)
        if qtype not in ("int8", "int16"):  # float32 (or int32) tensors, unquantized
            return bytes(converter.convert())
        return _convert(converter, samples, qtype)


def op_model(opcode: str, seed: int, qtype: str = "int8") -> tuple[Path, str]:
    """The .tflite path of a random `opcode` model (seeded) and a description of it."""
    spec = get_spec(opcode)
    assert spec is not None and spec.generate is not None, f"{opcode} has no test generator"
    source = Path(inspect.getfile(spec.generate))
    described: list[str] = []

    def build() -> bytes:
        import keras

        keras.utils.set_random_seed(seed)
        gen = spec.generate(np.random.default_rng(seed), qtype)  # type: ignore[misc]
        described.append(gen.description)
        return _quantize(gen, qtype)

    path = cached_tflite(f"{opcode}-{qtype}-{seed}", build, source)
    note = path.with_suffix(".txt")
    if described:
        note.write_text(described[0])
    return path, note.read_text() if note.is_file() else opcode


def make_model(opcode: str, seed: int, qtype: str = "int8") -> tuple[bytes, str]:
    path, desc = op_model(opcode, seed, qtype)
    return path.read_bytes(), desc
