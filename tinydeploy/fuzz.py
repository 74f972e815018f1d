"""A seeded fault campaign against the compiler: mutants of real models (truncations, byte flips,
and structured field patches: shapes, scales, zero points, quantized dimensions, opcodes, tensor
indices, options, graph inputs and outputs) through `compile_model`, then every accepted mutant
through the generated C built with AddressSanitizer, UndefinedBehaviorSanitizer and the write
checks, compared with the reference interpreter.

Outcomes per mutant: refused (one TinyDeployError, the wanted answer for a broken file), accepted
(and then: bit-exact, not comparable because the reference refuses it, or a silent mismatch),
crashed (an exception that is not a TinyDeployError: a bug). The C side reports sanitizer and
write-check findings. `scripts/fuzz_campaign.py` prints the counts; tests/test_fuzz.py requires
zero crashes, findings and mismatches.
"""

from __future__ import annotations

import copy
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinydeploy.errors import TinyDeployError
from tinydeploy.tflite_writer import pack, unpack

EDGE_INTS = [0, 1, 2, 3, 7, 255, 256, 4096, 65536, 2 ** 31 - 1, -1, -2, -(2 ** 31)]
EDGE_FLOATS = [0.0, -0.5, float("inf"), float("nan"), 1e-30, 1e30, 1e-5, 3.0]


@dataclass
class Mutant:
    source: str
    how: str
    data: bytes


def _tensor(m: Any, rng: np.random.Generator) -> Any:
    g = m.subgraphs[0]
    return g.tensors[int(rng.integers(len(g.tensors)))]


def _op(m: Any, rng: np.random.Generator) -> Any:
    g = m.subgraphs[0]
    return g.operators[int(rng.integers(len(g.operators)))]


def _patch_shape(m: Any, rng: np.random.Generator) -> str:
    t = _tensor(m, rng)
    if t.shape is None or len(t.shape) == 0:
        t.shape = [int(rng.choice(EDGE_INTS))]
        return "shape of a scalar"
    d = int(rng.integers(len(t.shape)))
    new = int(rng.choice(EDGE_INTS + [int(t.shape[d]) * 2, int(t.shape[d]) + 1]))
    t.shape = list(t.shape)
    t.shape[d] = new
    return f"tensor {t.name!r} dim {d} -> {new}"


def _patch_scale(m: Any, rng: np.random.Generator) -> str:
    t = _tensor(m, rng)
    if t.quantization is None or t.quantization.scale is None or not len(t.quantization.scale):
        return "no-op"
    v = float(rng.choice(EDGE_FLOATS + [float(t.quantization.scale[0]) * rng.uniform(0.1, 10)]))
    scales = list(t.quantization.scale)
    scales[int(rng.integers(len(scales)))] = v
    t.quantization.scale = scales
    return f"tensor {t.name!r} scale -> {v}"


def _patch_zero_point(m: Any, rng: np.random.Generator) -> str:
    t = _tensor(m, rng)
    if t.quantization is None or t.quantization.zeroPoint is None or not len(t.quantization.zeroPoint):
        return "no-op"
    v = int(rng.choice([127, -128, 128, -129, 2 ** 31, -(2 ** 40), 1000, int(rng.integers(-128, 128))]))
    zps = list(t.quantization.zeroPoint)
    zps[int(rng.integers(len(zps)))] = v
    t.quantization.zeroPoint = zps
    return f"tensor {t.name!r} zero point -> {v}"


def _patch_qdim(m: Any, rng: np.random.Generator) -> str:
    t = _tensor(m, rng)
    if t.quantization is None:
        return "no-op"
    v = int(rng.choice([0, 1, 2, 3, 4, -1, 2 ** 31 - 1]))
    t.quantization.quantizedDimension = v
    return f"tensor {t.name!r} quantized_dimension -> {v}"


def _patch_opcode(m: Any, rng: np.random.Generator) -> str:
    op = _op(m, rng)
    if rng.random() < 0.5:
        op.opcodeIndex = int(rng.integers(len(m.operatorCodes) + 2))
        return f"opcode index -> {op.opcodeIndex}"
    oc = m.operatorCodes[int(rng.integers(len(m.operatorCodes)))]
    oc.builtinCode = int(rng.choice([0, 1, 2, 3, 4, 9, 14, 17, 22, 25, 28, 40, 114, 117, 200]))
    oc.deprecatedBuiltinCode = min(oc.builtinCode, 127)
    return f"builtin code -> {oc.builtinCode}"


def _patch_indices(m: Any, rng: np.random.Generator) -> str:
    g = m.subgraphs[0]
    op = _op(m, rng)
    which = "inputs" if rng.random() < 0.6 else "outputs"
    lst = list(getattr(op, which))
    if not lst:
        return "no-op"
    k = int(rng.integers(len(lst)))
    choice = int(rng.integers(4))
    if choice == 0:
        lst[k] = -1
    elif choice == 1:
        del lst[k]
    else:
        lst[k] = int(rng.integers(len(g.tensors)))
    setattr(op, which, lst)
    return f"op {which}[{k}] patched ({choice})"


