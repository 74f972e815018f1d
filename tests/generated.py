"""Small int8 models the tests make themselves, so a clone without ../shared can test everything
that is not about one published model. Each is built with TensorFlow once and kept on disk, keyed by
TensorFlow's version and this file's text: the same bytes for every test and every later run."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tinydeploy.toolchain import cache_dir


def cached_tflite(key: str, build: Callable[[], bytes], *sources: Path) -> Path:
    """The .tflite `build()` makes, from the cache when TensorFlow, `key` and the generator's
    source files (this file plus `sources`) are unchanged."""
    import tensorflow as tf

    h = hashlib.sha256(tf.__version__.encode())
    for src in (Path(__file__), *sources):
        h.update(src.read_bytes())
    path = cache_dir() / "test-models" / h.hexdigest()[:12] / f"{key}.tflite"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        data = build()
        tmp = path.with_suffix(f".tmp{id(data)}")
        tmp.write_bytes(data)
        tmp.replace(path)  # atomic: parallel sessions never read half a file
    return path


def _quantize(model, shape: tuple[int, ...], seed: int) -> bytes:
    from tinydeploy.quantize import quantize_int8

    return quantize_int8(model, np.random.default_rng(seed).normal(0, 1, (32, *shape)))


def _tiny_fc() -> bytes:
    """hello_world's shape: 1 -> 16 -> 16 -> 1 fully connected with ReLUs."""
    import keras

    keras.utils.set_random_seed(1)
    L = keras.layers
    m = keras.Sequential([keras.Input((1,), batch_size=1), L.Dense(16, activation="relu"),
                          L.Dense(16, activation="relu"), L.Dense(1)])
    return _quantize(m, (1,), 1)


def _tiny_kws() -> bytes:
    """A small DS-CNN on 49x10 MFCCs with kws01's operators: CONV_2D, DEPTHWISE_CONV_2D,
    AVERAGE_POOL_2D, RESHAPE, FULLY_CONNECTED, SOFTMAX (the converter folds a reshape in front of
    a fully connected layer into it, so this one reshapes the classifier's output)."""
    import keras

    keras.utils.set_random_seed(2)
    L = keras.layers
    x = keras.Input((49, 10, 1), batch_size=1)
    y = L.Conv2D(16, (10, 4), strides=2, padding="same", activation="relu")(x)
    y = L.DepthwiseConv2D(3, padding="same", activation="relu")(y)
    y = L.Conv2D(16, 1, activation="relu")(y)
    y = L.Dense(12)(L.AveragePooling2D((25, 5))(y))
    y = L.Reshape((12,))(y)
    return _quantize(keras.Model(x, L.Softmax()(y)), (49, 10, 1), 2)


def _tiny_image() -> bytes:
    """A small residual image classifier on 32x32x3 (ic01's operators, ADD included)."""
    import keras

    keras.utils.set_random_seed(3)
    L = keras.layers
    x = keras.Input((32, 32, 3), batch_size=1)
    a = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    b = L.Conv2D(8, 3, padding="same")(a)
    y = L.Activation("relu")(L.Add()([a, b]))
    y = L.AveragePooling2D(16)(y)
    y = L.Dense(10)(L.Reshape((8,))(y))
    return _quantize(keras.Model(x, L.Softmax()(y)), (32, 32, 3), 3)


def _wide_activations() -> bytes:
    """Activations of 24 KB (48x64x8 int8): more than a Cortex-M0 micro:bit's 16 KB of RAM."""
    import keras

    keras.utils.set_random_seed(4)
    L = keras.layers
    m = keras.Sequential([keras.Input((48, 64, 8), batch_size=1),
                          L.Conv2D(8, 3, padding="same", activation="relu"), L.Conv2D(8, 1)])
    return _quantize(m, (48, 64, 8), 4)


def _big_weights() -> bytes:
    """327,680 bytes of int8 weights (640 -> 512): more than a Cortex-M3 lm3s6965's 256 KB flash."""
    import keras

    keras.utils.set_random_seed(5)
    m = keras.Sequential([keras.Input((640,), batch_size=1), keras.layers.Dense(512)])
    return _quantize(m, (640,), 5)


def _two_in_two_out() -> bytes:
    """Two inputs, two outputs: an ADD of both inputs, and a convolution of the first."""
    import keras

    from tinydeploy.captured_output import captured_output
    from tinydeploy.quantize import _convert
    import tensorflow as tf

    keras.utils.set_random_seed(6)
    L = keras.layers
    a = keras.Input((6, 5, 4), batch_size=1, name="in0")
    b = keras.Input((6, 5, 4), batch_size=1, name="in1")
    m = keras.Model([a, b], [L.Add()([a, b]), L.Conv2D(3, 3, padding="same")(a)])
    rng = np.random.default_rng(6)
    reps = [rng.normal(0, 1, (32, 6, 5, 4)).astype(np.float32) for _ in range(2)]

    def samples():  # type: ignore[no-untyped-def]
        for i in range(32):
            yield [r[i:i + 1] for r in reps]

    with captured_output():
        return _convert(tf.lite.TFLiteConverter.from_keras_model(m), samples)


def _float_io() -> bytes:
    """An int8 model with float32 input and output (QUANTIZE first, DEQUANTIZE last)."""
    import keras
    import tensorflow as tf

    from tinydeploy.captured_output import captured_output

    keras.utils.set_random_seed(7)
    L = keras.layers
    m = keras.Sequential([keras.Input((10,), batch_size=1), L.Dense(8, activation="relu"),
                          L.Dense(3)])
    reps = np.random.default_rng(7).normal(0, 1, (32, 10)).astype(np.float32)

    def samples():  # type: ignore[no-untyped-def]
        for x in reps:
            yield [x[None]]

    with captured_output():
        c = tf.lite.TFLiteConverter.from_keras_model(m)
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        c.representative_dataset = samples
        c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        return bytes(c.convert())


def _almost_full_flash() -> bytes:
    """249,600 bytes of int8 weights (640 -> 390): under a Cortex-M3 lm3s6965's 262,144 bytes of
    flash, over it once the firmware's code is counted."""
    import keras

    keras.utils.set_random_seed(8)
    m = keras.Sequential([keras.Input((640,), batch_size=1), keras.layers.Dense(390)])
    return _quantize(m, (640,), 8)


MODELS: dict[str, Callable[[], bytes]] = {
    "almost_full_flash": _almost_full_flash,
    "two_in_two_out": _two_in_two_out, "float_io": _float_io,
    "tiny_fc": _tiny_fc, "tiny_kws": _tiny_kws, "tiny_image": _tiny_image,
    "wide_activations": _wide_activations, "big_weights": _big_weights,
}


def generated_model(name: str) -> Path:
    """One of MODELS as a .tflite path (built on first use)."""
    return cached_tflite(name, MODELS[name])
