"""Bit-exactness checks for operator tests: many models per host library and per firmware image,
each compared with the reference interpreter input by input (a stateful model's state carries
over from one input to the next in both). Float32 outputs: within compare.TOLERANCE."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tinydeploy.batch import run_batch
from tinydeploy.compare import Agreement
from tinydeploy.boards import get_board
from tinydeploy.compiler import CompiledModel, compile_model
from tinydeploy.host_runner import HostLibrary
from tinydeploy.reference import ReferenceInterpreter
from tinydeploy.verify import random_inputs


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    """Integer outputs bit for bit, float32 ones within the stated tolerance (compare.py)."""
    return Agreement().add(a, b)


# a model's test inputs: (compiled model, seed) -> cases, each one array per model input
Inputs = Callable[[CompiledModel, int], list[list[np.ndarray]]]


def reference_cases(paths: list[Path], count: int, layout: str = "int16",
                    inputs: list[Inputs] | None = None
                    ) -> tuple[list[CompiledModel], list, list]:
    """The models compiled (each its own prefix, TFLite Micro's rounding where TFLite Micro is the
    reference), their inputs (`count` random ones, or what inputs[i] makes for model i) and the
    reference's outputs for them."""
    models, cases, expected = [], [], []
    for i, p in enumerate(paths):
        ref = ReferenceInterpreter(p)
        cm = compile_model(p, layout=layout, prefix=f"m{i}",
                           rounding="tflm" if ref.name == "tflm" else "tflite")
        models.append(cm)
        made = inputs[i](cm, i) if inputs else random_inputs(cm, count, seed=i)
        for k, xs in enumerate(made):
            cases.append((i, xs, k == 0))
            expected.append(ref.run(xs))
    return models, cases, expected


def assert_host_bitexact(paths: list[Path], count: int = 6, layout: str = "int16",
                         describe: list[str] | None = None,
                         inputs: list[Inputs] | None = None) -> Agreement:
    """Every model, built for this machine in one library, equals the reference. Returns what
    the comparisons showed (the largest float32 errors among them)."""
    models, cases, expected = reference_cases(paths, count, layout, inputs)
    lib = HostLibrary(models)
    agreement = Agreement()
    for (index, inputs, reset), want in zip(cases, expected):
        if reset:
            lib.reset(index)
        got = lib.run(index, inputs)
        if not agreement.add(got, want):
            what = describe[index] if describe else str(paths[index])
            raise AssertionError(f"{what} (layout {layout}): host {got} vs reference {want}")
    return agreement


def assert_qemu_bitexact(paths: list[Path], boards: tuple[str, ...] = ("qemu-m4", "qemu-m0"),
                         count: int = 3, describe: list[str] | None = None,
                         inputs: list[Inputs] | None = None) -> Agreement:
    """Every model on every board (a few firmware images, one emulator run each) equals the
    reference. Returns what the comparisons showed (the largest float32 errors among them)."""
    models, cases, expected = reference_cases(paths, count, inputs=inputs)
    agreement = Agreement()
    for name in boards:
        with tempfile.TemporaryDirectory(prefix="td-batch-") as work:
            result = run_batch(models, cases, get_board(name), Path(work))
        for (index, _, _), got, want in zip(cases, result.outputs, expected):
            if not agreement.add(got, want):
                what = describe[index] if describe else str(paths[index])
                raise AssertionError(f"{what} on {name}: device {got} vs reference {want}")
    return agreement
