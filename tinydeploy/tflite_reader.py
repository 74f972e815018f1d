"""Read a `.tflite` flatbuffer into plain Python objects.

We read the flatbuffer ourselves rather than through generated bindings so that every offset is
bounds-checked: a truncated or corrupt file becomes one clear `TinyDeployError`, never a crash or an
IndexError deep inside generated code. Only the parts of the schema the compiler needs are read.
Field numbers follow TensorFlow Lite's `schema.fbs`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinydeploy.errors import TinyDeployError

# TensorType enum -> numpy dtype name.
TENSOR_TYPES = {
    0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string", 6: "bool",
    7: "int16", 8: "complex64", 9: "int8", 10: "float64", 11: "complex128", 12: "uint64",
    13: "resource", 14: "variant", 15: "uint32", 16: "uint16", 17: "int4",
}

# BuiltinOperator enum values for the operators we name in messages or compile.
BUILTIN_OPS = {
    0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D",
    5: "DEPTH_TO_SPACE", 6: "DEQUANTIZE", 7: "EMBEDDING_LOOKUP", 8: "FLOOR", 9: "FULLY_CONNECTED",
    10: "HASHTABLE_LOOKUP", 11: "L2_NORMALIZATION", 12: "L2_POOL_2D",
    13: "LOCAL_RESPONSE_NORMALIZATION", 14: "LOGISTIC", 15: "LSH_PROJECTION", 16: "LSTM",
    17: "MAX_POOL_2D", 18: "MUL", 19: "RELU", 20: "RELU_N1_TO_1", 21: "RELU6", 22: "RESHAPE",
    23: "RESIZE_BILINEAR", 24: "RNN", 25: "SOFTMAX", 26: "SPACE_TO_DEPTH", 27: "SVDF", 28: "TANH",
    32: "CUSTOM", 34: "PAD", 36: "GATHER", 39: "TRANSPOSE", 40: "MEAN", 41: "SUB", 42: "DIV",
    43: "SQUEEZE", 44: "UNIDIRECTIONAL_SEQUENCE_LSTM", 45: "STRIDED_SLICE", 47: "EXP",
    49: "SPLIT", 50: "LOG_SOFTMAX", 53: "CAST", 54: "PRELU", 55: "MAXIMUM", 56: "ARG_MAX",
    57: "MINIMUM", 60: "PADV2", 65: "SLICE", 67: "TRANSPOSE_CONV", 70: "EXPAND_DIMS", 74: "SUM", 77: "SHAPE",
    82: "REDUCE_MAX", 83: "PACK", 88: "UNPACK", 97: "RESIZE_NEAREST_NEIGHBOR", 98: "LEAKY_RELU",
    114: "QUANTIZE", 117: "HARD_SWISH", 126: "BATCH_MATMUL",
}

# Builtin option tables: BuiltinOptions union type -> (name, [(field, kind, default)]).
# kind: b=int8/bool/enum byte, i=int32, f=float32, vi=vector of int32.
_OPTION_TABLES: dict[int, tuple[str, list[tuple[str, str, Any]]]] = {
    1: ("Conv2DOptions", [("padding", "b", 0), ("stride_w", "i", 0), ("stride_h", "i", 0),
                          ("activation", "b", 0), ("dilation_w", "i", 1), ("dilation_h", "i", 1)]),
    2: ("DepthwiseConv2DOptions", [("padding", "b", 0), ("stride_w", "i", 0), ("stride_h", "i", 0),
                                   ("depth_multiplier", "i", 0), ("activation", "b", 0),
                                   ("dilation_w", "i", 1), ("dilation_h", "i", 1)]),
    5: ("Pool2DOptions", [("padding", "b", 0), ("stride_w", "i", 0), ("stride_h", "i", 0),
                          ("filter_w", "i", 0), ("filter_h", "i", 0), ("activation", "b", 0)]),
    8: ("FullyConnectedOptions", [("activation", "b", 0), ("weights_format", "b", 0),
                                  ("keep_num_dims", "b", 0)]),
    9: ("SoftmaxOptions", [("beta", "f", 0.0)]),
    10: ("ConcatenationOptions", [("axis", "i", 0), ("activation", "b", 0)]),
    11: ("AddOptions", [("activation", "b", 0)]),
    17: ("ReshapeOptions", [("new_shape", "vi", None)]),
    21: ("MulOptions", [("activation", "b", 0)]),
    27: ("ReducerOptions", [("keep_dims", "b", 0)]),
    28: ("SubOptions", [("activation", "b", 0)]),
    30: ("SqueezeOptions", [("squeeze_dims", "vi", None)]),
}

PADDING = {0: "SAME", 1: "VALID"}
ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}


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

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

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
    """One operator node: its builtin name, tensor indices (-1 = optional, absent) and options."""

    index: int
    opcode: str
    version: int
    inputs: list[int]
    outputs: list[int]
    options: dict[str, Any]


@dataclass
class Model:
    """The first subgraph of a `.tflite` file, which is what microcontroller runtimes execute."""

    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]
    description: str
    subgraph_count: int


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


def _read_options(op: _Table, opcode: str) -> dict[str, Any]:
    otype = op.scalar(3, "B", 0)
    table = op.table(4)
    opts: dict[str, Any] = {}
    spec = _OPTION_TABLES.get(otype)
    if spec is None or table is None:
        return opts
    for i, (name, kind, default) in enumerate(spec[1]):
        if kind == "b":
            opts[name] = table.scalar(i, "b", default)
        elif kind == "i":
            opts[name] = table.scalar(i, "i", default)
        elif kind == "f":
            opts[name] = table.scalar(i, "f", default)
        elif kind == "vi":
            opts[name] = table.vector(i, "i") if table._field(i) else default
    if "padding" in opts:
        opts["padding"] = PADDING.get(opts["padding"], f"UNKNOWN({opts['padding']})")
    if "activation" in opts:
        opts["activation"] = ACTIVATIONS.get(opts["activation"], f"UNKNOWN({opts['activation']})")
    return opts


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
        subgraphs = root.tables(2)
        if not subgraphs:
            raise TinyDeployError(f"{source}: the model has no subgraph", "re-export the model")
        sg = subgraphs[0]
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
            tensor = Tensor(i, t.string(3), tuple(t.vector(0, "i")), dtype, tdata, scale, zp, qdim)
            if tdata is not None and dtype in _NUMPY_TYPES and len(tdata) != tensor.nbytes:
                raise buf.fail(f"tensor {i} '{tensor.name}' has {len(tdata)} data bytes, "
                               f"its shape {list(tensor.shape)} of {dtype} needs {tensor.nbytes}")
            tensors.append(tensor)
        operators = []
        for i, op in enumerate(sg.tables(3)):
            oi = op.scalar(0, "I", 0)
            if oi >= len(opcodes):
                raise buf.fail(f"operator {i} uses opcode {oi} of {len(opcodes)}")
            name, version = opcodes[oi]
            ins, outs = op.vector(1, "i"), op.vector(2, "i")
            for t_idx in ins + outs:
                if t_idx >= len(tensors) or t_idx < -1:
                    raise buf.fail(f"operator {i} ({name}) refers to tensor {t_idx} of {len(tensors)}")
            operators.append(Operator(i, name, version, ins, outs, _read_options(op, name)))
        inputs, outputs = sg.vector(1, "i"), sg.vector(2, "i")
        for t_idx in inputs + outputs:
            if not 0 <= t_idx < len(tensors):
                raise buf.fail(f"graph input/output {t_idx} is not one of {len(tensors)} tensors")
        return Model(tensors, operators, inputs, outputs, root.string(3), len(subgraphs))
    except (struct.error, UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise buf.fail(str(exc)) from None


def load_model(path: str | Path) -> Model:
    """Read and parse a `.tflite` file, with clear errors for a missing or unreadable file."""
    p = Path(path)
    if not p.is_file():
        raise TinyDeployError(f"{p}: no such model file", "check the path to the .tflite file")
    return parse_model(p.read_bytes(), str(p))
