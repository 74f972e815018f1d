"""Write `.tflite` files directly, through LiteRT's generated schema bindings (object API).

For the models no converter writes on request (an SVDF or LSTM with chosen quantization, a graph
with a given flaw) and for the fuzzer's structured mutations: `unpack` a file into editable
objects, change a field, `pack` it again. The reader (tflite_reader.py) never uses this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

TYPE_CODES = {"float32": 0, "float16": 1, "int32": 2, "uint8": 3, "int64": 4, "bool": 6,
              "int16": 7, "int8": 9}


def _schema() -> Any:
    from ai_edge_litert import schema_py_generated as schema

    return schema


def unpack(data: bytes) -> Any:
    """A .tflite as the schema's ModelT object tree."""
    return _schema().ModelT.InitFromPackedBuf(bytearray(data), 0)


def pack(model: Any) -> bytes:
    """A ModelT back to .tflite bytes."""
    import flatbuffers

    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


@dataclass
class T:
    """A tensor to write: shape, type, constant data, quantization."""

    shape: tuple[int, ...]
    dtype: str = "int8"
    data: np.ndarray | None = None
    scale: list[float] | None = None
    zero_point: list[int] | None = None
    qdim: int = 0
    variable: bool = False
    name: str = ""


@dataclass
class Op:
    """A node to write: builtin name, tensor indices, and its options table as keyword values
    (schema field names in camelCase, as the object API spells them)."""

    opcode: str
    inputs: list[int]
    outputs: list[int]
    options: str | None = None
    values: dict[str, Any] = field(default_factory=dict)


def build(tensors: list[T], ops: list[Op], inputs: list[int], outputs: list[int],
          subgraphs: list[tuple[list[T], list[Op], list[int], list[int]]] | None = None) -> bytes:
    """A model with one entry subgraph (and optional further ones, e.g. for CALL_ONCE)."""
    s = _schema()
    m = s.ModelT()
    m.version = 3
    m.buffers = [s.BufferT()]
    m.operatorCodes = []
    codes: dict[str, int] = {}
    graphs = [(tensors, ops, inputs, outputs)] + (subgraphs or [])
    m.subgraphs = []
    for g_tensors, g_ops, g_in, g_out in graphs:
        g = s.SubGraphT()
        g.tensors, g.operators, g.inputs, g.outputs = [], [], list(g_in), list(g_out)
        for i, t in enumerate(g_tensors):
            tt = s.TensorT()
            tt.shape = list(t.shape)
            tt.type = TYPE_CODES[t.dtype]
            tt.name = t.name or f"t{i}"
            tt.isVariable = t.variable
            tt.buffer = 0
            if t.data is not None:
                buf = s.BufferT()
                buf.data = np.frombuffer(np.ascontiguousarray(t.data, t.dtype).tobytes(), np.uint8)
                m.buffers.append(buf)
                tt.buffer = len(m.buffers) - 1
            if t.scale is not None:
                q = s.QuantizationParametersT()
                q.scale = list(map(float, t.scale))
                q.zeroPoint = list(map(int, t.zero_point or [0] * len(t.scale)))
                q.quantizedDimension = t.qdim
                tt.quantization = q
            g.tensors.append(tt)
        for op in g_ops:
            if op.opcode not in codes:
                oc = s.OperatorCodeT()
                code = getattr(s.BuiltinOperator, op.opcode)
                oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, min(code, 127), 1
                codes[op.opcode] = len(m.operatorCodes)
                m.operatorCodes.append(oc)
            o = s.OperatorT()
            o.opcodeIndex = codes[op.opcode]
            o.inputs, o.outputs = list(op.inputs), list(op.outputs)
            if op.options:
                o.builtinOptionsType = getattr(s.BuiltinOptions, op.options)
                opts = getattr(s, f"{op.options}T")()
                for k, v in op.values.items():
                    if not hasattr(opts, k):
                        raise AttributeError(f"{op.options} has no field {k}")
                    setattr(opts, k, v)
                o.builtinOptions = opts
            g.operators.append(o)
        m.subgraphs.append(g)
    return pack(m)
