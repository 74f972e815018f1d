"""Full-integer post-training quantization of a Keras model: int8, or 16x8.

Weights are quantized to int8 per channel, activations per tensor from a representative dataset:
to int8, or to int16 with zero point 0 (TFLite's 16x8 mode,
EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8, whose biases the converter writes as
int64). The model's input and output take the activation type, so the whole graph runs on integer
kernels.
"""

from __future__ import annotations

import tempfile
from typing import Any

import numpy as np

from tinydeploy.captured_output import captured_output
from tinydeploy.errors import TinyDeployError

ACTIVATIONS = ("int8", "int16")


def quantize_model(model: Any, representative: np.ndarray, samples: int = 200,
                   activations: str = "int8") -> bytes:
    """Convert to a full-integer `.tflite` (bytes) with int8 or int16 activations, calibrated on up
    to `samples` representative inputs."""
    import tensorflow as tf

    if activations not in ACTIVATIONS:
        raise TinyDeployError(f"activations '{activations}' are not a quantization tinydeploy "
                              "makes", "use int8, or int16 for 16x8 (int16 activations, int8 "
                                       "weights)")
    if len(representative) == 0:
        raise TinyDeployError("no representative data for quantization",
                              "give at least a few training examples")
    rep = representative[:samples].astype(np.float32)

    def gen() -> Any:
        for x in rep:
            yield [x[None, ...]]

    with tempfile.TemporaryDirectory() as saved, captured_output():
        # A fixed batch of one gives static shapes: no SHAPE/STRIDED_SLICE ops for reshapes.
        spec = tf.TensorSpec([1, *model.input_shape[1:]], tf.float32)
        model.export(saved, format="tf_saved_model", input_signature=[spec], verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        try:
            return _convert(converter, gen, activations)
        except Exception as exc:  # noqa: BLE001 - the converter's refusals come in many types
            if activations == "int8":
                raise
            text = str(exc).strip()
            raise TinyDeployError(
                "TensorFlow's converter cannot quantize this model to 16x8: "
                + (text.splitlines()[0][:300] if text else type(exc).__name__),
                "use --activations int8, or replace the operator it names") from None


def quantize_int8(model: Any, representative: np.ndarray, samples: int = 200) -> bytes:
    """Convert to an int8 `.tflite` (bytes) calibrated on up to `samples` representative inputs."""
    return quantize_model(model, representative, samples, "int8")


def _convert(converter: Any, gen: Any, activations: str = "int8") -> bytes:
    """Full-integer conversion: int8 activations, or int16 activations with int8 weights
    (TFLite's 16x8 mode); inputs and outputs in the activation type."""
    import tensorflow as tf

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = gen
    if activations == "int16":
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        converter.inference_input_type = converter.inference_output_type = tf.int16
    else:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = converter.inference_output_type = tf.int8
    return bytes(converter.convert())


def quantize_inputs(x: np.ndarray, scale: float, zero_point: int,
                    dtype: str = "int8") -> np.ndarray:
    """Float features to the model's integer input, int8 or int16 (round half away from zero,
    clamp)."""
    info = np.iinfo(dtype)
    q = np.sign(x / scale) * np.floor(np.abs(x / scale) + 0.5) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)
