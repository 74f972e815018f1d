"""The operator registry: one module per operator family in this package, each registering an
`OpSpec` per builtin operator (options, shape rule, lowerings by type, kernels, test-model
generator). Modules are discovered, not listed: adding an operator is one Python module here, one C
file in firmware/kernels and one test.
"""

from __future__ import annotations

import importlib
import pkgutil

from tinydeploy.ops.base import Kernel, OpSpec

_REGISTRY: dict[str, OpSpec] = {}
_CONSTANTS: dict[str, tuple[int, str]] = {}
_loaded = False


def register(*specs: OpSpec) -> None:
    """Called by each family module at import."""
    for spec in specs:
        if spec.opcode in _REGISTRY:
            raise RuntimeError(f"operator {spec.opcode} is registered twice")
        _REGISTRY[spec.opcode] = spec


def register_constant(name: str, value: int, doc: str) -> None:
    """A #define the kernels share with the compiler, emitted into td_kernels.h."""
    _CONSTANTS[name] = (value, doc)


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")


def get_spec(opcode: str) -> OpSpec | None:
    _load()
    return _REGISTRY.get(opcode)


def all_specs() -> list[OpSpec]:
    _load()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def all_kernels() -> list[Kernel]:
    """Every kernel any operator calls, once each, in name order."""
    found: dict[str, Kernel] = {}
    for spec in all_specs():
        for k in spec.kernels:
            found.setdefault(k.name, k)
    return [found[k] for k in sorted(found)]


def header_constants() -> dict[str, tuple[int, str]]:
    _load()
    return dict(sorted(_CONSTANTS.items()))
