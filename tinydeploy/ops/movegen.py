"""Test-model helpers the data-movement families share (their OpSpec.generate functions): a
Keras model around one TensorFlow op in a Lambda layer, converted by the tests' full-int8 path, and
a model written directly (tflite_writer) for what the converter folds away or never emits (SHAPE
and ZEROS_LIKE of static shapes, EXPAND_DIMS, which it turns into RESHAPE, non-int8 types)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinydeploy.ops.base import GeneratedOp

# the lowest version LiteRT registers, where it is not 1
VERSIONS = {"BROADCAST_TO": 2}
QUANT = {"int8": ([0.05], [3]), "int16": ([0.002], [0]), "uint8": ([0.05], [128])}


def lambda_model(description: str, shapes: Sequence[tuple[int, ...]],
                 fn: Callable[..., Any], rng: np.random.Generator,
                 scale: float = 2.0) -> GeneratedOp:
    """Inputs of `shapes` (batch 1 included) -> one Lambda(fn) -> the model's output(s)."""
    import keras

    ins = [keras.Input(s[1:], batch_size=s[0], name=f"in{i}") for i, s in enumerate(shapes)]
    out = keras.layers.Lambda(lambda t: fn(*t) if isinstance(t, (list, tuple)) else fn(t))(
        ins if len(ins) > 1 else ins[0])
    reps = [rng.normal(0, scale, (32, *s[1:])).astype(np.float32) for s in shapes]
    return GeneratedOp(description, keras.Model(ins, out), reps)


def tensor(shape: Sequence[int], dtype: str, data: np.ndarray | None = None) -> Any:
    """A tflite_writer tensor, quantized where the type is (int8/int16/uint8 activations)."""
    from tinydeploy.tflite_writer import T

    if data is not None:
        return T(tuple(shape), dtype, np.asarray(data, dtype))
    scale, zp = QUANT.get(dtype, (None, None))
    return T(tuple(int(d) for d in shape), dtype, scale=scale, zero_point=zp)


def single_op(opcode: str, inputs: Sequence[tuple[Sequence[int], str, np.ndarray | None]],
              outputs: Sequence[tuple[Sequence[int], str]], options: str | None = None,
              **values: Any) -> bytes:
    """A one-node model: inputs as (shape, type, constant data or None for a graph input),
    outputs as (shape, type); options by the schema's table name and camelCase field values."""
    from tinydeploy.tflite_writer import Op, build, pack, unpack

    tensors = [tensor(s, t, d) for s, t, d in inputs] + [tensor(s, t) for s, t in outputs]
    graph_in = [i for i, (_, _, d) in enumerate(inputs) if d is None]
    outs = list(range(len(inputs), len(tensors)))
    data = build(tensors, [Op(opcode, list(range(len(inputs))), outs, options, dict(values))],
                 graph_in, outs)
    if opcode not in VERSIONS:
        return data
    model = unpack(data)
    model.operatorCodes[0].version = VERSIONS[opcode]
    return pack(model)
