"""Quantization-aware training in Keras 3 (tensorflow-model-optimization needs legacy tf.keras).

The trained float model is cloned with fake quantization where TFLite's full-integer converter
quantizes:
- weights per output channel, symmetric on [-127, 127] with scale max|w| / 127 (convolutions,
  depthwise convolutions, dense layers): the grid the converter uses. Batch norm folds into the
  weights per output channel, which scales a channel's weights and its step alike, so the folded
  weights land on the same integer codes;
- activations per tensor, asymmetric int8, on the ranges met in training (exponential moving
  averages of each batch's minimum and maximum, which always include 0): the model input and
  the output of every layer that becomes an int8 tensor on the device (activations, adds,
  concatenations, convolutions and batch norms not followed by an activation).
Gradients pass the rounding straight through. Batch norm is frozen (inference statistics) while
the model adapts, as is usual for QAT fine-tuning.

Export: the original architecture gets the fine-tuned weights with every kernel snapped to its
int8 grid, and the usual converter (tinydeploy/quantize.py) quantizes it with a representative
dataset; the weight codes are then those the model was trained with, and activation scales come
from the data as for post-training quantization.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinydeploy.datasets.base import Dataset

EMA = 0.9              # weight of the running range against each new batch's
QAT_LEARNING_RATE = 5e-4
ACTIVATIONS = ("ReLU", "Activation", "Add", "Concatenate", "Softmax")


def _keras() -> Any:
    import keras

    return keras


def fake_quant_kernel(w: Any, reduce_axes: tuple[int, ...]) -> Any:
    """Per-channel symmetric int8 fake quantization (codes -127..127, scale max|w| / 127 over
    `reduce_axes`), straight-through in the backward pass."""
    K = _keras().ops
    scale = K.maximum(K.max(K.abs(w), axis=reduce_axes, keepdims=True), 1e-12) / 127.0
    q = K.clip(K.round(w / scale), -127.0, 127.0) * scale
    return w + K.stop_gradient(q - w)


def snap_kernel(w: np.ndarray, reduce_axes: tuple[int, ...]) -> np.ndarray:
    """The same quantization in numpy, for export."""
    scale = np.maximum(np.abs(w).max(axis=reduce_axes, keepdims=True), 1e-12) / 127.0
    return (np.clip(np.round(w / scale), -127, 127) * scale).astype(w.dtype)


def _layer_classes() -> dict[str, type]:
    """Keras layers whose kernel reads are fake-quantized (a `kernel` property over the stored
    variable), by the class they replace."""
    keras = _keras()

    class QConv2D(keras.layers.Conv2D):
        @property
        def kernel(self) -> Any:
            return fake_quant_kernel(super().kernel, (0, 1, 2))

    class QDense(keras.layers.Dense):
        @property
        def kernel(self) -> Any:
            return fake_quant_kernel(super().kernel, (0,))

    class QDepthwiseConv2D(keras.layers.DepthwiseConv2D):
        # DepthwiseConv2D keeps its kernel in a plain attribute: store it aside, read it quantized
        @property
        def kernel(self) -> Any:
            return fake_quant_kernel(self._float_kernel, (0, 1))

        @kernel.setter
        def kernel(self, value: Any) -> None:
            self._float_kernel = value

    return {"Conv2D": QConv2D, "Dense": QDense, "DepthwiseConv2D": QDepthwiseConv2D}


REDUCE_AXES = {"Conv2D": (0, 1, 2), "Dense": (0,), "DepthwiseConv2D": (0, 1)}


def _act_quant_class() -> type:
    keras = _keras()
    K = keras.ops

    class ActQuant(keras.layers.Layer):
        """Per-tensor int8 fake quantization on a running range."""

        def build(self, input_shape: Any) -> None:
            self.lo = self.add_weight(shape=(), initializer="zeros", trainable=False, name="lo")
            self.hi = self.add_weight(shape=(), initializer="zeros", trainable=False, name="hi")
            self.seen = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                        name="seen")

        def call(self, x: Any, training: bool | None = None) -> Any:
            if training:
                lo, hi = K.min(x), K.max(x)
                first = K.equal(self.seen, 0.0)
                self.lo.assign(K.where(first, lo, EMA * self.lo + (1 - EMA) * lo))
                self.hi.assign(K.where(first, hi, EMA * self.hi + (1 - EMA) * hi))
                self.seen.assign(1.0)
            lo, hi = K.minimum(self.lo, 0.0), K.maximum(self.hi, 0.0)
            scale = K.maximum(hi - lo, 1e-8) / 255.0
            zp = K.round(-128.0 - lo / scale)
            q = (K.clip(K.round(x / scale) + zp, -128.0, 127.0) - zp) * scale
            return x + K.stop_gradient(q - x)

    return ActQuant


def _consumers(model: Any) -> dict[str, list[Any]]:
    """Each layer's name -> the layers that read its output."""
    out: dict[str, list[Any]] = {}
    for layer in model.layers:
        for node in layer._inbound_nodes:
            for t in node.input_tensors:
                out.setdefault(t._keras_history.operation.name, []).append(layer)
    return out


