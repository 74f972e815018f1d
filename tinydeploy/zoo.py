"""Model zoo: small Keras models for microcontrollers, each with size knobs.

All are built from ops the tinydeploy engine compiles (conv, depthwise conv, pooling, add,
concatenation, dense, softmax), with batch norm folded away by the TFLite converter. Each family
has one main size knob (`--model NAME:VALUE`, and the ladder `--board` picks from) and further
knobs by name (`--model NAME:knob=value,knob=value`), which `tinydeploy tune` searches over.

Strides shrink only the spatial axes that are still at least 4 long, so every family builds on
8x8 digits and 49x10 MFCCs as well as on 32x32 or 96x96 images.
"""

from __future__ import annotations

import inspect
import math
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


def _strides(x: Any, stride: int) -> tuple[int, int]:
    """`stride` along each spatial axis that is still at least 4 long, 1 along the others."""
    return (stride if int(x.shape[1]) >= 4 else 1, stride if int(x.shape[2]) >= 4 else 1)


def _make_divisible(v: float, divisor: int = 8) -> int:
    """Channels rounded to a multiple of `divisor`, never below it nor 10% below v (the rule of
    MobileNet's reference code): multiples of 4 and 8 keep the kernels' SIMD paths busy."""
    n = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return n + divisor if n < 0.9 * v else n


def _ints(text: str, what: str) -> list[int]:
    """'3-5-7' -> [3, 5, 7], for knobs that hold one value per block."""
    try:
        values = [int(t) for t in str(text).split("-")]
    except ValueError:
        raise TinyDeployError(f"{what} '{text}' is not a list of integers",
                              f"one value per block joined by '-', e.g. {what}=3-5-7") from None
    if not values or min(values) < 1:
        raise TinyDeployError(f"{what} '{text}' needs positive values", f"e.g. {what}=3-5-7")
    return values


def _head(x: Any, classes: int) -> Any:
    """Average over the whole feature map, then a dense softmax classifier."""
    L = _keras().layers
    x = L.AveragePooling2D(pool_size=(int(x.shape[1]), int(x.shape[2])))(x)
    return L.Dense(classes, activation="softmax")(_flatten(x))


def ds_cnn(input_shape: tuple[int, ...], classes: int, size: str = "s", width: int = 0,
           depth: int = 0, kernel: int = 3, stride: int = 2) -> Any:
    """Depthwise-separable CNN for keyword spotting (MLPerf Tiny's kws01 is size 's').

    width and depth override the size's channels and blocks; kernel is the depthwise kernel,
    stride the first convolution's."""
    keras = _keras()
    L = keras.layers
    if size not in DS_CNN_SIZES:
        raise TinyDeployError(f"unknown DS-CNN size '{size}'", f"use one of {list(DS_CNN_SIZES)}")
    ch, blocks = DS_CNN_SIZES[size]
    ch, blocks = width or ch, depth or blocks
    x = inp = keras.Input(input_shape)
    x = L.Conv2D(ch, (10, 4), strides=(stride, stride), padding="same", use_bias=False)(x)
    x = _bn()(x)
    x = L.ReLU()(x)
    for _ in range(blocks):
        x = L.DepthwiseConv2D((kernel, kernel), padding="same", use_bias=False)(x)
        x = _bn()(x)
        x = L.ReLU()(x)
        x = L.Conv2D(ch, 1, use_bias=False)(x)
        x = _bn()(x)
        x = L.ReLU()(x)
    name = f"ds_cnn_{size}" if (width, depth, kernel, stride) == (0, 0, 3, 2) else \
        f"ds_cnn_w{ch}_d{blocks}_k{kernel}_s{stride}"
    return keras.Model(inp, _head(x, classes), name=name)


def small_cnn(input_shape: tuple[int, ...], classes: int, width: int = 16, depth: int = 2,
              kernel: int = 3) -> Any:
    """`depth` conv blocks (width doubling, 2x2 max pooling) and a dense head: the smallest
    useful image classifier."""
    keras = _keras()
    L = keras.layers
    x = inp = keras.Input(input_shape)
    for i in range(depth):
        x = L.Conv2D(width * 2 ** i, kernel, padding="same", activation="relu")(x)
        pool = (min(2, int(x.shape[1])), min(2, int(x.shape[2])))
        if pool != (1, 1):
            x = L.MaxPooling2D(pool)(x)
    x = _flatten(x)
    x = L.Dense(classes, activation="softmax")(x)
    name = f"small_cnn_{width}" if (depth, kernel) == (2, 3) else \
        f"small_cnn_{width}_d{depth}_k{kernel}"
    return keras.Model(inp, x, name=name)


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


