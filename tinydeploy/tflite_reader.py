"""Read a `.tflite` flatbuffer into plain Python objects.

We read the flatbuffer ourselves rather than through generated bindings so that every offset is
bounds-checked: a truncated or corrupt file becomes one clear `TinyDeployError`, never a crash or an
IndexError deep inside generated code. Only the parts of the schema the compiler needs are read.
Field numbers follow TensorFlow Lite's `schema.fbs`.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinydeploy import tflite_schema as schema
from tinydeploy.errors import TinyDeployError

# The schema's enums and options tables, generated from TFLite's schema (scripts/gen_tflite_schema.py)
TENSOR_TYPES = {k: v.lower() for k, v in schema.TENSOR_TYPES.items()}
BUILTIN_OPS = schema.BUILTIN_OPERATORS
PADDING = schema.PADDING
ACTIVATIONS = schema.ACTIVATIONS
SCHEMA_VERSION = 3  # the only version TFLite and TFLite Micro read


@dataclass
class Tensor:
    """One tensor of the graph: its shape, type, quantization and (for constants) its data."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    data: bytes | None
    scale: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    zero_point: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    quantized_dimension: int = 0
    is_variable: bool = False  # state kept across invocations (SVDF, LSTM), reset to its zero point
    subgraph: int = 0

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize if self.dtype in _NUMPY_TYPES else 0

    def array(self) -> np.ndarray:
        """The constant data as a numpy array of the tensor's shape."""
        if self.data is None:
            raise ValueError(f"tensor {self.name} has no constant data")
        return np.frombuffer(self.data, dtype=self.dtype).reshape(self.shape)

    @property
    def scale0(self) -> float:
        return float(self.scale[0]) if len(self.scale) else 0.0

    @property
    def zp0(self) -> int:
        return int(self.zero_point[0]) if len(self.zero_point) else 0


_NUMPY_TYPES = {"float32", "float16", "int32", "uint8", "int64", "bool", "int16", "int8",
                "float64", "uint64", "uint32", "uint16"}


@dataclass
class Operator:
    """One operator node: its builtin name, tensor indices (-1 = optional, absent) and options
    (field names as in TFLite's schema; `padding` and `fused_activation_function` as names)."""

    index: int
    opcode: str
    version: int
    inputs: list[int]
    outputs: list[int]
    options: dict[str, Any]
    options_type: str | None = None  # the schema's options table name, None where absent
    subgraph: int = 0
    # tensors the converter attaches to record quantization of internal values (the integer
    # LSTM's gate and hidden scales); never read or written by the graph
    intermediates: list[int] = field(default_factory=list)


@dataclass
class Subgraph:
    """One graph of the model: subgraph 0 is what runs; others are called by CALL_ONCE/IF/WHILE."""

    index: int
    name: str
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]


@dataclass
class Model:
    """A `.tflite` file: its subgraphs (0 is the entry) and the schema version it declares."""

    subgraphs: list[Subgraph]
    description: str
    version: int

    @property
    def main(self) -> Subgraph:
        return self.subgraphs[0]

    @property
    def tensors(self) -> list[Tensor]:
        return self.subgraphs[0].tensors

    @property
    def operators(self) -> list[Operator]:
        return self.subgraphs[0].operators

    @property
    def inputs(self) -> list[int]:
        return self.subgraphs[0].inputs

    @property
    def outputs(self) -> list[int]:
        return self.subgraphs[0].outputs

    @property
    def subgraph_count(self) -> int:
        return len(self.subgraphs)


