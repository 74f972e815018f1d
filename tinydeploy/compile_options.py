"""What a compilation is asked for, beside the model itself."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass

from tinydeploy.errors import TinyDeployError
from tinydeploy.qtype import ROUNDINGS

LAYOUTS = ("int16", "int8", "rows")  # weight_layout.py: how conv/FC weights sit in flash
PATCH_OVERHEAD = 0.10  # default bound of patch-based inference's extra work (patch.py)

_LAYER = re.compile(r"(?:S(\d+))?L(\d+)")  # a layer's C name (OpContext.name): L12, S1L3


def _layer_key(name: str) -> tuple[int, int]:
    m = _LAYER.fullmatch(name)
    assert m is not None
    return int(m.group(1) or 0), int(m.group(2))


def parse_layout(spec: str) -> tuple[str, dict[str, str]]:
    """A weight layout spec -> (the layout of every layer, {layer name: its own layout}).

    "int8" puts every layer's weights in one layout; "int8,L3=int16,L7=int16" puts layers L3 and
    L7 (C names: node 3 and 7 of the entry subgraph; S1L2 is node 2 of subgraph 1) in int16 and
    the others in int8 (firmware.weights_for_board makes such mixes to fit a board's flash)."""
    base, *rest = spec.split(",")
    layers: dict[str, str] = {}
    for item in rest:
        name, eq, lay = item.partition("=")
        if not eq or not _LAYER.fullmatch(name) or lay not in LAYOUTS:
            raise TinyDeployError(f"bad per-layer weight layout '{item}' in '{spec}'",
                                  "write LAYER=LAYOUT with a layer's C name (L12, S1L3) and "
                                  f"one of {', '.join(LAYOUTS)}, e.g. int8,L3=int16")
        if name in layers:
            raise TinyDeployError(f"layer {name} is given two weight layouts in '{spec}'",
                                  "name each layer once")
        layers[name] = lay
    if base not in LAYOUTS:
        raise TinyDeployError(f"unknown weight layout '{base}'",
                              f"use one of {', '.join(LAYOUTS)}, optionally followed by "
                              "per-layer ones: int8,L3=int16")
    return base, layers


def layout_spec(base: str, layers: dict[str, str]) -> str:
    """The canonical spec of a per-layer choice: layers in model order, none that only repeats
    the base layout (so equal choices compile once: CompiledModel caches by options)."""
    own = sorted((n for n, lay in layers.items() if lay != base), key=_layer_key)
    return ",".join([base, *(f"{n}={layers[n]}" for n in own)])


@dataclass(frozen=True)
class CompileOptions:
    """layout: conv/FC weights pre-widened to int16 (DSP cores), int8, or int8 rows (Helium), for
    every layer, or per layer ("int8,L3=int16": parse_layout); stored in canonical form.
    rounding: whose rounding the integer arithmetic follows where TFLite and TFLite Micro differ.
    prefix: the C name of the model (`<prefix>_invoke`, `<prefix>_desc`), so several models can
    share one firmware or host library. patch_overhead: patch-based inference (patch.py) may
    compute the first layers in row bands where that shrinks the arena, for at most this fraction
    of the model's work in extra work (recomputed halo rows, moved rows, more kernel calls, all in
    estimated instructions); None: never."""

    layout: str = "int16"
    rounding: str = "tflite"
    prefix: str = "td_model"
    patch_overhead: float | None = PATCH_OVERHEAD

    def __post_init__(self) -> None:
        object.__setattr__(self, "layout", layout_spec(*parse_layout(self.layout)))
        if self.rounding not in ROUNDINGS:
            raise TinyDeployError(f"unknown rounding '{self.rounding}'",
                                  f"use one of {', '.join(ROUNDINGS)}")
        if self.patch_overhead is not None and not 0 <= self.patch_overhead <= 10:
            raise TinyDeployError(f"patch overhead {self.patch_overhead} is out of range",
                                  "give a fraction of the model's work from 0 to 10 (0.1 is 10%), "
                                  "or none to turn patches off")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,40}", self.prefix):
            raise TinyDeployError(f"'{self.prefix}' is not a C identifier",
                                  "use letters, digits and underscores, not starting with a digit")

    def layer_layout(self, name: str) -> str:
        """The weight layout of the layer with this C name (OpContext.name)."""
        base, layers = parse_layout(self.layout)
        return layers.get(name, base)


def parse_patch_overhead(text: str) -> float | None:
    """A command line's patch overhead: a fraction ("0.1"), a percentage ("10%") or "off"."""
    if text.strip().lower() in ("off", "none"):
        return None
    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
        CompileOptions(patch_overhead=value)  # checks the range
    except (ValueError, TinyDeployError):
        raise argparse.ArgumentTypeError(
            f"'{text}' is not an overhead: give a fraction of the model's work from 0 to 10 "
            "(0.1), a percentage (10%) or off") from None
    return value


def add_patch_argument(p: argparse.ArgumentParser) -> None:
    """--patch-overhead, for the commands that compile models."""
    p.add_argument("--patch-overhead", type=parse_patch_overhead, default=PATCH_OVERHEAD,
                   metavar="FRACTION",
                   help="patch-based inference: compute the first layers in row bands where that "
                        "shrinks the arena, for at most this much extra work (recomputed rows, "
                        "a fraction of the model's estimated instructions: 0.1 or 10%%, the "
                        "default) or off")
