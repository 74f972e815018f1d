"""The model validator: what must hold of a `.tflite` before any lowering computes with it.

The reader checks that the flatbuffer is well formed; this checks that what it says makes sense:
every tensor's shape, type, size, scale (finite, > 0), zero point (inside its type) and quantized
dimension; every node's input and output counts and, through its operator's shape rule, that its
output shapes are what its inputs and options imply (so no kernel can write more than its output
holds); that every tensor is written before it is read and every graph output is written at all.
Each failure is one TinyDeployError naming the node or tensor and the field. Per-operator checks
that depend on the arithmetic (types a kernel takes, constant weights, multiplier ranges) live in
each lowering, next to that arithmetic.
"""

from __future__ import annotations

import math

import numpy as np

from tinydeploy.compile_options import CompileOptions
from tinydeploy.errors import TinyDeployError
from tinydeploy.ops import get_spec
from tinydeploy.ops.base import OpContext
from tinydeploy.qtype import QTYPES
from tinydeploy.tflite_reader import Model, Subgraph, Tensor

MAX_TENSOR_BYTES = (1 << 31) - 1  # arena offsets and sizes are int32 in C
FIX = "the file is damaged or was not written by the TFLite converter; re-export the model"


class InvalidModel(TinyDeployError):
    """The file is a well-formed flatbuffer whose contents do not make a valid model."""


def _fail(where: str, what: str) -> InvalidModel:
    return InvalidModel(f"{where}: {what}", FIX)


def _check_tensor(g: Subgraph, t: Tensor) -> None:
    where = f"{'subgraph %d ' % g.index if g.index else ''}tensor {t.index} '{t.name[:40]}'"
    if t.dtype.startswith("type"):
        raise _fail(where, f"unknown tensor type code {t.dtype[4:]}")
    if any(d < 0 for d in t.shape):
        raise _fail(where, f"shape {list(t.shape)} has a negative (dynamic) dimension")
    q = QTYPES.get(t.dtype)
    if q is not None and t.size * q.size > MAX_TENSOR_BYTES:
        raise _fail(where, f"shape {list(t.shape)} of {t.dtype} is larger than 2 GB")
    if len(t.scale):
        if not np.all(np.isfinite(t.scale)) or not np.all(t.scale > 0):
            bad = t.scale[~(np.isfinite(t.scale) & (t.scale > 0))][0]
            raise _fail(where, f"quantization scale {bad!r} is not finite and positive")
        if len(t.zero_point) not in (0, 1, len(t.scale)):
            raise _fail(where, f"{len(t.zero_point)} zero points for {len(t.scale)} scales")
        if len(t.scale) > 1:
            qd, rank = t.quantized_dimension, len(t.shape)
            # a 1-D tensor's scales run along its only dimension, whatever the file says
            # (TFLite Micro's person-detection biases say 3)
            if rank != 1 and not 0 <= qd < rank:
                raise _fail(where, f"quantized_dimension {qd} is outside its rank {rank}")
            axis = 0 if rank == 1 else qd
            if t.shape[axis] != len(t.scale):
                raise _fail(where, f"{len(t.scale)} per-channel scales along a dimension of "
                                   f"{t.shape[axis]}")
    if len(t.zero_point) and q is not None and q.qmin is not None:
        lo, hi = int(t.zero_point.min()), int(t.zero_point.max())
        if lo < q.qmin or hi > q.qmax:  # type: ignore[operator]
            raise _fail(where, f"zero point {lo if lo < q.qmin else hi} is outside {t.dtype}")  # type: ignore[operator]


def _check_graph(model: Model, g: Subgraph, options: CompileOptions) -> None:
    prefix = f"subgraph {g.index} " if g.index else ""
    written = set(g.inputs)
    for t in g.inputs:
        if g.tensors[t].is_constant:
            raise _fail(f"{prefix}graph input {t}", "is a constant tensor")
    for op in g.operators:
        where = f"{prefix}node {op.index} ({op.opcode})"
        spec = get_spec(op.opcode)
        for i in op.inputs:
            if i < 0:
                continue
            t = g.tensors[i]
            if not (t.is_constant or t.is_variable or i in written):
                raise _fail(where, f"reads tensor {i} '{t.name[:40]}' before any node writes it")
        for i in op.outputs:
            if i < 0:
                raise _fail(where, "has an absent output")
            if i in written or g.tensors[i].is_constant:
                raise _fail(where, f"writes tensor {i}, which is a constant or already written")
            written.add(i)
        if spec is None:
            continue  # reported with every other unsupported node by the lowering stage
        if spec.options and op.options_type not in (None, spec.options):
            raise _fail(where, f"carries {op.options_type}, the operator takes {spec.options}")
        lo, hi = spec.inputs
        if not lo <= len(op.inputs) <= hi:
            raise _fail(where, f"has {len(op.inputs)} inputs, the operator takes {lo}..{hi}")
        lo, hi = spec.outputs
        if not lo <= len(op.outputs) <= hi:
            raise _fail(where, f"has {len(op.outputs)} outputs, the operator takes {lo}..{hi}")
        if spec.infer_shape is not None:
            ctx = OpContext(model, g, op, options)
            expected = spec.infer_shape(ctx)
            for k, shape in enumerate(expected):
                out = ctx.output(k)
                if tuple(out.shape) != tuple(shape) and not (
                        math.prod(out.shape) == math.prod(shape) == 1):
                    raise _fail(where, f"output {k} '{out.name[:40]}' has shape "
                                       f"{list(out.shape)}; its inputs and options make "
                                       f"{list(shape)}")
    for t in g.outputs:
        if t not in written:
            raise _fail(f"{prefix}graph output {t} '{g.tensors[t].name[:40]}'",
                        "no node writes it")


def validate_tensors(model: Model) -> None:
    """Every tensor of every subgraph (shapes, types, quantization)."""
    for g in model.subgraphs:
        for t in g.tensors:
            _check_tensor(g, t)


def validate_graphs(model: Model, options: CompileOptions) -> None:
    """Every node of every subgraph against its operator's rules, and the graphs' data flow."""
    for g in model.subgraphs:
        _check_graph(model, g, options)
