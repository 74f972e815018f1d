"""Model zoo: small Keras models for microcontrollers, each with a width knob.

All are built from ops the tinydeploy engine compiles (conv, depthwise conv, pooling, add, dense,
softmax), with batch norm folded away by the TFLite converter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tinydeploy.errors import TinyDeployError

# DS-CNN sizes from the keyword-spotting literature (Zhang et al., "Hello Edge"): channels, blocks.
DS_CNN_SIZES = {"xs": (32, 3), "s": (64, 4), "m": (172, 4), "l": (276, 5)}


def _keras() -> Any:
    import keras

    return keras


def _flatten(x: Any) -> Any:
    """A static reshape: Keras 3's Flatten exports a dynamic SHAPE/STRIDED_SLICE chain."""
    keras = _keras()
    n = 1
    for d in x.shape[1:]:
        n *= int(d)
    return keras.layers.Reshape((n,))(x)


def _bn() -> Any:
    """Batch norm with a faster-moving average, so validation accuracy tracks training early."""
    return _keras().layers.BatchNormalization(momentum=0.9)


def ds_cnn(input_shape: tuple[int, ...], classes: int, size: str = "s") -> Any:
    """Depthwise-separable CNN for keyword spotting (MLPerf Tiny's kws01 is size 's')."""
    keras = _keras()
    L = keras.layers
    if size not in DS_CNN_SIZES:
        raise TinyDeployError(f"unknown DS-CNN size '{size}'", f"use one of {list(DS_CNN_SIZES)}")
    ch, blocks = DS_CNN_SIZES[size]
    x = inp = keras.Input(input_shape)
    x = L.Conv2D(ch, (10, 4), strides=(2, 2), padding="same", use_bias=False)(x)
    x = _bn()(x)
    x = L.ReLU()(x)
    for _ in range(blocks):
        x = L.DepthwiseConv2D((3, 3), padding="same", use_bias=False)(x)
        x = _bn()(x)
        x = L.ReLU()(x)
        x = L.Conv2D(ch, 1, use_bias=False)(x)
        x = _bn()(x)
        x = L.ReLU()(x)
    x = L.AveragePooling2D(pool_size=(int(x.shape[1]), int(x.shape[2])))(x)
    x = _flatten(x)
    x = L.Dense(classes, activation="softmax")(x)
    return keras.Model(inp, x, name=f"ds_cnn_{size}")


def small_cnn(input_shape: tuple[int, ...], classes: int, width: int = 16) -> Any:
    """Two conv blocks and a dense head: the smallest useful image classifier."""
    keras = _keras()
    L = keras.layers
    x = inp = keras.Input(input_shape)
    x = L.Conv2D(width, 3, padding="same", activation="relu")(x)
    x = L.MaxPooling2D(2)(x)
    x = L.Conv2D(width * 2, 3, padding="same", activation="relu")(x)
    x = L.MaxPooling2D(2)(x)
    x = _flatten(x)
    x = L.Dense(classes, activation="softmax")(x)
    return keras.Model(inp, x, name=f"small_cnn_{width}")


