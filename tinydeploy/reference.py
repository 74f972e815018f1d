"""Golden outputs from TFLite's reference kernels, and TFLite Micro's arena size, as oracles.

TensorFlow's default interpreter runs XNNPACK, which is not bit-exact with the reference int8
kernels; `BUILTIN_REF` selects the reference kernels, which TFLite Micro matches exactly.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from tinydeploy.captured_output import captured_output

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class ReferenceInterpreter:
    """TFLite's reference-kernel interpreter for one model."""

    def __init__(self, model: str | Path | bytes) -> None:
        import tensorflow as tf

        content = model if isinstance(model, bytes) else Path(model).read_bytes()
        self._interp = tf.lite.Interpreter(
            model_content=content,
            experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF)
        self._interp.allocate_tensors()
        self.input_details = self._interp.get_input_details()
        self.output_details = self._interp.get_output_details()

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        for d, x in zip(self.input_details, inputs):
            self._interp.set_tensor(d["index"], np.asarray(x, d["dtype"]).reshape(d["shape"]))
        self._interp.invoke()
        return [self._interp.get_tensor(d["index"]).copy() for d in self.output_details]


def tflm_arena_bytes(model: str | Path | bytes, arena_size: int = 4 << 20) -> int | None:
    """TFLite Micro's arena use for the model (host build from the `tflite-micro` wheel), or None.

    The wheel has no API returning the figure; `print_allocations()` writes it from native code,
    so its output is captured at the file-descriptor level.
    """
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        return None
    content = model if isinstance(model, bytes) else Path(model).read_bytes()
    interp = runtime.Interpreter.from_bytes(content, arena_size=arena_size)
    with captured_output() as output:
        interp.print_allocations()
        text = output()
    m = re.search(r"Arena allocation total (\d+) bytes", text)
    return int(m.group(1)) if m else None
