"""The train stage: dataset -> Keras model -> int8 `.tflite`, with a model card and plots.

Float and int8 accuracy are both measured on the held-out test split; int8 accuracy uses TFLite's
reference kernels (the same arithmetic the device runs, bit for bit).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinydeploy.datasets.base import Dataset
from tinydeploy.errors import TinyDeployError
from tinydeploy.progress import step

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

DEFAULT_MODELS = {"kws": ("ds_cnn", {"size": "xs"}), "image": ("small_cnn", {}),
                  "anomaly": ("fc_autoencoder", {})}


@dataclass
class TrainResult:
    out_dir: Path
    tflite_path: Path
    card_path: Path
    card: dict[str, Any]
    dataset: Dataset


def load_dataset(task: str, dataset: str, seed: int = 0, size: str = "default") -> Dataset:
    """Resolve a dataset name ('builtin', 'digits') or folder for a task."""
    if task == "kws" and dataset == "builtin":
        from tinydeploy.datasets.synth_kws import synth_kws

        per_class = {"tiny": 40, "default": 160}[size]
        return synth_kws(per_class=per_class, seed=seed)
    if task == "image" and dataset == "digits":
        from tinydeploy.datasets.digits import digits

        return digits(seed=seed)
    raise TinyDeployError(f"dataset '{dataset}' is not available for task '{task}'",
                          "use --task kws --dataset builtin, or --task image --dataset digits")


def _set_seed(seed: int) -> None:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _confusion(y: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    m = np.zeros((n, n), np.int64)
    np.add.at(m, (y, pred), 1)
    return m


def int8_predictions(tflite: bytes, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int8 inputs, int8 outputs) of the model over float features x, on TFLite's reference kernels."""
    from tinydeploy.quantize import quantize_inputs
    from tinydeploy.reference import ReferenceInterpreter

    ref = ReferenceInterpreter(tflite)
    d = ref.input_details[0]
    scale, zp = d["quantization"]
    xq = quantize_inputs(x, scale, zp)
    outs = np.stack([ref.run([xi[None]])[0][0] for xi in xq])
    return xq, outs


def _plots(out: Path, history: dict[str, list[float]], confusion: np.ndarray,
           classes: list[str]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
    ax[0].plot(history.get("loss", []), label="train")
    ax[0].plot(history.get("val_loss", []), label="validation")
    ax[0].set_title("loss")
    ax[0].set_xlabel("epoch")
    ax[0].legend()
    ax[1].plot(history.get("accuracy", []), label="train")
    ax[1].plot(history.get("val_accuracy", []), label="validation")
    ax[1].set_title("accuracy")
    ax[1].set_xlabel("epoch")
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(out / "training_curves.png", dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=90)
    ax.set_yticks(range(len(classes)), classes)
    for i in range(len(classes)):
        for j in range(len(classes)):
            if confusion[i, j]:
                ax.text(j, i, str(confusion[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if confusion[i, j] > confusion.max() / 2 else "black")
    ax.set_xlabel("predicted (int8)")
    ax.set_ylabel("true")
    ax.set_title("int8 confusion matrix (test split)")
    fig.tight_layout()
    fig.savefig(out / "confusion_matrix.png", dpi=100)
    plt.close(fig)
    return ["training_curves.png", "confusion_matrix.png"]


def train(task: str = "kws", dataset: str | Dataset = "builtin", model: str | None = None,
          epochs: int = 20, out_dir: str | Path = "out/train", seed: int = 0,
          batch_size: int = 64, size: str = "default", **knobs: Any) -> TrainResult:
    """Train, quantize and describe a model. Writes model.tflite, model_card.json and plots."""
    from tinydeploy import zoo
    from tinydeploy.compiler import compile_model
    from tinydeploy.quantize import quantize_int8

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _set_seed(seed)
    step(f"preparing dataset '{dataset if isinstance(dataset, str) else dataset.name}'")
    ds = dataset if isinstance(dataset, Dataset) else load_dataset(task, dataset, seed, size)
    name, default_knobs = DEFAULT_MODELS[task] if model is None else (model, {})
    knobs = {**default_knobs, **knobs}
    net = zoo.build(name, ds.input_shape, len(ds.classes), **knobs)
    import keras

    net.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
                metrics=["accuracy"])
    step(f"training {net.name} ({net.count_params():,} parameters) for {epochs} epochs on "
         f"{len(ds.train.y):,} examples")
    hist = net.fit(ds.train.x, ds.train.y, validation_data=(ds.val.x, ds.val.y), epochs=epochs,
                   batch_size=batch_size, verbose=2 if os.environ.get("TINYDEPLOY_QUIET") != "1" else 0,
                   shuffle=True)
    float_pred = np.argmax(net.predict(ds.test.x, verbose=0), axis=-1)
    acc_float = float(np.mean(float_pred == ds.test.y))
    step("quantizing to full-integer int8")
    tflite = quantize_int8(net, ds.train.x)
    tflite_path = out / "model.tflite"
    tflite_path.write_bytes(tflite)
    _, q_out = int8_predictions(tflite, ds.test.x)
    int8_pred = np.argmax(q_out, axis=-1)
    acc_int8 = float(np.mean(int8_pred == ds.test.y))
    conf = _confusion(ds.test.y, int8_pred, len(ds.classes))
    compiled = compile_model(tflite, name=net.name)
    inp = compiled.input_tensors[0]
    card = {
        "model": net.name, "task": task, "dataset": ds.name, "dataset_description": ds.description,
        "classes": ds.classes, "examples": {"train": len(ds.train.y), "val": len(ds.val.y),
                                            "test": len(ds.test.y)},
        "input": {"shape": list(inp.shape), "dtype": inp.dtype, "scale": float(inp.scale0),
                  "zero_point": inp.zp0},
        "accuracy_float": acc_float, "accuracy_int8": acc_int8,
        "confusion_matrix_int8": conf.tolist(),
        "parameters": int(net.count_params()), "macs": compiled.macs,
        "flash_weights_bytes": compiled.weight_bytes, "arena_bytes": compiled.arena_bytes,
        "tflite_bytes": len(tflite), "epochs": epochs, "seed": seed,
        "history": {k: [float(v) for v in vals] for k, vals in hist.history.items()},
    }
    card["plots"] = _plots(out, hist.history, conf, ds.classes)
    card_path = out / "model_card.json"
    card_path.write_text(json.dumps(card, indent=2))
    step(f"accuracy on the test split: float {acc_float:.1%}, int8 {acc_int8:.1%}")
    return TrainResult(out, tflite_path, card_path, card, ds)