def _quantizes_output(layer: Any, readers: list[Any]) -> bool:
    """Whether the layer's output is an int8 tensor of its own on the device: not a convolution
    or batch norm whose following activation (or batch norm) the converter fuses, nor a softmax
    (its int8 output scale is fixed at 1/256)."""
    kind = type(layer).__name__
    activation = getattr(getattr(layer, "activation", None), "__name__", None)
    if kind == "Softmax" or activation == "softmax":
        return False
    if kind in ACTIVATIONS:
        return True
    if kind in ("Conv2D", "DepthwiseConv2D", "Dense", "BatchNormalization"):
        fused = {"BatchNormalization", "ReLU", "Activation"}
        return not (len(readers) == 1 and type(readers[0]).__name__ in fused)
    return False


def qat_model(net: Any) -> Any:
    """The fake-quantized clone of a trained functional model, with its weights."""
    keras = _keras()
    classes, act_quant = _layer_classes(), _act_quant_class()
    readers = _consumers(net)
    wrapped = {layer.name for layer in net.layers
               if _quantizes_output(layer, readers.get(layer.name, []))}
    input_quant: dict[str, Any] = {}

    def clone(layer: Any) -> Any:
        cls = classes.get(type(layer).__name__)
        if cls is None:
            return layer.__class__.from_config(layer.get_config())
        return cls.from_config(layer.get_config())

    def call(layer: Any, *args: Any, **kwargs: Any) -> Any:
        def quant_input(t: Any) -> Any:
            if hasattr(t, "_keras_history") and \
                    isinstance(t._keras_history.operation, keras.layers.InputLayer):
                name = t._keras_history.operation.name
                if name not in input_quant:
                    input_quant[name] = act_quant(name=f"{name}_fq")(t)
                return input_quant[name]
            return t

        args = tuple([quant_input(a) for a in x] if isinstance(x, list) else quant_input(x)
                     for x in args)
        y = layer(*args, **kwargs)
        return act_quant(name=f"{layer.name}_fq")(y) if layer.name in wrapped else y

    q = keras.models.clone_model(net, clone_function=clone, call_function=call)
    for layer in net.layers:
        if layer.weights:
            q.get_layer(layer.name).set_weights(layer.get_weights())
        if type(layer).__name__ == "BatchNormalization":
            q.get_layer(layer.name).trainable = False
    return q


def export(net: Any, q: Any) -> None:
    """Copy the fine-tuned weights back into `net` (the original architecture), every kernel
    snapped to its int8 grid."""
    for layer in net.layers:
        if not layer.weights:
            continue
        weights = q.get_layer(layer.name).get_weights()
        axes = REDUCE_AXES.get(type(layer).__name__)
        if axes is not None:
            weights[0] = snap_kernel(weights[0], axes)
        layer.set_weights(weights)


def int8_metric(tflite: bytes, ds: Dataset) -> float:
    """Accuracy (anomaly detection: clip AUC) of an int8 model on the test split, on TFLite's
    reference kernels."""
    from tinydeploy.train import quantized_outputs

    _, out, _ = quantized_outputs(tflite, ds.test.x)
    if ds.test_groups is None:
        return float(np.mean(np.argmax(out, -1) == ds.test.y))
    from tinydeploy.datasets.machine_sounds import auc

    err = np.mean((out.reshape(len(out), -1) - ds.test.x.reshape(len(out), -1)) ** 2, 1)
    scores = np.array([err[ds.test_groups == g].mean() for g in range(len(ds.group_labels))])
    return auc(scores, ds.group_labels)  # type: ignore[arg-type]


def quantization_aware(net: Any, ds: Dataset, epochs: int, seed: int, batch_size: int = 64,
                       augmenter: Any = None) -> dict[str, Any]:
    """Fine-tune a trained model with fake quantization for `epochs` epochs and export it into
    `net`; returns what the model card records, with two post-training-quantization baselines'
    int8 test metrics: the model as it was, and the model trained as many more epochs in float."""
    keras = _keras()
    from tinydeploy.quantize import quantize_int8

    anomaly = ds.test_groups is not None

    def fine_tune(model: Any) -> list[float]:
        model.compile(optimizer=keras.optimizers.Adam(QAT_LEARNING_RATE),
                      loss="mse" if anomaly else "sparse_categorical_crossentropy")
        losses = []
        for epoch in range(epochs):
            x = augmenter.epoch(seed, 10_000 + epoch) if augmenter else ds.train.x
            hist = model.fit(x, x if anomaly else ds.train.y, epochs=1, batch_size=batch_size,
                             verbose=0, shuffle=True)
            losses.append(float(hist.history["loss"][-1]))
        return losses

    ptq = int8_metric(quantize_int8(net, ds.train.x), ds)
    # the fair baseline: the float model trained as many more epochs, then quantized
    longer = keras.models.clone_model(net)
    longer.set_weights(net.get_weights())
    fine_tune(longer)
    ptq_longer = int8_metric(quantize_int8(longer, ds.train.x), ds)
    q = qat_model(net)
    losses = fine_tune(q)
    export(net, q)
    return {"epochs": epochs, "learning_rate": QAT_LEARNING_RATE, "loss": losses,
            "accuracy_int8_ptq": ptq, "accuracy_int8_ptq_same_epochs": ptq_longer,
            "scheme": "fake-quantized weights per output channel (symmetric, -127..127) and "
                      "activations per tensor (asymmetric int8, running ranges), straight-through "
                      "gradients, batch norm frozen; exported with kernels on their int8 grid "
                      "and converted with a representative dataset",
            "ptq_note": "post-training quantization of the model before the QAT epochs "
                        "(accuracy_int8_ptq) and after as many float epochs at the same learning "
                        "rate (accuracy_int8_ptq_same_epochs)"}
