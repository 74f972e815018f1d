"""The ahead-of-time compiler: `.tflite` -> validation -> lowered layers -> memory plan -> C.

`compile_model` is lazy: it returns the layers, the plan and the costs (arena, flash, MACs) at once,
and renders C only when asked (`.c`, `.write`). Results are cached by the model's bytes and the
options, so trying another weight layout or asking for the same model twice costs nothing.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from functools import cached_property, partial
from pathlib import Path

from tinydeploy.codegen import GeneratedC, generate_c
from tinydeploy.compile_options import PATCH_OVERHEAD, CompileOptions, parse_layout
from tinydeploy.errors import TinyDeployError
from tinydeploy.lowering import check_supported, lower_model
from tinydeploy.memory_plan import MemoryPlan, plan_model
from tinydeploy.ops.base import Layer, layer_name
from tinydeploy.patch import PatchStage, patched_plan
from tinydeploy.tflite_reader import Model, Tensor, parse_model
from tinydeploy.validate import validate_graphs, validate_tensors

_CACHE: OrderedDict[tuple[str, str, CompileOptions], "CompiledModel"] = OrderedDict()
_CACHE_SIZE = 32
_CTYPE_BYTES = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "int64_t": 8}  # others: 4


def layer_weight_bytes(layer: Layer) -> int:
    """Bytes of the constant arrays one layer puts in flash (weights, biases, multipliers)."""
    return sum(c.values.size * _CTYPE_BYTES.get(c.ctype, 4) for c in layer.consts)


@dataclass
class CompiledModel:
    """Everything the later stages need to know about a compiled model."""

    name: str
    model: Model
    graphs: list[list[Layer]]   # the layers of each subgraph; graphs[0] is what invoke runs
    plans: list[MemoryPlan]
    options: CompileOptions = field(default_factory=CompileOptions)
    tflite: bytes = b""

    @property
    def layers(self) -> list[Layer]:
        """The entry subgraph's layers."""
        return self.graphs[0]

    @property
    def plan(self) -> MemoryPlan:
        """The entry subgraph's memory plan (its arena region starts at 0)."""
        return self.plans[0]

    @property
    def layout(self) -> str:
        """The weight layout spec (CompileOptions.layout): one layout, or per layer."""
        return self.options.layout

    @property
    def named_layers(self) -> list[tuple[str, Layer]]:
        """Every subgraph's layers with their names (L3, S1L2: the prefix of their C symbols)."""
        return [(layer_name(g, lay.op.index), lay)
                for g, layers in enumerate(self.graphs) for lay in layers]

    @property
    def layer_layouts(self) -> dict[str, str]:
        """The weight layout of each layer that has one to choose (convolution, fully connected,
        LSTM), by name."""
        return {name: lay.layout for name, lay in self.named_layers if lay.layout is not None}

    @property
    def layout_mix(self) -> str:
        """How many layers hold each weight layout, e.g. "int16 x12, int8 x3"."""
        counts: dict[str, int] = {}
        for lay in self.layer_layouts.values():
            counts[lay] = counts.get(lay, 0) + 1
        return ", ".join(f"{k} x{n}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))

    @property
    def prefix(self) -> str:
        return self.options.prefix

    def with_options(self, **changes: object) -> "CompiledModel":
        """The same model compiled with other options (weight layout, rounding, C prefix, patch
        overhead)."""
        options = replace(self.options, **changes)
        return self if options == self.options else _compile(self.tflite, self.name, options)

    def with_layout(self, layout: str) -> "CompiledModel":
        """The same model with its convolution/FC weights in another layout (weight_layout.py):
        one for every layer ("int8") or per layer ("int8,L3=int16")."""
        return self.with_options(layout=layout)

    @cached_property
    def c(self) -> GeneratedC:
        return generate_c(self.model, self.graphs, self.plans, self.name, self.prefix)

    @property
    def arena_bytes(self) -> int:
        """The whole arena: every subgraph's region, one after another."""
        last = self.plans[-1]
        return last.base + last.arena_bytes if len(self.plans) > 1 else last.arena_bytes

    @property
    def patch(self) -> PatchStage | None:
        """The layers the entry subgraph computes in row bands, if any (tinydeploy/patch.py)."""
        return self.plan.patch

    @property
    def state_bytes(self) -> int:
        return self.plan.state_bytes

    @property
    def weight_bytes(self) -> int:
        """Bytes of constant data (weights, biases, multipliers) the model puts in flash."""
        return sum(layer_weight_bytes(lay) for layers in self.graphs for lay in layers)

    @property
    def macs(self) -> int:
        return sum(lay.macs for layers in self.graphs for lay in layers)

    @property
    def input_tensors(self) -> list[Tensor]:
        return [self.model.tensors[i] for i in self.model.inputs]

    @property
    def output_tensors(self) -> list[Tensor]:
        return [self.model.tensors[i] for i in self.model.outputs]

    @property
    def input_bytes(self) -> int:
        return sum(t.nbytes for t in self.input_tensors)

    @property
    def output_bytes(self) -> int:
        return sum(t.nbytes for t in self.output_tensors)

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write <prefix>.h/.c into out_dir; returns the paths."""
        d = Path(out_dir)
        d.mkdir(parents=True, exist_ok=True)
        h, c = d / f"{self.prefix}.h", d / f"{self.prefix}.c"
        h.write_text(self.c.header)
        c.write_text(self.c.source)
        return [h, c]


def compile_model(source: str | Path | bytes, name: str | None = None, layout: str = "int16",
                  rounding: str = "tflite", prefix: str = "td_model",
                  patch_overhead: float | None = PATCH_OVERHEAD) -> CompiledModel:
    """Compile a `.tflite` file (path or bytes). Invalid files and unsupported ops fail here, with
    one error, before any C is written.

    layout: how convolution/FC weights are stored: "int16" (pre-widened for the DSP kernels: faster,
    twice the flash for those weights), "int8", or "rows" (Helium), for every layer or per layer
    ("int8,L3=int16": compile_options.parse_layout); the firmware stage picks per board
    (firmware.weights_for_board). rounding: "tflite" (TensorFlow/LiteRT's reference
    kernels) or "tflm" (TFLite Micro's), where they differ. prefix: the C name of the model.
    patch_overhead: the most extra work (a fraction of the model's estimated instructions)
    patch-based inference may add to shrink the arena (tinydeploy/patch.py); None: no patches.
    """
    if isinstance(source, bytes):
        data, label, where = source, name or "model", name or "<bytes>"
    else:
        p = Path(source)
        if not p.is_file():
            raise TinyDeployError(f"{p}: no such model file", "check the path to the .tflite file")
        data, label, where = p.read_bytes(), name or p.stem, str(p)
    return _compile(data, label, CompileOptions(layout, rounding, prefix, patch_overhead), where)


def _check_layer_layouts(compiled: CompiledModel) -> None:
    """A per-layer weight layout names a layer that has weights to lay out."""
    named = dict(compiled.named_layers)
    for name in parse_layout(compiled.layout)[1]:
        if name in compiled.layer_layouts:
            continue
        problem = (f"weight layout given for {name} ({named[name].op.opcode}) of model "
                   f"'{compiled.name}': it has no weights to lay out" if name in named else
                   f"weight layout given for {name}: model '{compiled.name}' has no layer {name}")
        raise TinyDeployError(problem, "name convolution, fully connected or LSTM layers: "
                              f"{_some(list(compiled.layer_layouts)) or 'this model has none'}")


def _some(names: list[str], shown: int = 8) -> str:
    """The first few names of a list, for a hint."""
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown
                                       else "")


def _compile(data: bytes, label: str, options: CompileOptions,
             where: str | None = None) -> CompiledModel:
    key = (hashlib.sha256(data).hexdigest(), label, options)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    model = parse_model(data, where or label)
    validate_tensors(model)
    check_supported(model)
    validate_graphs(model, options)
    graphs = lower_model(model, options)
    refine = None
    if options.patch_overhead is not None:
        refine = partial(patched_plan, max_overhead=options.patch_overhead)
    compiled = CompiledModel(label, model, graphs, plan_model(model, graphs, refine), options, data)
    _check_layer_layouts(compiled)
    _CACHE[key] = compiled
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return compiled