def fc_autoencoder(input_shape: tuple[int, ...], classes: int = 0, width: int = 128,
                   depth: int = 4, bottleneck: int = 8) -> Any:
    """Fully connected autoencoder for anomaly detection (MLPerf Tiny's ad01 shape: depth 4,
    bottleneck 8): `depth` layers of `width` units on each side of the bottleneck."""
    keras = _keras()
    L = keras.layers
    x = inp = keras.Input(input_shape)
    for units in [width] * depth + [bottleneck] + [width] * depth:
        x = L.ReLU()(_bn()(L.Dense(units)(x)))
    x = L.Dense(int(input_shape[-1]))(x)
    name = f"fc_autoencoder_{width}" if (depth, bottleneck) == (4, 8) else \
        f"fc_autoencoder_{width}_d{depth}_b{bottleneck}"
    return keras.Model(inp, x, name=name)


def _inverted_residual(x: Any, out_c: int, expansion: int, kernel: int, stride: int) -> Any:
    """MobileNetV2's inverted residual (also EfficientNet-Lite's MBConv without squeeze-excite):
    1x1 expansion, kxk depthwise, linear 1x1 projection, ReLU6 after the first two, and a
    shortcut where shape allows."""
    L = _keras().layers
    in_c, y = int(x.shape[-1]), x
    if expansion != 1:
        y = L.ReLU(6.0)(_bn()(L.Conv2D(in_c * expansion, 1, use_bias=False)(y)))
    strides = _strides(y, stride)
    y = L.DepthwiseConv2D(kernel, strides=strides, padding="same", use_bias=False)(y)
    y = L.ReLU(6.0)(_bn()(y))
    y = _bn()(L.Conv2D(out_c, 1, use_bias=False)(y))
    return L.Add()([x, y]) if strides == (1, 1) and in_c == out_c else y


def _mobile_stem(x: Any, channels: int, stride: int) -> Any:
    L = _keras().layers
    x = L.Conv2D(channels, 3, strides=_strides(x, stride), padding="same", use_bias=False)(x)
    return L.ReLU(6.0)(_bn()(x))


def _mobile_head(x: Any, classes: int) -> Any:
    """A 1x1 convolution to 4x the last stage's channels (MobileNetV2's 1280 is 4x its 320),
    then the classifier."""
    L = _keras().layers
    x = L.Conv2D(_make_divisible(4 * int(x.shape[-1])), 1, use_bias=False)(x)
    return _head(L.ReLU(6.0)(_bn()(x)), classes)


# MobileNetV2's stages: (expansion, channels, blocks, stride); "t" is the expansion knob
MOBILENET_V2_STAGES = [(1, 16, 1, 1), ("t", 24, 2, 2), ("t", 32, 3, 2), ("t", 64, 4, 2),
                       ("t", 96, 3, 1), ("t", 160, 3, 2), ("t", 320, 1, 1)]


def mobilenet_v2(input_shape: tuple[int, ...], classes: int, alpha: float = 0.35,
                 depth: int = 7, expansion: int = 6, kernel: int = 3, stride: int = 2) -> Any:
    """MobileNetV2 (inverted residuals, linear bottlenecks) with width multiplier alpha, the
    first `depth` of its 7 stages, expansion factor and depthwise kernel size as knobs."""
    keras = _keras()
    if not 1 <= depth <= len(MOBILENET_V2_STAGES):
        raise TinyDeployError(f"mobilenet_v2 depth {depth} is not a stage count",
                              f"use 1 to {len(MOBILENET_V2_STAGES)}")
    x = inp = keras.Input(input_shape)
    x = _mobile_stem(x, _make_divisible(32 * alpha), stride)
    for t, c, n, s in MOBILENET_V2_STAGES[:depth]:
        for i in range(n):
            x = _inverted_residual(x, _make_divisible(c * alpha), expansion if t == "t" else t,
                                   kernel, s if i == 0 else 1)
    return keras.Model(inp, _mobile_head(x, classes),
                       name=f"mobilenet_v2_{alpha}_d{depth}_t{expansion}_k{kernel}")


# EfficientNet-B0's stages: (expansion, channels, blocks, stride, kernel)
EFFICIENTNET_STAGES = [(1, 16, 1, 1, 3), (6, 24, 2, 2, 3), (6, 40, 2, 2, 5), (6, 80, 3, 2, 3),
                       (6, 112, 3, 1, 5), (6, 192, 4, 2, 5), (6, 320, 1, 1, 3)]


