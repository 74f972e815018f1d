"""What every operator family is built from: kernel signatures, parameter structs with C field
types, the layer a lowering returns, and the context a lowering reads its node through.

A lowering is TFLite Micro's Prepare run at compile time: it checks the node (types, options,
shapes the kernel assumes), computes every constant the kernel needs and returns a `Layer`: one
call of a C kernel (`firmware/kernels/`), its parameter struct, the constant arrays it reads and the
tensors it reads and writes. Parameter structs are Python dataclasses whose fields carry their C
types: `td_kernels.h` is generated from them (tinydeploy/kernel_header.py), and every value is
range-checked against its C type when the struct is made, so a field can never wrap silently.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

from tinydeploy.compile_options import CompileOptions
from tinydeploy.errors import TinyDeployError
from tinydeploy.qtype import QType, c_range, qtype
from tinydeploy.tflite_reader import Model, Operator, Subgraph, Tensor


class Unsupported(TinyDeployError):
    """An operator, type, option or shape the engine cannot compile."""


class Granted:
    """A parameter value the memory plan decides: 1 where the layer's fast_scratch was granted."""

    def __repr__(self) -> str:
        return "FAST"


FAST = Granted()


def cfield(ctype: str, doc: str = "", count: int = 0, default: Any = ...) -> Any:
    """A parameter-struct field: its C type (`count` > 0: a fixed-size array) and a comment for
    the generated header. Pointer fields hold the name of a constant array, or None for 0."""
    meta = {"ctype": ctype, "doc": doc, "count": count}
    if default is ...:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class Params:
    """Base of a kernel's parameter struct (a dataclass of `cfield`s). C_NAME is the typedef."""

    C_NAME: ClassVar[str] = ""
    C_DOC: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            ctype, count = f.metadata["ctype"], f.metadata["count"]
            if count:
                if len(value) != count:
                    raise TinyDeployError(f"{self.C_NAME}.{f.name} needs {count} values, "
                                          f"got {len(value)}", "this is a tinydeploy bug")
                values = list(value)
            else:
                values = [value]
            for v in values:
                _check_value(self.C_NAME, f.name, ctype, v)

    @classmethod
    def c_fields(cls) -> list[tuple[str, str, int, str]]:
        """(name, C type, array count, comment) in declaration order."""
        return [(f.name, f.metadata["ctype"], f.metadata["count"], f.metadata["doc"])
                for f in fields(cls)]  # type: ignore[arg-type]


def _check_value(struct: str, name: str, ctype: str, v: Any) -> None:
    if ctype.endswith("*"):
        if v is not None and not isinstance(v, str):
            raise TinyDeployError(f"{struct}.{name} is a pointer, got {v!r}",
                                  "this is a tinydeploy bug")
        return
    if isinstance(v, Granted):
        return
    if ctype in ("float", "double"):
        if not math.isfinite(float(v)) or (ctype == "float" and abs(float(v)) > 3.4e38):
            raise Unsupported(f"{struct}.{name} = {v} is not a finite {ctype}",
                              "check the model's scales: they must be finite and positive")
        return
    bounds = c_range(ctype)
    iv = int(v)
    if bounds is None or iv != v or not bounds[0] <= iv <= bounds[1]:
        raise Unsupported(f"{struct}.{name} = {v} does not fit the kernel's {ctype} field",
                          "the tensor sizes or quantization parameters are outside what the "
                          "kernel supports; check the model")


@dataclass(frozen=True)
class Kernel:
    """A C kernel's signature: `void name(const <params> *p, <args...>)`. Each argument is a C
    declaration; an argument named `scratch` receives the layer's scratch in the arena."""

    name: str
    params: type[Params]
    args: tuple[str, ...]
    doc: str = ""

    @property
    def scratch(self) -> bool:
        """The kernel takes a scratch buffer, and its C file exports `<name>_scratch(p)`: the
        bytes it uses for those parameters, which a test checks against the lowering's figure."""
        return any(a.endswith("*scratch") for a in self.args)

    def prototype(self) -> str:
        return f"void {self.name}(const {self.params.C_NAME} *p, {', '.join(self.args)});"

    def arg_types(self) -> list[str]:
        """The C type of each argument after the params pointer (its declaration, name dropped)."""
        out = []
        for decl in self.args:
            cut = max(decl.rfind("*"), decl.rfind(" "))
            out.append(decl[:cut + 1].strip())
        return out


@dataclass(frozen=True)
class TensorArg:
    """A tensor of the arena (or of the persistent state) passed to the kernel as a pointer."""

    index: int


@dataclass(frozen=True)
class TensorListArg:
    """Several tensors passed as an array of pointers of `ctype`."""

    indices: tuple[int, ...]
    ctype: str = "const int8_t *"


@dataclass(frozen=True)
class ConstArg:
    """A constant array in flash, by name."""

    name: str


@dataclass(frozen=True)
class StateArg:
    """A named buffer of the persistent state (a resource variable, a flag), declared by the
    layer in `state_buffers`."""

    name: str


class _Scratch:
    def __repr__(self) -> str:
        return "SCRATCH"


