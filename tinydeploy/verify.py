"""The verify stage: the generated C, compiled for this machine, against the reference kernels.

Exit statuses of `tinydeploy verify`: 0 bit-exact, 1 mismatches, 2 an input or usage error (a
damaged or unsupported model, a bad file), 3 the reference interpreter refused or crashed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tinydeploy.compare import Agreement
from tinydeploy.compile_options import PATCH_OVERHEAD
from tinydeploy.compiler import compile_model
from tinydeploy.errors import TinyDeployError
from tinydeploy.host_runner import HostModel
from tinydeploy.progress import progress
from tinydeploy.reference import ReferenceInterpreter, tflm_arena_bytes


def random_inputs(compiled: Any, count: int, seed: int = 0) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    sets = []
    for _ in range(count):
        one = []
        for t in compiled.input_tensors:
            if t.dtype == "float32":
                one.append(rng.normal(0, 1, t.shape).astype(np.float32))
            elif t.dtype == "bool":
                one.append(rng.integers(0, 2, t.shape).astype(bool))
            else:
                info = np.iinfo(t.dtype)
                one.append(rng.integers(info.min, info.max + 1, t.shape).astype(t.dtype))
        sets.append(one)
    return sets


def read_input_file(path: Path, compiled: Any) -> list[np.ndarray]:
    """A raw little-endian .bin in the model's input type, or a .npy array."""
    t = compiled.input_tensors[0]
    a = np.load(path) if path.suffix == ".npy" else np.fromfile(path, dtype=t.dtype)
    if a.size != t.size:
        raise TinyDeployError(f"{path}: {a.size} values, the model's input has {t.size}",
                              f"give a file with {t.size} {t.dtype} values")
    return [a.astype(t.dtype).reshape(t.shape)]


def verify(model_path: str | Path, count: int = 100, files: list[Path] | None = None,
           seed: int = 0, oracle: str = "auto",
           patch_overhead: float | None = PATCH_OVERHEAD) -> dict[str, Any]:
    """Compare the compiled C with the reference interpreter on random and given inputs, run in
    order (a stateful model carries its state from one input to the next in both).
    patch_overhead: as compile_model's, so the C checked is the C a build with it would run."""
    # an invalid or unsupported model stops here
    compiled = compile_model(model_path, patch_overhead=patch_overhead)
    ref = ReferenceInterpreter(model_path, oracle)
    if ref.name == "tflm":
        compiled = compiled.with_options(rounding="tflm")
    host = HostModel(compiled)
    cases = [read_input_file(Path(f), compiled) for f in files or []]
    cases += random_inputs(compiled, count, seed)
    per_output = [0] * len(compiled.output_tensors)
    values = [0] * len(compiled.output_tensors)
    max_diff = 0.0
    agreement = Agreement()
    for inputs in progress(cases, total=len(cases), desc="verifying"):
        got, want = host.run(inputs), ref.run(inputs)
        agreement.add(got, want)
        for i, (a, b) in enumerate(zip(got, want)):
            b = b.reshape(a.shape)
            if not np.array_equal(a, b):
                per_output[i] += 1
                values[i] += int(np.sum(a != b))
                max_diff = max(max_diff, float(np.max(np.abs(a.astype(np.float64) - b))))
    return {
        "model": compiled.name, "oracle": ref.name, "inputs": len(cases),
        **agreement.report(), "bit_exact": sum(per_output) == 0,
        "mismatches_per_output": per_output, "mismatched_values_per_output": values,
        "max_abs_difference": max_diff, "arena_bytes": compiled.arena_bytes,
        "patch": compiled.patch.describe() if compiled.patch else None,
        "tflm_arena_bytes_host": tflm_arena_bytes(model_path),
        "weights_bytes": compiled.weight_bytes, "macs": compiled.macs,
        "ops": sorted({lay.op.opcode for lay in compiled.layers}),
    }