class _Buf:
    """Bounds-checked little-endian access to the flatbuffer bytes."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.source = source

    def fail(self, what: str) -> TinyDeployError:
        return TinyDeployError(
            f"{self.source}: corrupt or truncated .tflite file ({what})",
            "re-export the model with the TFLite converter; the file is not a valid flatbuffer",
        )

    def unpack(self, fmt: str, pos: int) -> Any:
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > len(self.data):
            raise self.fail(f"offset {pos} is outside the {len(self.data)}-byte file")
        return struct.unpack_from("<" + fmt, self.data, pos)[0]

    def table(self, pos: int) -> "_Table":
        vtable = pos - self.unpack("i", pos)
        vsize = self.unpack("H", vtable)
        if vsize < 4 or vsize % 2:
            raise self.fail(f"bad vtable at offset {vtable}")
        self.unpack("H", vtable + vsize - 2)  # the whole vtable must be inside the file
        return _Table(self, pos, vtable, vsize)


class _Table:
    def __init__(self, buf: _Buf, pos: int, vtable: int, vsize: int) -> None:
        self.buf, self.pos, self.vtable, self.vsize = buf, pos, vtable, vsize

    def _field(self, n: int) -> int:
        off = 4 + 2 * n
        if off >= self.vsize:
            return 0
        return self.buf.unpack("H", self.vtable + off)

    def scalar(self, n: int, fmt: str, default: Any) -> Any:
        o = self._field(n)
        return self.buf.unpack(fmt, self.pos + o) if o else default

    def _ref(self, n: int) -> int | None:
        o = self._field(n)
        if not o:
            return None
        at = self.pos + o
        return at + self.buf.unpack("I", at)

    def table(self, n: int) -> "_Table | None":
        ref = self._ref(n)
        return self.buf.table(ref) if ref is not None else None

    def vector_raw(self, n: int, elem_size: int) -> tuple[int, int] | None:
        ref = self._ref(n)
        if ref is None:
            return None
        length = self.buf.unpack("I", ref)
        if ref + 4 + length * elem_size > len(self.buf.data):
            raise self.buf.fail(f"vector of {length} elements runs past the end of the file")
        return ref + 4, length

    def vector(self, n: int, fmt: str) -> list[Any]:
        raw = self.vector_raw(n, struct.calcsize(fmt))
        if raw is None:
            return []
        start, length = raw
        return list(struct.unpack_from(f"<{length}{fmt}", self.buf.data, start))

    def bytes(self, n: int) -> bytes | None:
        raw = self.vector_raw(n, 1)
        if raw is None:
            return None
        start, length = raw
        return self.buf.data[start:start + length]

    def string(self, n: int) -> str:
        b = self.bytes(n)
        return b.decode("utf-8", "replace") if b is not None else ""

    def tables(self, n: int) -> list["_Table"]:
        raw = self.vector_raw(n, 4)
        if raw is None:
            return []
        start, length = raw
        return [self.buf.table(start + 4 * i + self.buf.unpack("I", start + 4 * i))
                for i in range(length)]


def _read_options(op: _Table, opcode: str, where: str) -> tuple[dict[str, Any], str | None]:
    """The operator's builtin options by the schema's table for their union type; an options type
    this schema does not know is an error (silently reading it as empty would change behaviour)."""
    otype = op.scalar(3, "B", 0)
    if otype == 0:
        return {}, None
    spec = schema.OPTIONS.get(otype)
    if spec is None:
        raise TinyDeployError(f"{where} ({opcode}): builtin options of unknown type {otype}",
                              "the file was written by a newer TFLite schema than tinydeploy "
                              "reads; re-export it with TensorFlow 2.21 or LiteRT")
    table = op.table(4)
    opts: dict[str, Any] = {}
    for name, slot, kind, default in spec[1]:
        if table is None:
            opts[name] = default
        elif kind == "s":
            opts[name] = table.string(slot) if table._field(slot) else None
        elif kind.startswith("v"):
            opts[name] = table.vector(slot, kind[1:]) if table._field(slot) else None
        else:
            opts[name] = table.scalar(slot, kind, default)
    if "padding" in opts:
        opts["padding"] = PADDING.get(opts["padding"], f"UNKNOWN({opts['padding']})")
    if "fused_activation_function" in opts:
        code = opts["fused_activation_function"]
        opts["fused_activation_function"] = ACTIVATIONS.get(code, f"UNKNOWN({code})")
    return opts, spec[0]


def _read_subgraph(buf: _Buf, sg: _Table, index: int, opcodes: list[tuple[str, int]],
                   buffers: list[bytes | None]) -> Subgraph:
    tensors = []
    for i, t in enumerate(sg.tables(0)):
        dtype_code = t.scalar(1, "b", 0)
        dtype = TENSOR_TYPES.get(dtype_code, f"type{dtype_code}")
        bidx = t.scalar(2, "I", 0)
        if bidx >= max(len(buffers), 1) and bidx != 0:
            raise buf.fail(f"tensor {i} refers to buffer {bidx} of {len(buffers)}")
        tdata = buffers[bidx] if bidx < len(buffers) else None
        q = t.table(4)
        scale = np.array(q.vector(2, "f") if q else [], np.float32)
        zp = np.array(q.vector(3, "q") if q else [], np.int64)
        qdim = q.scalar(6, "i", 0) if q else 0
        tensor = Tensor(i, t.string(3), tuple(t.vector(0, "i")), dtype, tdata, scale, zp, qdim,
                        bool(t.scalar(5, "B", 0)), index)
        if (tdata is not None and dtype in _NUMPY_TYPES and min(tensor.shape, default=0) >= 0
                and len(tdata) != tensor.nbytes):
            raise buf.fail(f"tensor {i} '{tensor.name}' has {len(tdata)} data bytes, "
                           f"its shape {list(tensor.shape)} of {dtype} needs {tensor.nbytes}")
        tensors.append(tensor)
    operators = []
    for i, op in enumerate(sg.tables(3)):
        oi = op.scalar(0, "I", 0)
        if oi >= len(opcodes):
            raise buf.fail(f"operator {i} uses opcode {oi} of {len(opcodes)}")
        name, version = opcodes[oi]
        ins, outs, mids = op.vector(1, "i"), op.vector(2, "i"), op.vector(8, "i")
        for t_idx in ins + outs + mids:
            if t_idx >= len(tensors) or t_idx < -1:
                raise buf.fail(f"operator {i} ({name}) refers to tensor {t_idx} of {len(tensors)}")
        where = f"node {i}" if index == 0 else f"subgraph {index} node {i}"
        opts, otype = _read_options(op, name, where)
        operators.append(Operator(i, name, version, ins, outs, opts, otype, index, mids))
    inputs, outputs = sg.vector(1, "i"), sg.vector(2, "i")
    for t_idx in inputs + outputs:
        if not 0 <= t_idx < len(tensors):
            raise buf.fail(f"graph input/output {t_idx} is not one of {len(tensors)} tensors")
    return Subgraph(index, sg.string(4), tensors, operators, inputs, outputs)


def parse_model(data: bytes, source: str = "<bytes>") -> Model:
    """Parse `.tflite` bytes. Raises TinyDeployError naming the problem for anything malformed."""
    if len(data) < 16:
        raise TinyDeployError(f"{source}: file is {len(data)} bytes, too short to be a .tflite model",
                              "pass a .tflite flatbuffer written by the TFLite converter")
    if data[4:8] != b"TFL3":
        raise TinyDeployError(f"{source}: not a TFLite model (missing the 'TFL3' file identifier)",
                              "pass a .tflite flatbuffer written by the TFLite converter")
    buf = _Buf(data, source)
    try:
        root = buf.table(buf.unpack("I", 0))
        version = root.scalar(0, "I", 0)
        if version != SCHEMA_VERSION:
            raise TinyDeployError(f"{source}: schema version {version}, TFLite reads version "
                                  f"{SCHEMA_VERSION} only",
                                  "re-export the model with the TFLite converter")
        opcodes = []
        for oc in root.tables(1):
            code = max(oc.scalar(0, "b", 0), oc.scalar(3, "i", 0))
            name = BUILTIN_OPS.get(code, f"BUILTIN_{code}")
            if name == "CUSTOM":
                name = f"CUSTOM:{oc.string(1)}"
            opcodes.append((name, oc.scalar(2, "i", 1)))
        buffers: list[bytes | None] = []
        for b in root.tables(4):
            d = b.bytes(0)
            offset, size = b.scalar(1, "Q", 0), b.scalar(2, "Q", 0)
            if (d is None or len(d) == 0) and offset > 1:
                if offset + size > len(data):
                    raise buf.fail(f"external buffer at {offset}+{size} is past the end")
                d = data[offset:offset + size]
            buffers.append(d if d else None)
        tables = root.tables(2)
        if not tables:
            raise TinyDeployError(f"{source}: the model has no subgraph", "re-export the model")
        subgraphs = [_read_subgraph(buf, sg, i, opcodes, buffers) for i, sg in enumerate(tables)]
        return Model(subgraphs, root.string(3), version)
    except (struct.error, UnicodeDecodeError, RecursionError, ValueError, OverflowError) as exc:
        raise buf.fail(str(exc)) from None


def load_model(path: str | Path) -> Model:
    """Read and parse a `.tflite` file, with clear errors for a missing or unreadable file."""
    p = Path(path)
    if not p.is_file():
        raise TinyDeployError(f"{p}: no such model file", "check the path to the .tflite file")
    return parse_model(p.read_bytes(), str(p))