SCRATCH = _Scratch()  # the layer's scratch buffer (0 where it has none)
Arg = TensorArg | TensorListArg | ConstArg | StateArg | _Scratch | None  # None: a null pointer


@dataclass
class ConstArray:
    """A constant array emitted into flash."""

    name: str
    ctype: str
    values: np.ndarray


@dataclass
class Layer:
    """One kernel call; or, with no kernel, an alias (outputs[0] shares inputs[0]'s storage), a
    call of other subgraphs (`control`, e.g. CALL_ONCE) or nothing at all (VAR_HANDLE)."""

    op: Operator
    kernel: Kernel | None
    params: Params | None = None
    consts: list[ConstArray] = field(default_factory=list)
    args: list[Arg] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)   # tensors read (arena or state)
    outputs: list[int] = field(default_factory=list)  # tensors written
    macs: int = 0
    scratch_bytes: int = 0  # arena space the kernel needs while it runs (its `scratch` argument)
    inplace: bool = False   # the kernel may write its output over inputs[0] (same size)
    overlap: int = 0        # > 0: the output may start this many bytes before inputs[0]
    # the output may share inputs[0]'s buffer even where `overlap` is 0 (same start): a patch
    # stage (tinydeploy/patch.py) that has checked that its writes never reach unread input
    shares_input: bool = False
    # more scratch that buys a faster variant (FAST params become 1), granted by the memory plan
    # where it does not grow the arena
    fast_scratch: int = 0
    alias: bool = False
    # named buffers of the persistent state the layer uses (name -> bytes; the same name in
    # several layers, of any subgraph, is one buffer) and those it writes
    state_buffers: dict[str, int] = field(default_factory=dict)
    state_writes: list[str] = field(default_factory=list)
    control: str | None = None   # "call_once": run subgraph calls[0] once after each reset
    calls: list[int] = field(default_factory=list)
    # the layout its weights are stored in where the lowering lets the options choose one
    # (OpContext.layout; weight_layout.py), else None
    layout: str | None = None

    @property
    def func(self) -> str | None:
        return self.kernel.name if self.kernel else None

    @property
    def param_type(self) -> str:
        return self.kernel.params.C_NAME if self.kernel else ""


def layer_name(graph: int, node: int) -> str:
    """A layer's name, the prefix of its C symbols: L<node> in the entry subgraph, S<graph>L<node>
    in others."""
    return f"S{graph}L{node}" if graph else f"L{node}"


@dataclass
class OpContext:
    """One node as its lowering sees it: tensors by position, options, and the compile options."""

    model: Model
    graph: Subgraph
    op: Operator
    options: CompileOptions

    @property
    def where(self) -> str:
        sg = f"subgraph {self.graph.index} " if self.graph.index else ""
        return f"{sg}node {self.op.index} ({self.op.opcode})"

    @property
    def name(self) -> str:
        """The prefix of this layer's C symbols."""
        return layer_name(self.graph.index, self.op.index)

    @property
    def layout(self) -> str:
        """The weight layout the options give this layer (CompileOptions.layer_layout); a
        lowering that reads it records it in its Layer's `layout`."""
        return self.options.layer_layout(self.name)

    def fail(self, what: str, fix: str = "") -> Unsupported:
        return Unsupported(f"{self.where}: {what}", fix or "check the model; 'tinydeploy ops' "
                                                           "lists what the engine compiles")

    def require(self, cond: bool, what: str, fix: str = "") -> None:
        if not cond:
            raise self.fail(what, fix)

    def input(self, i: int) -> Tensor:
        """Input i, which must be present."""
        t = self.optional_input(i)
        if t is None:
            raise self.fail(f"input {i} is missing")
        return t

    def optional_input(self, i: int) -> Tensor | None:
        """Input i, or None where the node leaves it out (-1 or a shorter input list)."""
        ins = self.op.inputs
        if i >= len(ins) or ins[i] < 0:
            return None
        return self.graph.tensors[ins[i]]

    def output(self, i: int = 0) -> Tensor:
        if i >= len(self.op.outputs) or self.op.outputs[i] < 0:
            raise self.fail(f"output {i} is missing")
        return self.graph.tensors[self.op.outputs[i]]

    def option(self, name: str, default: Any = None) -> Any:
        v = self.op.options.get(name)
        return default if v is None else v

    @property
    def activation(self) -> str:
        return str(self.option("fused_activation_function", "NONE"))

    def qtype(self, t: Tensor) -> QType:
        return qtype(t.dtype, f"{self.where}: tensor '{t.name}'")

    def require_type(self, allowed: tuple[str, ...], *tensors: Tensor) -> None:
        """Each tensor has one of the allowed types, and quantization parameters where integer."""
        for t in tensors:
            self.require(t.dtype in allowed, f"tensor '{t.name}' is {t.dtype}, this kernel takes "
                                             f"{' or '.join(allowed)}")
            if t.dtype in ("int8", "int16", "uint8"):
                self.require(len(t.scale) > 0, f"tensor '{t.name}' has no quantization parameters")

    def require_same_quantization(self, a: Tensor, b: Tensor, what: str) -> None:
        """Exact equality of scale and zero point, as TFLite checks it (float32 ==)."""
        self.require(np.float32(a.scale0) == np.float32(b.scale0) and a.zp0 == b.zp0,
                     f"{what}: tensors '{a.name}' and '{b.name}' must share scale and zero point "
                     f"({a.scale0!r}/{a.zp0} vs {b.scale0!r}/{b.zp0})")

    def const(self, suffix: str, ctype: str, values: np.ndarray) -> ConstArray:
        return ConstArray(f"{self.name}_{suffix}", ctype, np.ascontiguousarray(values))

    def producer(self, tensor: int) -> Operator | None:
        """The node of this subgraph that writes `tensor`, if any."""
        return next((op for op in self.graph.operators if tensor in op.outputs), None)

    def constant(self, i: int, what: str) -> np.ndarray:
        """Input i's constant data (an error naming `what` where it is computed at run time)."""
        t = self.input(i)
        self.require(t.is_constant, f"{what} must be constant")
        return t.array()