def mobilenet_v1(input_shape: tuple[int, ...], classes: int, alpha: float = 0.25) -> Any:
    """MobileNetV1 with width multiplier alpha (MLPerf Tiny's vww01 is alpha 0.25 at 96x96)."""
    keras = _keras()
    L = keras.layers

    def ch(c: int) -> int:
        return max(8, int(c * alpha))

    x = inp = keras.Input(input_shape)
    x = L.Conv2D(ch(32), 3, strides=2, padding="same", use_bias=False)(x)
    x = L.ReLU(6.0)(_bn()(x))
    for c, s in [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
                 (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]:
        x = L.DepthwiseConv2D(3, strides=s, padding="same", use_bias=False)(x)
        x = L.ReLU(6.0)(_bn()(x))
        x = L.Conv2D(ch(c), 1, use_bias=False)(x)
        x = L.ReLU(6.0)(_bn()(x))
    x = L.AveragePooling2D(pool_size=(int(x.shape[1]), int(x.shape[2])))(x)
    x = _flatten(x)
    x = L.Dense(classes, activation="softmax")(x)
    return keras.Model(inp, x, name=f"mobilenet_v1_{alpha}")


def resnet8(input_shape: tuple[int, ...], classes: int, width: int = 16) -> Any:
    """ResNet-8 for 32x32 images (MLPerf Tiny's ic01 uses width 16)."""
    keras = _keras()
    L = keras.layers
    x = inp = keras.Input(input_shape)
    x = L.ReLU()(_bn()(L.Conv2D(width, 3, padding="same")(x)))
    for mult, stride in [(1, 1), (2, 2), (4, 2)]:
        c = width * mult
        y = L.ReLU()(_bn()(L.Conv2D(c, 3, strides=stride, padding="same")(x)))
        y = _bn()(L.Conv2D(c, 3, padding="same")(y))
        if stride != 1 or int(x.shape[-1]) != c:
            x = L.Conv2D(c, 1, strides=stride)(x)
        x = L.ReLU()(L.Add()([x, y]))
    x = L.AveragePooling2D(pool_size=(int(x.shape[1]), int(x.shape[2])))(x)
    x = _flatten(x)
    x = L.Dense(classes, activation="softmax")(x)
    return keras.Model(inp, x, name=f"resnet8_{width}")


def fc_autoencoder(input_shape: tuple[int, ...], classes: int = 0, width: int = 128) -> Any:
    """Fully connected autoencoder for anomaly detection (MLPerf Tiny's ad01 shape)."""
    keras = _keras()
    L = keras.layers
    x = inp = keras.Input(input_shape)
    for units in (width, width, width, width, 8, width, width, width, width):
        x = L.ReLU()(_bn()(L.Dense(units)(x)))
    x = L.Dense(int(input_shape[-1]))(x)
    return keras.Model(inp, x, name=f"fc_autoencoder_{width}")


ZOO: dict[str, Callable[..., Any]] = {
    "ds_cnn": ds_cnn, "small_cnn": small_cnn, "mobilenet_v1": mobilenet_v1, "resnet8": resnet8,
    "fc_autoencoder": fc_autoencoder,
}


def build(name: str, input_shape: tuple[int, ...], classes: int, **knobs: Any) -> Any:
    if name not in ZOO:
        raise TinyDeployError(f"unknown model '{name}'", f"choose one of: {', '.join(ZOO)}")
    return ZOO[name](input_shape, classes, **knobs)


# Each model's size knob: (keyword, type, ladder from largest to smallest) for --model NAME:KNOB
# and for picking the largest configuration that fits a board.
KNOBS: dict[str, tuple[str, type, list[Any]]] = {
    "ds_cnn": ("size", str, ["l", "m", "s", "xs"]),
    "mobilenet_v1": ("alpha", float, [1.0, 0.75, 0.5, 0.25]),
    "resnet8": ("width", int, [64, 32, 16, 8]),
    "small_cnn": ("width", int, [64, 32, 16, 8]),
    "fc_autoencoder": ("width", int, [512, 256, 128, 64]),
}


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """'ds_cnn:s' -> ('ds_cnn', {'size': 's'}); a bare name keeps the model's default size."""
    name, _, knob = spec.partition(":")
    if name not in ZOO:
        raise TinyDeployError(f"unknown model '{name}'", f"choose one of: {', '.join(ZOO)}")
    if not knob:
        return name, {}
    key, kind, _ = KNOBS[name]
    try:
        return name, {key: kind(knob)}
    except ValueError:
        raise TinyDeployError(f"'{knob}' is not a valid {key} for {name}",
                              f"for example {name}:{KNOBS[name][2][-1]}") from None


def ladder(name: str) -> list[dict[str, Any]]:
    key, _, values = KNOBS[name]
    return [{key: v} for v in values]


def spec_string(name: str, knobs: dict[str, Any]) -> str:
    return f"{name}:{next(iter(knobs.values()))}" if knobs else name
