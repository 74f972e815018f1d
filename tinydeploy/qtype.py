"""The tensor types the engine maps to C, and the rounding rule its integer arithmetic follows.

A `QType` is what every stage needs to know about a tensor type: its C storage type and size,
the range of an integer type, the accumulator its products need (int8 x int8 fits int32; int16
activations x int8 weights need int64, as TFLite's 16x8 kernels use) and the code the model
descriptor (`td_runtime.h`) carries so the firmware and `bench` move any type. A type without a
mapping is an error at every stage, never a silent int8.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinydeploy.errors import TinyDeployError


@dataclass(frozen=True)
class QType:
    name: str             # TFLite's name: "int8", "int16", "float32", ...
    ctype: str            # C storage type
    size: int             # bytes per element
    code: int             # TD_TYPE_* in td_runtime.h
    qmin: int | None = None   # integer range (None for float)
    qmax: int | None = None
    acc_ctype: str = ""   # accumulator of this type's products with int8 weights

    @property
    def is_float(self) -> bool:
        return self.qmin is None

    @property
    def numpy(self) -> str:
        return self.name


QTYPES: dict[str, QType] = {q.name: q for q in (
    QType("int8", "int8_t", 1, 0, -128, 127, "int32_t"),
    QType("uint8", "uint8_t", 1, 1, 0, 255, "int32_t"),
    QType("int16", "int16_t", 2, 2, -32768, 32767, "int64_t"),
    QType("int32", "int32_t", 4, 3, -(2 ** 31), 2 ** 31 - 1, "int64_t"),
    QType("float32", "float", 4, 4, None, None, "float"),
    QType("bool", "uint8_t", 1, 5, 0, 1, "int32_t"),
    QType("int64", "int64_t", 8, 6, -(2 ** 63), 2 ** 63 - 1, "int64_t"),
)}

# Where TFLite's reference kernels and TFLite Micro's differ in rounding (TensorFlow 2.21's int8
# FULLY_CONNECTED rounds once, TFLite Micro's twice), the engine follows the one asked for:
# "tflite" (LiteRT/TensorFlow's BUILTIN_REF kernels, the default) or "tflm".
ROUNDINGS = ("tflite", "tflm")


def qtype(name: str, what: str = "") -> QType:
    """The QType of a TFLite type name, or an error naming the tensor (`what`)."""
    q = QTYPES.get(name)
    if q is None:
        raise TinyDeployError(
            f"{what + ': ' if what else ''}type {name} has no C mapping in tinydeploy",
            f"the engine maps {', '.join(QTYPES)}; re-export the model with those types")
    return q


def c_range(ctype: str) -> tuple[int, int] | None:
    """The value range of an integer C type (None for float and pointer types)."""
    bits = {"int8_t": (8, True), "uint8_t": (8, False), "int16_t": (16, True),
            "uint16_t": (16, False), "int32_t": (32, True), "uint32_t": (32, False),
            "int64_t": (64, True)}.get(ctype)
    if bits is None:
        return None
    n, signed = bits
    return (-(1 << (n - 1)), (1 << (n - 1)) - 1) if signed else (0, (1 << n) - 1)