def efficientnet_lite(input_shape: tuple[int, ...], classes: int, width: float = 0.5,
                      depth: float = 1.0, stages: int = 7, stride: int = 2) -> Any:
    """EfficientNet-Lite: EfficientNet's MBConv stages with 3x3 and 5x5 kernels, compound width
    and depth multipliers, and the Lite changes for integer accelerators (no squeeze-excite,
    ReLU6 instead of swish, a fixed 32-channel stem). `stages` keeps the first few stages."""
    keras = _keras()
    if not 1 <= stages <= len(EFFICIENTNET_STAGES):
        raise TinyDeployError(f"efficientnet_lite stages {stages} is out of range",
                              f"use 1 to {len(EFFICIENTNET_STAGES)}")
    x = inp = keras.Input(input_shape)
    x = _mobile_stem(x, 32, stride)
    for t, c, n, s, k in EFFICIENTNET_STAGES[:stages]:
        for i in range(math.ceil(n * depth)):
            x = _inverted_residual(x, _make_divisible(c * width), t, k, s if i == 0 else 1)
    return keras.Model(inp, _mobile_head(x, classes),
                       name=f"efficientnet_lite_{width}_d{depth}_s{stages}")


# MCUNet-style stage channels at width 16 (its searched networks grow 16-24-40-80-96-192)
MCUNET_CHANNELS = [24, 40, 80, 96, 192, 320]


