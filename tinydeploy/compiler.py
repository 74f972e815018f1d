"""The ahead-of-time compiler: `.tflite` -> lowered layers -> memory plan -> C sources."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tinydeploy.codegen import GeneratedC, generate_c
from tinydeploy.lowering import Layer, lower_model
from tinydeploy.memory_plan import MemoryPlan, plan_memory
from tinydeploy.tflite_reader import Model, load_model, parse_model


@dataclass
class CompiledModel:
    """Everything the later stages need to know about a compiled model."""

    name: str
    model: Model
    layers: list[Layer]
    plan: MemoryPlan
    c: GeneratedC
    layout: str = "int16"

    def with_layout(self, layout: str) -> "CompiledModel":
        """The same model with its convolution/FC weights in another layout (weight_layout.py)."""
        return self if layout == self.layout else _compile(self.model, self.name, layout)

    @property
    def arena_bytes(self) -> int:
        return self.plan.arena_bytes

    @property
    def weight_bytes(self) -> int:
        """Bytes of constant data (weights, biases, multipliers) the model puts in flash."""
        size = {"int8_t": 1, "int16_t": 2}
        return sum(c.values.size * size.get(c.ctype, 4) for lay in self.layers for c in lay.consts)

    @property
    def macs(self) -> int:
        return sum(lay.macs for lay in self.layers)

    @property
    def input_tensors(self):  # type: ignore[no-untyped-def]
        return [self.model.tensors[i] for i in self.model.inputs]

    @property
    def output_tensors(self):  # type: ignore[no-untyped-def]
        return [self.model.tensors[i] for i in self.model.outputs]

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write td_model.h/.c into out_dir; returns the paths."""
        d = Path(out_dir)
        d.mkdir(parents=True, exist_ok=True)
        h, c = d / "td_model.h", d / "td_model.c"
        h.write_text(self.c.header)
        c.write_text(self.c.source)
        return [h, c]


def compile_model(source: str | Path | bytes, name: str | None = None,
                  layout: str = "int16") -> CompiledModel:
    """Compile a `.tflite` file (path or bytes). Unsupported ops fail here, before any C is written.

    layout: how convolution/FC weights are stored: "int16" (pre-widened for the DSP kernels: faster,
    twice the flash for those weights), "int8", or "rows" (Helium); the firmware stage picks per
    board (firmware.weights_for_board).
    """
    if isinstance(source, bytes):
        model, label = parse_model(source), name or "model"
    else:
        model, label = load_model(source), name or Path(source).stem
    return _compile(model, label, layout)


def _compile(model: Model, label: str, layout: str) -> CompiledModel:
    layers = lower_model(model, layout)
    plan = plan_memory(model, layers)
    return CompiledModel(label, model, layers, plan, generate_c(model, layers, plan, label), layout)
