"""What a compilation is asked for, beside the model itself."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass

from tinydeploy.errors import TinyDeployError
from tinydeploy.qtype import ROUNDINGS

LAYOUTS = ("int16", "int8", "rows")  # weight_layout.py: how conv/FC weights sit in flash
PATCH_OVERHEAD = 0.10  # default bound of patch-based inference's extra work (patch.py)


@dataclass(frozen=True)
class CompileOptions:
    """layout: conv/FC weights pre-widened to int16 (DSP cores), int8, or int8 rows (Helium).
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
        if self.layout not in LAYOUTS:
            raise TinyDeployError(f"unknown weight layout '{self.layout}'",
                                  f"use one of {', '.join(LAYOUTS)}")
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
