"""What a compilation is asked for, beside the model itself."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tinydeploy.errors import TinyDeployError
from tinydeploy.qtype import ROUNDINGS

LAYOUTS = ("int16", "int8", "rows")  # weight_layout.py: how conv/FC weights sit in flash


@dataclass(frozen=True)
class CompileOptions:
    """layout: conv/FC weights pre-widened to int16 (DSP cores), int8, or int8 rows (Helium).
    rounding: whose rounding the integer arithmetic follows where TFLite and TFLite Micro differ.
    prefix: the C name of the model (`<prefix>_invoke`, `<prefix>_desc`), so several models can
    share one firmware or host library."""

    layout: str = "int16"
    rounding: str = "tflite"
    prefix: str = "td_model"

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise TinyDeployError(f"unknown weight layout '{self.layout}'",
                                  f"use one of {', '.join(LAYOUTS)}")
        if self.rounding not in ROUNDINGS:
            raise TinyDeployError(f"unknown rounding '{self.rounding}'",
                                  f"use one of {', '.join(ROUNDINGS)}")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,40}", self.prefix):
            raise TinyDeployError(f"'{self.prefix}' is not a C identifier",
                                  "use letters, digits and underscores, not starting with a digit")
