"""Structured pruning: whole filters removed from a trained Keras model, so the compiled model has
fewer MACs, fewer weights and smaller activations on the device (unlike magnitude pruning, whose
zeros the int8 kernels still multiply).

The functional graph is walked once to find which channels may go. A convolution or dense layer
starts a channel space (its filters); batch norms, activations, pooling and depthwise
convolutions carry it through; concatenations join spaces side by side; a reshape of a 1x1 map
keeps it. A space is fixed (kept whole) where an Add joins it to another (residual shortcuts must
agree channel for channel), where it reaches the model's output, and where a layer the walk does
not know reads it. In every other space the filters with the smallest L1 norm (after the batch
norm that follows, if any) are removed, and the layers that read the space lose the matching
input channels. The rebuilt model is fine-tuned for a few epochs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinydeploy.datasets.base import Dataset
from tinydeploy.errors import TinyDeployError

PASS_THROUGH = {"BatchNormalization", "ReLU", "Activation", "MaxPooling2D", "AveragePooling2D",
                "GlobalAveragePooling2D", "Dropout", "ZeroPadding2D"}
LEARNING_RATE = 1e-3
MULTIPLE = 4   # channels kept in multiples of this (the kernels' channel groups), where possible


@dataclass
class Space:
    """The channels one layer creates and the layers they reach."""

    size: int
    source: Any = None            # the Conv2D or Dense layer whose filters these are
    fixed: str = ""               # why every channel stays ("" : prunable)
    importance: np.ndarray | None = None
    keep: np.ndarray | None = None

    def kept(self) -> np.ndarray:
        return self.keep if self.keep is not None else np.arange(self.size)


@dataclass
class Plan:
    """Per layer name: the channel spaces of its output (several after a concatenation) and of
    its input."""

    outputs: dict[str, list[Space]] = field(default_factory=dict)
    inputs: dict[str, list[Space]] = field(default_factory=dict)
    spaces: list[Space] = field(default_factory=list)


def _indices(layout: list[Space]) -> np.ndarray:
    """The kept channel indices of a layout (spaces side by side)."""
    out, offset = [], 0
    for s in layout:
        out.append(offset + s.kept())
        offset += s.size
    return np.concatenate(out)


def _fix(layout: list[Space], why: str) -> None:
    for s in layout:
        s.fixed = s.fixed or why


def plan_model(model: Any) -> Plan:
    """Channel spaces of every layer of a functional model (see the module's docstring)."""
    plan = Plan()

    def new(size: int, source: Any = None, fixed: str = "") -> list[Space]:
        s = Space(size, source, fixed)
        plan.spaces.append(s)
        return [s]

    for layer in model.layers:
        kind = type(layer).__name__
        nodes = layer._inbound_nodes
        if kind == "InputLayer":
            plan.outputs[layer.name] = new(int(layer.output.shape[-1]), fixed="model input")
            continue
        if len(nodes) != 1:
            raise TinyDeployError(f"layer '{layer.name}' is called {len(nodes)} times",
                                  "channel pruning needs each layer used once")
        ins = [plan.outputs[t._keras_history.operation.name] for t in nodes[0].input_tensors]
        plan.inputs[layer.name] = ins[0]
        channels = int(layer.output.shape[-1])
        if kind == "Add":
            for layout in ins:
                _fix(layout, "joined by a residual add")
            out = ins[0]
        elif kind == "Concatenate":
            out = [s for layout in ins for s in layout]
        elif (kind in PASS_THROUGH or (kind == "DepthwiseConv2D" and layer.depth_multiplier == 1)
              or (kind in ("Reshape", "Flatten") and np.prod(layer.input.shape[1:-1]) == 1)):
            out = ins[0]
        elif (kind == "Conv2D" and layer.groups == 1) or kind == "Dense":
            out = new(channels, source=layer)
        else:
            for layout in ins:
                _fix(layout, f"read by {kind} '{layer.name}'")
            out = new(channels, fixed=f"made by {kind}")
        plan.outputs[layer.name] = out
    for t in model.outputs:
        _fix(plan.outputs[t._keras_history.operation.name], "model output")
    return plan


def _importance(model: Any, space: Space) -> np.ndarray:
    """L1 norm of each filter, times |gamma| / sqrt(var + eps) of a batch norm that reads it
    alone (the scale the converter folds into it)."""
    layer = space.source
    w = layer.get_weights()[0]
    norm = np.abs(w).reshape(-1, w.shape[-1]).sum(axis=0)
    readers = [r for r in model.layers for n in r._inbound_nodes
               if any(t._keras_history.operation is layer for t in n.input_tensors)]
    if len(readers) == 1 and type(readers[0]).__name__ == "BatchNormalization":
        bn = readers[0]
        gamma, _, _, var = bn.get_weights()
        norm = norm * np.abs(gamma) / np.sqrt(var + bn.epsilon)
    return norm


def _kept_count(size: int, ratio: float) -> int:
    n = max(1, round(size * (1 - ratio)))
    return min(size, -(-n // MULTIPLE) * MULTIPLE) if size >= 2 * MULTIPLE else n


def prune(model: Any, ratio: float) -> tuple[Any, dict[str, Any]]:
    """A new model with `ratio` of the filters of every prunable space removed, weights copied;
    and what was done: {layer: [filters before, after]} and the spaces kept whole, with why."""
    import keras

    if not 0.0 < ratio < 1.0:
        raise TinyDeployError(f"--prune-channels {ratio} is not a fraction in (0, 1)",
                              "try --prune-channels 0.5")
    plan = plan_model(model)
    pruned = {}
    for s in plan.spaces:
        if s.fixed or s.source is None:
            continue
        s.importance = _importance(model, s)
        n = _kept_count(s.size, ratio)
        s.keep = np.sort(np.argsort(-s.importance, kind="stable")[:n])
        pruned[s.source.name] = [s.size, n]
    if not pruned:
        raise TinyDeployError(f"no layer of {model.name} can lose channels (every channel "
                              "space is joined by residual adds or is the output)",
                              "prune a model without residual connections, e.g. ds_cnn")

    def clone(layer: Any) -> Any:
        config = layer.get_config()
        kind = type(layer).__name__
        out = plan.outputs.get(layer.name)
        if kind == "Conv2D" and out and out[0].source is layer:
            config["filters"] = len(out[0].kept())
        elif kind == "Dense" and out and out[0].source is layer:
            config["units"] = len(out[0].kept())
        elif kind == "Reshape" and plan.outputs[layer.name] is plan.inputs[layer.name]:
            # a 1x1 map flattened: as many values as channels kept
            config["target_shape"] = (*config["target_shape"][:-1],
                                      len(_indices(plan.inputs[layer.name])))
        return layer.__class__.from_config(config)

    new = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        kind = type(layer).__name__
        ins = _indices(plan.inputs[layer.name])
        outs = _indices(plan.outputs[layer.name])
        if kind == "Conv2D":
            weights[0] = weights[0][:, :, ins][..., outs]
        elif kind == "Dense":
            weights[0] = weights[0][ins][:, outs]
        elif kind == "DepthwiseConv2D":
            weights[0] = weights[0][:, :, ins]
        if kind in ("Conv2D", "Dense", "DepthwiseConv2D"):
            weights[1:] = [w[outs] for w in weights[1:]]
        elif kind == "BatchNormalization":
            weights = [w[outs] for w in weights]
        new.get_layer(layer.name).set_weights(weights)
    fixed = sorted({s.fixed for s in plan.spaces if s.fixed and s.source is not None})
    return new, {"pruned_filters": pruned, "kept_whole": fixed}


def _figures(tflite: bytes, board: Any) -> dict[str, Any]:
    from tinydeploy.compiler import compile_model
    from tinydeploy.firmware import flash_needed, ram_needed, weights_for_board

    m = weights_for_board(compile_model(tflite, name="pruning"), board)
    return {"macs": m.macs, "weights_bytes": m.weight_bytes, "arena_bytes": m.arena_bytes,
            "flash_bytes": flash_needed([m], board).total, "ram_bytes": ram_needed(m)}


class ChannelPruning:
    """Prune a trained model's channels, fine-tune it, and measure both on a simulated board:
    `before` on construction, `after(tflite, metric)` once the pruned model is quantized."""

    def __init__(self, net: Any, ds: Dataset, ratio: float, epochs: int, seed: int,
                 batch_size: int, augmenter: Any, board_name: str, work: Path) -> None:
        import keras

        from tinydeploy.boards import get_board
        from tinydeploy.costmodel import simulated_twin
        from tinydeploy.qat import int8_metric
        from tinydeploy.quantize import quantize_int8

        self.board = simulated_twin(get_board(board_name))
        self.work = work
        dense = quantize_int8(net, ds.train.x)
        self.before = {"parameters": int(net.count_params()), **_figures(dense, self.board),
                       "instructions": self._instructions(dense),
                       "accuracy_int8": int8_metric(dense, ds)}
        self.net, self.done = prune(net, ratio)
        anomaly = ds.test_groups is not None
        self.net.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE),
                         loss="mse" if anomaly else "sparse_categorical_crossentropy")
        for epoch in range(epochs):
            x = augmenter.epoch(seed, 20_000 + epoch) if augmenter else ds.train.x
            self.net.fit(x, x if anomaly else ds.train.y, epochs=1, batch_size=batch_size,
                         verbose=0, shuffle=True)
        self.ratio, self.epochs = ratio, epochs

    def _instructions(self, tflite: bytes) -> int:
        from tinydeploy.compiler import compile_model
        from tinydeploy.costmodel import measure

        totals, _ = measure([compile_model(tflite, name="pruning")], self.board, self.work)
        return round(totals[0])

    def after(self, tflite: bytes, metric: float) -> dict[str, Any]:
        """The model card's record: before and after, and what changed."""
        after = {"parameters": int(self.net.count_params()), **_figures(tflite, self.board),
                 "instructions": self._instructions(tflite), "accuracy_int8": metric}
        return {"ratio": self.ratio, "fine_tune_epochs": self.epochs, **self.done,
                "measured_on": self.board.name, "before": self.before, "after": after,
                "note": "instructions: one inference in QEMU (-icount); accuracy on the test "
                        "split, int8 on TFLite's reference kernels; before = the trained model "
                        "quantized as it was"}