Lowering = Callable[[OpContext], Layer]
ShapeRule = Callable[[OpContext], list[tuple[int, ...]]]


@dataclass
class GeneratedOp:
    """A random single-operator test model: a Keras model and representative inputs (TensorFlow
    quantizes it), or finished .tflite bytes where Keras cannot express the operator."""

    description: str
    keras_model: Any = None
    representative: list[np.ndarray] = field(default_factory=list)
    tflite: bytes | None = None


@dataclass
class OpSpec:
    """Everything the engine knows about one builtin operator.

    lowerings: keyed by (activation type, weight type); the activation type is that of the input
    `keyed_by` names (0 by default), the weight type that of input `weights` (None where the op has
    no weights). infer_shape gives the output shapes its inputs and options imply: the validator
    checks them against the file before any lowering runs. generate makes random single-op test
    models (rng, activation type). optimized: per activation type, the core families with a
    hand-optimized path (`tinydeploy ops`)."""

    opcode: str
    lowerings: dict[tuple[str, str | None], Lowering]
    inputs: tuple[int, int]
    outputs: tuple[int, int] = (1, 1)
    options: str | None = None
    weights: int | None = None
    keyed_by: int = 0
    infer_shape: ShapeRule | None = None
    kernels: tuple[Kernel, ...] = ()
    generate: Callable[[np.random.Generator, str], GeneratedOp] | None = None
    optimized: dict[str, tuple[str, ...]] = field(default_factory=dict)
    doc: str = ""
    model_types: tuple[str, ...] | None = None  # what `types` says where the key misleads

    def key(self, ctx: OpContext) -> tuple[str, str | None]:
        act = ctx.optional_input(self.keyed_by)
        w = ctx.optional_input(self.weights) if self.weights is not None else None
        return (act.dtype if act is not None else "none", w.dtype if w is not None else None)

    @property
    def types(self) -> list[str]:
        """The model types the op runs in, as `tinydeploy ops` names them (an int16-activation
        op is part of a 16x8 model)."""
        if self.model_types is not None:
            return list(self.model_types)
        names = {"int8": "int8", "int16": "int16x8", "float32": "float32"}
        return sorted({names.get(a, a) for a, _ in self.lowerings})


# ---- helpers shared by the families ----

def pad_before(in_size: int, out_size: int, stride: int, k: int, dil: int, padding: str) -> int:
    """TFLite's padding before the first row/column for SAME (0 for VALID)."""
    if padding != "SAME":
        return 0
    eff = (k - 1) * dil + 1
    return max(0, ((out_size - 1) * stride + eff - in_size)) // 2


def conv_out_size(in_size: int, k: int, stride: int, dil: int, padding: str) -> int:
    """TFLite's ComputeOutSize for SAME and VALID padding."""
    eff = (k - 1) * dil + 1
    if padding == "SAME":
        return (in_size + stride - 1) // stride
    return (in_size - eff + stride) // stride


def hwc(ctx: OpContext, t: Tensor) -> tuple[int, int, int]:
    """Height, width and channels of a batch-1 NHWC tensor."""
    ctx.require(len(t.shape) == 4 and t.shape[0] == 1,
                f"tensor '{t.name}' has shape {list(t.shape)}; batch 1 NHWC is required")
    return t.shape[1], t.shape[2], t.shape[3]


def broadcast_shape(ctx: OpContext, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy-style broadcasting, as TFLite's element-wise ops do it."""
    rank = max(len(a), len(b))
    pa, pb = (1,) * (rank - len(a)) + a, (1,) * (rank - len(b)) + b
    out = []
    for x, y in zip(pa, pb):
        ctx.require(x == y or x == 1 or y == 1,
                    f"shapes {list(a)} and {list(b)} do not broadcast")
        out.append(y if x == 1 else x)
    return tuple(out)


def same_shape_as_input(ctx: OpContext) -> list[tuple[int, ...]]:
    """The output has input 0's shape (element-wise unary operators)."""
    return [ctx.input(0).shape]
