"""Shared test fixtures: the reference models in ../shared/models and helpers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TINYDEPLOY_QUIET", "1")

from tinydeploy.paths import SHARED_MODELS  # noqa: E402

REFERENCE_MODELS = ["mlperf/kws01", "mlperf/vww01", "mlperf/ic01", "mlperf/ad01",
                    "tflm/hello_world_int8", "tflm/micro_speech_quantized"]


def shared_model(name: str) -> Path:
    p = SHARED_MODELS / f"{name}.tflite"
    if not p.is_file():
        pytest.fail(f"reference model {p} is missing: ../shared/models must sit beside the repo")
    return p


@pytest.fixture
def kws01() -> Path:
    return shared_model("mlperf/kws01")


@pytest.fixture
def kws01_input() -> np.ndarray:
    return np.fromfile(SHARED_MODELS / "mlperf" / "kws01_input0.bin", np.int8).reshape(1, 49, 10, 1)
