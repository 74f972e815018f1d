"""Random single-operator int8 models made with TensorFlow, for property tests of the kernels."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinydeploy.quantize import quantize_int8


def _act(rng: np.random.Generator) -> str | None:
    return [None, "relu", "relu6"][int(rng.integers(3))]


def make_model(kind: str, seed: int) -> tuple[bytes, str]:
    """An int8 .tflite with one `kind` operator of random shape and options, and a description."""
    import keras

    L = keras.layers
    rng = np.random.default_rng(seed)
    keras.utils.set_random_seed(seed)
    h, w, c = int(rng.integers(3, 14)), int(rng.integers(3, 14)), int(rng.integers(1, 9))
    inputs = [keras.Input((h, w, c), batch_size=1, name="in0")]
    desc: dict[str, Any] = {"kind": kind, "hwc": (h, w, c)}
    if kind in ("conv", "depthwise"):
        k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        stride = int(rng.integers(1, 3))
        dil = 1 if stride > 1 or rng.random() < 0.6 else int(rng.integers(1, 3))
        pad = ["same", "valid"][int(rng.integers(2))]
        if pad == "valid":
            k = (min(k[0], h - (k[0] - 1) * (dil - 1)), min(k[1], w - (k[1] - 1) * (dil - 1)))
            k = (max(1, k[0]), max(1, k[1]))
        act = _act(rng)
        if kind == "conv":
            layer = L.Conv2D(int(rng.integers(1, 12)), k, strides=stride, padding=pad,
                             dilation_rate=dil, activation=act)
        else:
            layer = L.DepthwiseConv2D(k, strides=stride, padding=pad, dilation_rate=dil,
                                      depth_multiplier=int(rng.integers(1, 4)), activation=act)
        out = layer(inputs[0])
        desc.update(k=k, stride=stride, dil=dil, pad=pad, act=act)
    elif kind == "dense":
        x = L.Reshape((h * w * c,))(inputs[0])
        act = _act(rng)
        out = L.Dense(int(rng.integers(1, 20)), activation=act)(x)
        desc.update(act=act)
    elif kind in ("avgpool", "maxpool"):
        p = (int(rng.integers(1, min(h, 4) + 1)), int(rng.integers(1, min(w, 4) + 1)))
        s = int(rng.integers(1, 3))
        pad = ["same", "valid"][int(rng.integers(2))]
        cls = L.AveragePooling2D if kind == "avgpool" else L.MaxPooling2D
        out = cls(p, strides=s, padding=pad)(inputs[0])
        desc.update(pool=p, stride=s, pad=pad)
    elif kind in ("add", "mul"):
        broadcast = rng.random() < 0.4
        # named so the calibrator's input order (by name) is the list order, whatever ran before
        inputs.append(keras.Input((1, 1, c) if broadcast else (h, w, c), batch_size=1, name="in1"))
        out = (L.Add() if kind == "add" else L.Multiply())(inputs)
        desc.update(broadcast=broadcast)
    elif kind == "pad":
        pads = ((int(rng.integers(0, 3)), int(rng.integers(0, 3))),
                (int(rng.integers(0, 3)), int(rng.integers(0, 3))))
        y = L.Conv2D(c, 1)(inputs[0])  # gives PAD an int8 producer with its own scale
        out = L.ZeroPadding2D(pads)(y)
        desc.update(pads=pads)
    elif kind == "concat":
        a = L.Conv2D(int(rng.integers(1, 5)), 1)(inputs[0])
        b = L.Conv2D(int(rng.integers(1, 5)), 1)(inputs[0])
        out = L.Concatenate()([a, b])
    elif kind in ("logistic", "tanh", "hard_swish"):
        y = L.Conv2D(c, 1)(inputs[0])
        fn = {"logistic": "sigmoid", "tanh": "tanh", "hard_swish": "hard_swish"}[kind]
        out = L.Activation(fn)(y)
    elif kind == "mean":
        y = L.Conv2D(c, 1)(inputs[0])
        keep = bool(rng.integers(2))
        axis = [(1, 2), (1,), (2,), (3,), (1, 2, 3)][int(rng.integers(5))]
        import tensorflow as tf

        out = L.Lambda(lambda t: tf.reduce_mean(t, axis=axis, keepdims=keep))(y)
        desc.update(axis=axis, keep=keep)
    elif kind == "gap":
        y = L.Conv2D(c, 1)(inputs[0])
        out = L.GlobalAveragePooling2D(keepdims=bool(rng.integers(2)))(y)
    elif kind == "softmax":
        x = L.Reshape((h * w * c,))(inputs[0])
        beta = float(rng.uniform(0.5, 4.0))
        out = L.Softmax()(L.Dense(int(rng.integers(2, 30)))(x) * beta)
        desc.update(beta=beta)
    else:
        raise ValueError(kind)
    model = keras.Model(inputs, out)
    scale = float(rng.uniform(0.5, 4.0))
    reps = [rng.normal(0, scale, (32, *[int(d) for d in i.shape[1:]])).astype(np.float32)
            for i in inputs]
    if len(reps) == 1:
        return quantize_int8(model, reps[0]), str(desc)
    return _quantize_multi(model, reps), str(desc)


def _quantize_multi(model: Any, reps: list[np.ndarray]) -> bytes:
    import tensorflow as tf

    def gen() -> Any:
        for i in range(len(reps[0])):
            yield [r[i:i + 1] for r in reps]

    from tinydeploy.captured_output import captured_output
    from tinydeploy.quantize import _convert

    with captured_output():
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        return _convert(converter, gen)