def _patch_options(m: Any, rng: np.random.Generator) -> str:
    op = _op(m, rng)
    opts = op.builtinOptions
    if opts is None:
        return "no-op"
    names = [k for k, v in vars(opts).items() if isinstance(v, (int, float)) and
             not isinstance(v, bool)]
    if not names:
        return "no-op"
    name = str(rng.choice(names))
    v = int(rng.choice([0, -1, 1, 2, 5, 9, 100, 2 ** 31 - 1]))
    setattr(opts, name, v)
    return f"option {name} -> {v}"


def _patch_graph_io(m: Any, rng: np.random.Generator) -> str:
    g = m.subgraphs[0]
    if rng.random() < 0.5:
        g.outputs = [int(rng.integers(len(g.tensors)))]
        return f"graph output -> tensor {g.outputs[0]}"
    g.inputs = [int(rng.integers(len(g.tensors)))]
    return f"graph input -> tensor {g.inputs[0]}"


def _patch_buffer(m: Any, rng: np.random.Generator) -> str:
    full = [b for b in m.buffers if b.data is not None and len(b.data) > 1]
    if not full:
        return "no-op"
    b = full[int(rng.integers(len(full)))]
    if rng.random() < 0.5:
        b.data = b.data[: int(rng.integers(len(b.data)))]
        return "buffer truncated"
    data = np.array(b.data, np.uint8).copy()
    data[rng.integers(len(data), size=max(1, len(data) // 50))] = rng.integers(0, 256)
    b.data = data
    return "buffer bytes flipped"


STRUCTURED: list[Callable[[Any, np.random.Generator], str]] = [
    _patch_shape, _patch_scale, _patch_zero_point, _patch_qdim, _patch_opcode, _patch_indices,
    _patch_options, _patch_graph_io, _patch_buffer]


def mutants(sources: dict[str, bytes], count: int, seed: int = 0) -> list[Mutant]:
    """`count` seeded mutants spread over the sources: a quarter raw (truncations, byte flips
    over the tables), the rest structured field patches."""
    rng = np.random.default_rng(seed)
    names = sorted(sources)
    trees = {n: unpack(sources[n]) for n in names}
    out: list[Mutant] = []
    while len(out) < count:
        name = names[len(out) % len(names)]
        data = sources[name]
        kind = rng.random()
        if kind < 0.1:
            cut = int(rng.integers(8, len(data)))
            out.append(Mutant(name, f"truncated at {cut}", data[:cut]))
        elif kind < 0.25:
            d = bytearray(data)
            for pos in rng.integers(0, min(len(d), 8192), size=int(rng.integers(1, 6))):
                d[int(pos)] = int(rng.integers(0, 256))
            out.append(Mutant(name, "table bytes flipped", bytes(d)))
        else:
            m = copy.deepcopy(trees[name])
            how = STRUCTURED[int(rng.integers(len(STRUCTURED)))](m, rng)
            if how == "no-op":
                continue
            try:
                out.append(Mutant(name, how, pack(m)))
            except Exception:  # noqa: BLE001 - a patch the flatbuffer cannot hold: skip it
                continue
    return out


@dataclass
class Campaign:
    counts: Counter = field(default_factory=Counter)
    crashes: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)


def run_campaign(sources: dict[str, bytes], count: int, seed: int = 0,
                 inputs_per_model: int = 2) -> Campaign:
    """Every mutant through the compiler; the accepted ones through the checked C build and the
    reference interpreter."""
    from tinydeploy.compiler import compile_model
    from tinydeploy.host_runner import run_checked
    from tinydeploy.reference import ReferenceInterpreter
    from tinydeploy.verify import random_inputs

    result = Campaign()
    accepted = []
    for i, mu in enumerate(mutants(sources, count, seed)):
        try:
            cm = compile_model(mu.data, name=f"mutant{i}", prefix=f"mutant{i}")
            _ = cm.c  # rendering is part of compiling
        except TinyDeployError:
            result.counts["refused"] += 1
            continue
        except Exception:  # noqa: BLE001 - the campaign's purpose: count, keep the trace
            result.counts["crashed"] += 1
            result.crashes.append(f"{mu.source}: {mu.how}\n{traceback.format_exc(limit=4)}")
            continue
        result.counts["accepted"] += 1
        try:
            ref = ReferenceInterpreter(mu.data)
        except TinyDeployError:
            result.counts["reference refuses"] += 1
            ref = None
        if ref is not None and ref.name == "tflm":
            cm = cm.with_options(rounding="tflm")
        accepted.append((mu, cm, ref))
    if not accepted:
        return result
    cases = []
    for index, (mu, cm, _) in enumerate(accepted):
        for k, inputs in enumerate(random_inputs(cm, inputs_per_model, seed=index)):
            cases.append((index, inputs, k == 0))
    run = run_checked([cm for _, cm, _ in accepted], cases)
    if not run.ok:
        result.findings.append(run.report)
        result.counts["sanitizer or write-check findings"] += 1
        return result
    for (index, inputs, _), outs in zip(cases, run.outputs):
        mu, cm, ref = accepted[index]
        if ref is None:
            continue
        try:
            expected = ref.run(inputs)
        except TinyDeployError:
            continue
        if not all(np.array_equal(a, np.asarray(b).reshape(a.shape))
                   for a, b in zip(outs, expected)):
            result.mismatches.append(f"{mu.source}: {mu.how}")
    result.counts["silent mismatches"] = len(set(result.mismatches))
    result.counts["bit-exact"] = result.counts["accepted"] - result.counts["reference refuses"] \
        - result.counts["silent mismatches"]
    return result
