"""The train stage: dataset -> Keras model -> full-integer `.tflite`, with a model card and plots.

The model is quantized to int8, or to 16x8 (int16 activations, int8 weights: activations="int16").
Float and quantized metrics are both measured on the held-out test split; the quantized one uses
TFLite's reference kernels (the same arithmetic the device runs, bit for bit). A 16x8 model's card
also reports its int8 twin (the same trained weights quantized to int8), whose .tflite is written
beside it, so the two can be compared on accuracy, arena and latency. Options: magnitude pruning,
distillation from a larger teacher, and choosing the largest zoo size that fits a board.
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

DEFAULT_MODELS = {"kws": "ds_cnn:xs", "image": "small_cnn:16", "anomaly": "fc_autoencoder:64"}
ENGINE_CODE_ALLOWANCE = 24 * 1024  # flash for kernels, glue and firmware besides the weights


@dataclass
class TrainResult:
    out_dir: Path
    tflite_path: Path
    card_path: Path
    card: dict[str, Any]
    dataset: Dataset


def load_dataset(task: str, dataset: str, seed: int = 0, size: str = "default",
                 keywords: list[str] | None = None) -> Dataset:
    """Resolve a dataset name ('builtin', 'digits') or a folder for a task. keywords: for a
    keyword folder tree, the words to tell apart (the others become _unknown_)."""
    if keywords and (task != "kws" or dataset == "builtin"):
        raise TinyDeployError("--keywords picks words from a keyword folder tree",
                              "use it with --task kws --dataset PATH")
    if task == "kws":
        if dataset == "builtin":
            from tinydeploy.datasets.synth_kws import synth_kws

            return synth_kws(per_class={"tiny": 40, "default": 160}[size], seed=seed)
        from tinydeploy.datasets.speech_commands import speech_commands

        return speech_commands(dataset, seed, keywords=keywords)
    if task == "image":
        from tinydeploy.datasets.images import digits, open_image_dataset

        return digits(seed) if dataset in ("digits", "builtin") else open_image_dataset(dataset, seed)
    if task == "anomaly":
        from tinydeploy.datasets.machine_sounds import machine_folder, synthetic_machines

        return synthetic_machines(seed) if dataset == "builtin" else machine_folder(dataset, seed)
    raise TinyDeployError(f"unknown task '{task}'", "use --task kws, image or anomaly")


def _set_seed(seed: int) -> None:
    """Seed everything and reset Keras's layer-name counters, which end up in the .tflite."""
    import keras
    import tensorflow as tf

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _confusion(y: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    m = np.zeros((n, n), np.int64)
    np.add.at(m, (y, pred), 1)
    return m


def quantized_outputs(tflite: bytes, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, Any]:
    """(integer inputs, dequantized float outputs, input details) over float features x, on
    TFLite's reference kernels; the inputs take the model's input type (int8 or int16)."""
    from tinydeploy.quantize import quantize_inputs
    from tinydeploy.reference import ReferenceInterpreter
    from tinydeploy.tflite_reader import parse_model

    ref = ReferenceInterpreter(tflite)
    model = parse_model(tflite)
    inp, outp = model.tensors[model.inputs[0]], model.tensors[model.outputs[0]]
    scale, zp = inp.scale0, inp.zp0
    oscale, ozp = outp.scale0, outp.zp0
    xq = quantize_inputs(x, scale, zp, inp.dtype)
    outs = np.stack([ref.run([xi[None]])[0][0] for xi in xq]).astype(np.float32)
    return xq, (outs - ozp) * oscale, (scale, zp)


def _plots(out: Path, history: dict[str, list[float]], confusion: np.ndarray | None,
           classes: list[str], label: str = "int8") -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in ("loss", "accuracy") if k in history]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.5), squeeze=False)
    for ax, key in zip(axes[0], keys):
        ax.plot(history.get(key, []), label="train")
        ax.plot(history.get(f"val_{key}", []), label="validation")
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "training_curves.png", dpi=100)
    plt.close(fig)
    if confusion is None:
        return ["training_curves.png"]
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=90)
    ax.set_yticks(range(len(classes)), classes)
    for i in range(len(classes)):
        for j in range(len(classes)):
            if confusion[i, j]:
                ax.text(j, i, str(confusion[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if confusion[i, j] > confusion.max() / 2 else "black")
    ax.set_xlabel(f"predicted ({label})")
    ax.set_ylabel("true")
    ax.set_title(f"{label} confusion matrix (test split)")
    fig.tight_layout()
    fig.savefig(out / "confusion_matrix.png", dpi=100)
    plt.close(fig)
    return ["training_curves.png", "confusion_matrix.png"]


def choose_for_board(name: str, ds: Dataset, board_name: str,
                     activations: str = "int8") -> tuple[dict[str, Any], str]:
    """The largest zoo size of `name` whose compiled model (int8 or 16x8) fits the board, and
    why."""
    from tinydeploy import zoo
    from tinydeploy.boards import get_board
    from tinydeploy.compiler import compile_model
    from tinydeploy.firmware import ram_needed
    from tinydeploy.quantize import quantize_model

    board = get_board(board_name)
    reasons = []
    classes = len(ds.classes) if ds.test_groups is None else 0
    for knobs in zoo.ladder(name):
        spec = zoo.spec_string(name, knobs)
        compiled = compile_model(quantize_model(zoo.build(name, ds.input_shape, classes, **knobs),
                                                ds.train.x, samples=8, activations=activations),
                                 name=spec)
        flash = compiled.weight_bytes + ENGINE_CODE_ALLOWANCE
        ram = ram_needed(compiled)
        if flash <= board.flash_size and ram <= board.ram_size:
            why = (f"{spec} fits {board.name}: about {flash:,} of {board.flash_size:,} flash bytes "
                   f"and {ram:,} of {board.ram_size:,} RAM bytes")
            return knobs, "; ".join(reasons + [why])
        reasons.append(f"{spec} needs about {flash:,} flash and {ram:,} RAM bytes")
    raise TinyDeployError(f"no {name} size fits {board.name} ({'; '.join(reasons)})",
                          "pick a board with more memory or a smaller model family")


class _Pruner:
    """Magnitude pruning for Keras 3: kernels' smallest weights are zeroed on a polynomial schedule
    that reaches `sparsity` at the last epoch (tensorflow-model-optimization needs legacy Keras)."""

    def __init__(self, model: Any, sparsity: float, epochs: int) -> None:
        import keras

        self.model, self.sparsity, self.epochs = model, sparsity, max(epochs, 1)
        self.kernels = [w for layer in model.layers for w in layer.weights
                        if w.path.endswith("kernel") and len(w.shape) > 1]
        pruner = self

        class Callback(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                pruner.prune(1 - (1 - (epoch + 1) / pruner.epochs) ** 3)

        self.callback = Callback()

    def prune(self, progress: float) -> None:
        target = self.sparsity * min(1.0, progress)
        for w in self.kernels:
            v = np.asarray(w.numpy())
            k = int(v.size * target)
            if k:
                threshold = np.partition(np.abs(v).reshape(-1), k - 1)[k - 1]
                w.assign(np.where(np.abs(v) <= threshold, 0, v))

    def measured(self) -> float:
        total = sum(int(np.prod(w.shape)) for w in self.kernels)
        zeros = sum(int(np.sum(np.asarray(w.numpy()) == 0)) for w in self.kernels)
        return zeros / max(total, 1)


def _distill_targets(teacher: Any, x: np.ndarray, y: np.ndarray, classes: int) -> np.ndarray:
    return np.concatenate([np.eye(classes, dtype=np.float32)[y],
                           teacher.predict(x, verbose=0).astype(np.float32)], axis=1)


def _distill_loss(classes: int, temperature: float = 4.0, alpha: float = 0.3) -> Any:
    """Hinton distillation: alpha * CE(labels) + (1 - alpha) * T^2 * KL(teacher_T || student_T).
    The zoo's models end in softmax, so log-probabilities serve as logits."""
    import keras.ops as K

    def loss(y_true: Any, y_pred: Any) -> Any:
        onehot, teacher = y_true[:, :classes], y_true[:, classes:]
        eps = 1e-7
        ce = -K.sum(onehot * K.log(y_pred + eps), axis=-1)
        soft_t = K.softmax(K.log(teacher + eps) / temperature)
        soft_s = K.softmax(K.log(y_pred + eps) / temperature)
        kl = K.sum(soft_t * (K.log(soft_t + eps) - K.log(soft_s + eps)), axis=-1)
        return alpha * ce + (1 - alpha) * temperature ** 2 * kl

    return loss


def _distill_accuracy(classes: int) -> Any:
    import keras.ops as K

    def accuracy(y_true: Any, y_pred: Any) -> Any:
        return K.cast(K.equal(K.argmax(y_true[:, :classes], -1), K.argmax(y_pred, -1)), "float32")

    return accuracy


LABELS = {"int8": "int8", "int16": "16x8 (int16 activations, int8 weights)"}


def _metric(anomaly: bool, outputs: np.ndarray, ds: Dataset) -> float:
    """Accuracy of class outputs, or AUC of an autoencoder's reconstructions, on the test split."""
    if anomaly:
        from tinydeploy.datasets.machine_sounds import auc

        err = np.mean((outputs.reshape(len(outputs), -1)
                       - ds.test.x.reshape(len(outputs), -1)) ** 2, 1)
        clips = np.array([err[ds.test_groups == g].mean()
                          for g in range(len(ds.group_labels))])  # type: ignore[arg-type]
        return auc(clips, ds.group_labels)  # type: ignore[arg-type]
    return float(np.mean(np.argmax(outputs, -1) == ds.test.y))


def _engine_figures(tflite: bytes, name: str) -> dict[str, Any]:
    """What the compiled model costs (MACs, flash, arena), or why the engine cannot compile it
    yet (a 16x8 model whose operators lack int16 kernels still gets its card and accuracy)."""
    from tinydeploy.compiler import compile_model
    from tinydeploy.ops.base import Unsupported

    try:
        compiled = compile_model(tflite, name=name)
    except Unsupported as exc:
        step(f"the engine does not compile this model: {exc.problem}")
        return {"compile_error": exc.problem}
    return {"macs": compiled.macs, "flash_weights_bytes": compiled.weight_bytes,
            "flash_estimate_bytes": compiled.weight_bytes + ENGINE_CODE_ALLOWANCE,
            "arena_bytes": compiled.arena_bytes}


def train(task: str = "kws", dataset: str | Dataset = "builtin", model: str | None = None,
          epochs: int = 20, out_dir: str | Path = "out/train", seed: int = 0,
          batch_size: int = 64, size: str = "default", board: str | None = None,
          prune: float = 0.0, distill_from: str | None = None, qat: bool = False,
          keywords: list[str] | None = None, augment: bool = True,
          activations: str = "int8", prune_channels: float = 0.0) -> TrainResult:
    """Train, quantize (int8, or 16x8 with activations="int16") and describe a model. Writes
    model.tflite, model_card.json and plots (and model_int8_twin.tflite for 16x8).

    qat: after training, a few epochs of quantization-aware training (tinydeploy/qat.py); the
    card reports its int8 accuracy beside post-training quantization's.
    prune_channels: after training, remove this fraction of the filters (tinydeploy/
    channel_prune.py) and fine-tune; the card has MACs, memory and the instructions measured on
    `board` (its simulated twin; qemu-m4 without one) before and after.

    augment: fresh augmentation every epoch (tinydeploy/augment.py), seeded by `seed`."""
    import keras

    from tinydeploy.augment import augmenter_for
    from tinydeploy import zoo
    from tinydeploy.quantize import ACTIVATIONS, quantize_model

    if not 0.0 <= prune < 1.0:
        raise TinyDeployError(f"--prune {prune} is not a sparsity in [0, 1)", "try --prune 0.5")
    if activations not in ACTIVATIONS:
        raise TinyDeployError(f"--activations {activations} is not a quantization tinydeploy makes",
                              "use int8, or int16 for 16x8 (int16 activations, int8 weights)")
    if qat and activations != "int8":
        raise TinyDeployError("--qat fake-quantizes activations to int8, not to int16",
                              "use --qat with int8 activations, or 16x8 without --qat")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _set_seed(seed)
    step(f"preparing dataset '{dataset if isinstance(dataset, str) else dataset.name}'")
    ds = (dataset if isinstance(dataset, Dataset)
          else load_dataset(task, dataset, seed, size, keywords))
    anomaly = ds.test_groups is not None
    if len(ds.train.y) == 0:
        raise TinyDeployError("the dataset has no training examples", "check the dataset folder")
    name, knobs = zoo.parse_spec(model or DEFAULT_MODELS[task])
    board_choice = None
    if board:
        knobs, board_choice = choose_for_board(name, ds, board, activations)
        step(f"board {board}: {board_choice}")
    classes = 0 if anomaly else len(ds.classes)
    net = zoo.build(name, ds.input_shape, classes, **knobs)
    callbacks = []
    pruner = _Pruner(net, prune, epochs) if prune else None
    if pruner:
        callbacks.append(pruner.callback)
    fit_y, val_y = ds.train.y, ds.val.y
    if anomaly:
        net.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
        fit_y, val_y = ds.train.x, ds.val.x
    elif distill_from:
        t_name, t_knobs = zoo.parse_spec(distill_from)
        teacher = zoo.build(t_name, ds.input_shape, classes, **t_knobs)
        teacher.compile(optimizer=keras.optimizers.Adam(2e-3),
                        loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        step(f"training the teacher {teacher.name} ({teacher.count_params():,} parameters)")
        teacher.fit(ds.train.x, ds.train.y, epochs=epochs, batch_size=batch_size, verbose=0)
        val_y = _distill_targets(teacher, ds.val.x, ds.val.y, classes)
        net.compile(optimizer=keras.optimizers.Adam(2e-3), loss=_distill_loss(classes),
                    metrics=[_distill_accuracy(classes)])
    else:
        net.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
                    metrics=["accuracy"])
    aug, aug_card = augmenter_for(ds, task, augment)
    step(f"training {net.name} ({net.count_params():,} parameters) for {epochs} epochs on "
         f"{len(ds.train.y):,} examples"
         + (f", {aug_card['kind']} augmentation" if aug else ", no augmentation"))
    verbose = os.environ.get("TINYDEPLOY_QUIET") != "1"
    history: dict[str, list[float]] = {}
    for epoch in range(epochs):
        x = aug.epoch(seed, epoch) if aug else ds.train.x
        if distill_from and (aug or epoch == 0):  # the teacher's view of these very inputs
            fit_y = _distill_targets(teacher, x, ds.train.y, classes)
        hist = net.fit(x, fit_y, validation_data=(ds.val.x, val_y) if len(val_y) else None,
                       initial_epoch=epoch, epochs=epoch + 1, batch_size=batch_size, verbose=0,
                       shuffle=True, callbacks=callbacks)
        for k, vals in hist.history.items():
            history.setdefault(k, []).extend(float(v) for v in vals)
        if verbose:
            print(f"epoch {epoch + 1}/{epochs}: "
                  + ", ".join(f"{k} {v[-1]:.4f}" for k, v in history.items()), flush=True)
    if pruner:
        pruner.prune(1.0)
    channel_pruning = None
    if prune_channels:
        from tinydeploy.channel_prune import ChannelPruning

        step(f"removing {prune_channels:.0%} of the prunable filters, then fine-tuning")
        channel_pruning = ChannelPruning(net, ds, prune_channels, max(2, epochs // 4), seed,
                                         batch_size, aug, board or "qemu-m4", out / "pruning")
        net = channel_pruning.net
    qat_card = None
    if qat:
        from tinydeploy.qat import quantization_aware

        qat_epochs = max(2, epochs // 4)
        step(f"quantization-aware training: {qat_epochs} more epochs with fake-quantized weights "
             "and activations")
        qat_card = quantization_aware(net, ds, qat_epochs, seed, batch_size, aug)
    label = LABELS[activations]
    step(f"quantizing to full-integer {label}")
    tflite = quantize_model(net, ds.train.x, activations=activations)
    tflite_path = out / "model.tflite"
    tflite_path.write_bytes(tflite)
    float_out = net.predict(ds.test.x, verbose=0)
    _, q_out, (in_scale, in_zp) = quantized_outputs(tflite, ds.test.x)
    metric = "auc" if anomaly else "accuracy"
    m_float, m_q = _metric(anomaly, float_out, ds), _metric(anomaly, q_out, ds)
    conf = None if anomaly else _confusion(ds.test.y, np.argmax(q_out, axis=-1), len(ds.classes))
    twin: dict[str, Any] = {}
    if activations != "int8":
        step("quantizing the same weights to int8 (the 16x8 model's twin)")
        twin_tflite = quantize_model(net, ds.train.x, activations="int8")
        (out / "model_int8_twin.tflite").write_bytes(twin_tflite)
        twin = {f"{metric}_int8_twin": _metric(anomaly, quantized_outputs(twin_tflite,
                                                                           ds.test.x)[1], ds),
                "int8_twin_tflite": "model_int8_twin.tflite"}
        if metric != "accuracy":
            twin["accuracy_int8_twin"] = twin[f"{metric}_int8_twin"]
    inp = net.input_shape
    card: dict[str, Any] = {
        "model": net.name, "model_spec": zoo.spec_string(name, knobs), "task": task,
        "dataset": ds.name, "dataset_description": ds.description, "classes": ds.classes,
        "examples": {"train": len(ds.train.y), "val": len(ds.val.y), "test": len(ds.test.y)},
        "activations": activations, "weights": "int8", "quantization": label,
        "input": {"shape": [1, *inp[1:]], "dtype": activations, "scale": float(in_scale),
                  "zero_point": int(in_zp)},
        "metric": metric, "accuracy_float": m_float, "accuracy_quantized": m_q,
        f"accuracy_{activations}": m_q, f"{metric}_float": m_float,
        f"{metric}_quantized": m_q, f"{metric}_{activations}": m_q, **twin,
        "parameters": int(net.count_params()),
        **_engine_figures(tflite, net.name),
        "tflite_bytes": len(tflite), "epochs": epochs, "seed": seed, "history": history,
        "split_rule": ds.split_rule or "not recorded", "augmentation": aug_card,
    }
    if not anomaly:
        card["class_counts"] = {
            name: {cls: int(np.sum(split.y == i)) for i, cls in enumerate(ds.classes)}
            for name, split in (("train", ds.train), ("val", ds.val), ("test", ds.test))}
    if conf is not None:
        card[f"confusion_matrix_{activations}"] = conf.tolist()
    if board_choice:
        card["board"] = board
        card["board_choice"] = board_choice
    if pruner:
        card["sparsity"] = round(pruner.measured(), 4)
        card["sparsity_note"] = ("zeroed weights compress well, but the integer file and the "
                                 "engine do not skip them yet: flash and latency are unchanged")
    if distill_from:
        card["distilled_from"] = distill_from
    if qat_card:
        card["qat"] = {**qat_card, "accuracy_int8_qat": m_q}
    if channel_pruning:
        card["channel_pruning"] = channel_pruning.after(tflite, m_q)
    card["plots"] = _plots(out, history, conf, ds.classes, "int8" if activations == "int8"
                           else "16x8")
    card_path = out / "model_card.json"
    card_path.write_text(json.dumps(card, indent=2))
    beside = (f", its int8 twin {twin[f'{metric}_int8_twin']:.1%}" if twin else "")
    step(f"{metric} on the test split: float {m_float:.1%}, {activations} {m_q:.1%}{beside}")
    return TrainResult(out, tflite_path, card_path, card, ds)