def mcunet(input_shape: tuple[int, ...], classes: int, width: int = 16,
           kernels: str = "3-5-7-3", expansions: str = "3-4-6-3", stride: int = 2) -> Any:
    """MCUNet-style mobile network: a stem, a depthwise-separable block, then inverted residual
    blocks whose kernel sizes (3, 5, 7) and expansion ratios (3, 4, 6) are chosen per block, as
    in MCUNet's search space. Blocks go in pairs of a stage, the first of each striding 2."""
    keras = _keras()
    ks, es = _ints(kernels, "kernels"), _ints(expansions, "expansions")
    if len(ks) != len(es) or len(ks) > 2 * len(MCUNET_CHANNELS):
        raise TinyDeployError(f"mcunet has {len(ks)} kernels and {len(es)} expansions",
                              f"give one of each per block, at most {2 * len(MCUNET_CHANNELS)}")
    x = inp = keras.Input(input_shape)
    x = _mobile_stem(x, _make_divisible(width), stride)
    x = _inverted_residual(x, _make_divisible(width), 1, 3, 1)
    for i, (k, e) in enumerate(zip(ks, es)):
        c = _make_divisible(MCUNET_CHANNELS[i // 2] * width / 16)
        x = _inverted_residual(x, c, e, k, 2 if i % 2 == 0 else 1)
    return keras.Model(inp, _head(x, classes), name=f"mcunet_{width}_k{kernels}_e{expansions}")


def _fire(x: Any, squeeze: int) -> Any:
    """SqueezeNet's fire module: a 1x1 squeeze, then 1x1 and 3x3 expands (4x the squeeze each)
    side by side, concatenated."""
    L = _keras().layers
    s = L.ReLU()(_bn()(L.Conv2D(squeeze, 1, use_bias=False)(x)))
    e1 = L.ReLU()(_bn()(L.Conv2D(4 * squeeze, 1, use_bias=False)(s)))
    e3 = L.ReLU()(_bn()(L.Conv2D(4 * squeeze, 3, padding="same", use_bias=False)(s)))
    return L.Concatenate()([e1, e3])


def squeezenet(input_shape: tuple[int, ...], classes: int, width: int = 16, depth: int = 8,
               kernel: int = 3, stride: int = 2) -> Any:
    """SqueezeNet 1.1: a strided stem, max pooling, `depth` fire modules (squeeze channels
    width, width, 2*width, 2*width, 3*width... pooled after the 2nd and 4th) and a 1x1
    convolution to the classes averaged over the map (no dense layer; linear, where the paper
    has a ReLU, so that the softmax sees negative logits and a usable int8 scale). Batch norm is
    added after each convolution so that it trains in a few epochs."""
    keras = _keras()
    L = keras.layers
    x = inp = keras.Input(input_shape)
    x = L.Conv2D(4 * width, kernel, strides=_strides(x, stride), padding="same", use_bias=False)(x)
    x = L.ReLU()(_bn()(x))

    def pool(x: Any) -> Any:
        strides = _strides(x, 2)
        return x if strides == (1, 1) else L.MaxPooling2D(3, strides, padding="same")(x)

    x = pool(x)
    for i in range(depth):
        x = _fire(x, width * (1 + i // 2))
        if i in (1, 3):
            x = pool(x)
    x = L.Conv2D(classes, 1)(x)
    x = _flatten(L.AveragePooling2D(pool_size=(int(x.shape[1]), int(x.shape[2])))(x))
    return keras.Model(inp, L.Softmax()(x), name=f"squeezenet_{width}_d{depth}_k{kernel}")


ZOO: dict[str, Callable[..., Any]] = {
    "ds_cnn": ds_cnn, "small_cnn": small_cnn, "mobilenet_v1": mobilenet_v1, "resnet8": resnet8,
    "fc_autoencoder": fc_autoencoder, "mobilenet_v2": mobilenet_v2,
    "efficientnet_lite": efficientnet_lite, "mcunet": mcunet, "squeezenet": squeezenet,
}


def build(name: str, input_shape: tuple[int, ...], classes: int, **knobs: Any) -> Any:
    if name not in ZOO:
        raise TinyDeployError(f"unknown model '{name}'", f"choose one of: {', '.join(ZOO)}")
    return ZOO[name](input_shape, classes, **knobs)


# Each model's main size knob: (keyword, type, ladder from largest to smallest) for
# --model NAME:KNOB and for picking the largest configuration that fits a board.
KNOBS: dict[str, tuple[str, type, list[Any]]] = {
    "ds_cnn": ("size", str, ["l", "m", "s", "xs"]),
    "mobilenet_v1": ("alpha", float, [1.0, 0.75, 0.5, 0.25]),
    "resnet8": ("width", int, [64, 32, 16, 8]),
    "small_cnn": ("width", int, [64, 32, 16, 8]),
    "fc_autoencoder": ("width", int, [512, 256, 128, 64]),
    "mobilenet_v2": ("alpha", float, [1.0, 0.75, 0.5, 0.35, 0.25]),
    "efficientnet_lite": ("width", float, [1.0, 0.75, 0.5, 0.25]),
    "mcunet": ("width", int, [32, 24, 16, 8]),
    "squeezenet": ("width", int, [32, 16, 8, 4]),
}


def knob_types(name: str) -> dict[str, type]:
    """Every knob of a family and its type, read from the builder's keyword defaults."""
    params = list(inspect.signature(ZOO[name]).parameters.values())[2:]
    return {p.name: type(p.default) for p in params}


def _convert(name: str, key: str, text: str) -> Any:
    kinds = knob_types(name)
    if key not in kinds:
        raise TinyDeployError(f"{name} has no knob '{key}'",
                              f"its knobs are {', '.join(kinds)}")
    try:
        return kinds[key](text)
    except ValueError:
        raise TinyDeployError(f"'{text}' is not a valid {key} for {name}",
                              f"give a {kinds[key].__name__}") from None


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """'ds_cnn:s' -> ('ds_cnn', {'size': 's'}); 'mcunet:width=8,kernels=3-5' -> every knob named;
    a bare name keeps the model's default size."""
    name, _, knob = spec.partition(":")
    if name not in ZOO:
        raise TinyDeployError(f"unknown model '{name}'", f"choose one of: {', '.join(ZOO)}")
    if not knob:
        return name, {}
    if "=" not in knob:
        key, kind, _ = KNOBS[name]
        try:
            return name, {key: kind(knob)}
        except ValueError:
            raise TinyDeployError(f"'{knob}' is not a valid {key} for {name}",
                                  f"for example {name}:{KNOBS[name][2][-1]}") from None
    knobs = {}
    for part in knob.split(","):
        key, eq, value = part.partition("=")
        if not eq:
            raise TinyDeployError(f"'{part}' in '{spec}' is not knob=value",
                                  f"for example {name}:{KNOBS[name][0]}={KNOBS[name][2][-1]}")
        knobs[key.strip()] = _convert(name, key.strip(), value.strip())
    return name, knobs


def ladder(name: str) -> list[dict[str, Any]]:
    key, _, values = KNOBS[name]
    return [{key: v} for v in values]


def spec_string(name: str, knobs: dict[str, Any]) -> str:
    """The --model string that builds this model again: NAME:VALUE for the main knob alone,
    NAME:knob=value,... otherwise."""
    if not knobs:
        return name
    if list(knobs) == [KNOBS[name][0]]:
        return f"{name}:{next(iter(knobs.values()))}"
    return f"{name}:" + ",".join(f"{k}={v}" for k, v in knobs.items())
