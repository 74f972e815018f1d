"""Build the generated C for this machine with gcc and run it through ctypes.

This is how the engine is checked against the TFLite reference interpreter without a board: the very
same `td_model.c` and kernels that go into the firmware, compiled for the host.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from tinydeploy.compiler import CompiledModel
from tinydeploy.errors import TinyDeployError
from tinydeploy.paths import KERNELS, kernel_sources


class HostModel:
    """A compiled model loaded as a shared library: `run(inputs)` returns the output arrays."""

    def __init__(self, compiled: CompiledModel, build_dir: str | Path | None = None) -> None:
        cc = shutil.which("gcc") or shutil.which("cc")
        if cc is None:
            raise TinyDeployError("no host C compiler found", "install gcc (apt-get install gcc)")
        self.compiled = compiled
        self._tmp = None if build_dir else tempfile.TemporaryDirectory(prefix="td-host-")
        d = Path(build_dir or self._tmp.name)  # type: ignore[union-attr]
        compiled.write(d)
        lib = d / "libtdmodel.so"
        cmd = [cc, "-O2", "-std=c99", "-Wall", "-Werror", "-shared", "-fPIC", "-I", str(KERNELS),
               "-I", str(d), str(d / "td_model.c"), *map(str, kernel_sources()), "-o", str(lib), "-lm"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            raise TinyDeployError(f"host build of the generated C failed:\n{proc.stderr.strip()}",
                                  "this is a tinydeploy bug: please report it with the model")
        self._lib = ctypes.CDLL(str(lib))
        self._lib.td_model_input.restype = ctypes.c_void_p
        self._lib.td_model_output.restype = ctypes.c_void_p
        self._lib.td_model_input.argtypes = [ctypes.c_int]
        self._lib.td_model_output.argtypes = [ctypes.c_int]

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        for i, (t, x) in enumerate(zip(self.compiled.input_tensors, inputs)):
            a = np.ascontiguousarray(x, dtype=t.dtype).reshape(-1)
            if a.size != t.size:
                raise TinyDeployError(f"input {i} has {a.size} values, the model wants {t.size}",
                                      f"give inputs of shape {list(t.shape)}")
            ctypes.memmove(self._lib.td_model_input(i), a.ctypes.data, a.nbytes)
        self._lib.td_model_invoke()
        outs = []
        for i, t in enumerate(self.compiled.output_tensors):
            buf = (ctypes.c_char * t.nbytes).from_address(self._lib.td_model_output(i))
            outs.append(np.frombuffer(bytes(buf), dtype=t.dtype).reshape(t.shape).copy())
        return outs
