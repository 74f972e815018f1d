"""Build the generated C for this machine with gcc and run it.

This is how the engine is checked against the reference interpreter without a board: the very same
`<prefix>.c` and kernels that go into the firmware, compiled for the host. The kernel library is
compiled once per set of sources and flags (kept in the cache folder); each model adds only its own
file, and many models (distinct prefixes) share one library.

Two forms: `HostLibrary`/`HostModel` load a shared library through ctypes (fast, for the usual
checks); `run_checked` builds one executable with AddressSanitizer, UndefinedBehaviorSanitizer and
the write checks of td_check.c and runs it in a subprocess, so a kernel that writes outside its
tensors is a reported finding, never a crash of the caller.
"""

from __future__ import annotations

import ctypes
import hashlib
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinydeploy.compiler import CompiledModel
from tinydeploy.errors import TinyDeployError
from tinydeploy.paths import KERNELS, kernel_sources
from tinydeploy.toolchain import cache_dir

CFLAGS = ["-O2", "-std=c99", "-Wall", "-Werror", "-fPIC", "-ffp-contract=off", "-DTD_INTROSPECT"]
SANITIZE = ["-O1", "-g", "-std=c99", "-Wall", "-Werror", "-ffp-contract=off",
            "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer", "-DTD_CHECK_WRITES"]
GUARD = 64  # td_check.c: TD_GUARD bytes either side of the arena and the state


def _cc() -> str:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise TinyDeployError("no host C compiler found", "install gcc (apt-get install gcc)")
    return cc


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise TinyDeployError(f"{what} failed:\n{proc.stderr.strip()[-3000:]}",
                              "this is a tinydeploy bug: please report it with the model")


def kernel_objects(flags: list[str]) -> list[Path]:
    """The kernel library compiled with `flags`, once per sources, flags and compiler."""
    cc = _cc()
    h = hashlib.sha256(" ".join([cc, *flags]).encode())
    for f in sorted(KERNELS.glob("*")):
        h.update(f.name.encode() + f.read_bytes())
    d = cache_dir() / "host-kernels" / h.hexdigest()[:16]
    objs = [d / f"{src.stem}.o" for src in kernel_sources()]
    if all(o.is_file() for o in objs):
        return objs
    tmp = Path(tempfile.mkdtemp(prefix="build-", dir=cache_dir()))
    try:
        for src in kernel_sources():
            _run([cc, *flags, "-I", str(KERNELS), "-c", str(src), "-o", str(tmp / f"{src.stem}.o")],
                 f"host build of {src.name}")
        d.parent.mkdir(parents=True, exist_ok=True)
        try:
            tmp.rename(d)  # atomic: a concurrent build of the same set wins or loses whole
        except OSError:
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return objs


def _model_objects(models: list[CompiledModel], d: Path, flags: list[str]) -> list[Path]:
    prefixes = [m.prefix for m in models]
    if len(set(prefixes)) != len(prefixes):
        raise TinyDeployError(f"models share a C prefix: {prefixes}",
                              "compile each model with its own prefix")
    objs = []
    for m in models:
        m.write(d)
        obj = d / f"{m.prefix}.o"
        _run([_cc(), *flags, "-I", str(KERNELS), "-I", str(d), "-c", str(d / f"{m.prefix}.c"),
              "-o", str(obj)], f"host build of the generated C for '{m.name}'")
        objs.append(obj)
    return objs


def _aligned(nbytes: int, guard: int = 0) -> tuple[np.ndarray, int]:
    """A buffer with `guard` spare bytes either side; returns it and the aligned start address."""
    raw = np.zeros(nbytes + 2 * guard + 32, np.uint8)
    start = (raw.ctypes.data + guard + 15) // 16 * 16
    return raw, start


class HostLibrary:
    """Compiled models (each with its own prefix) in one shared library, run through ctypes.
    Each model keeps its persistent state between runs, as an interpreter does; reset() clears it."""

    def __init__(self, models: list[CompiledModel], build_dir: str | Path | None = None) -> None:
        self.models = models
        self._tmp = None if build_dir else tempfile.TemporaryDirectory(prefix="td-host-")
        d = Path(build_dir or self._tmp.name)  # type: ignore[union-attr]
        d.mkdir(parents=True, exist_ok=True)
        lib = d / "libtdmodels.so"
        objs = _model_objects(models, d, CFLAGS) + kernel_objects(CFLAGS)
        _run([_cc(), "-shared", *map(str, objs), "-o", str(lib), "-lm"], "host link")
        self._lib = ctypes.CDLL(str(lib))
        self._buffers = []
        for m in models:
            invoke = getattr(self._lib, f"{m.prefix}_invoke")
            reset = getattr(self._lib, f"{m.prefix}_reset")
            invoke.argtypes, invoke.restype = [ctypes.c_void_p, ctypes.c_void_p], None
            reset.argtypes, reset.restype = [ctypes.c_void_p], None
            arena = _aligned(max(m.arena_bytes, 16))
            state = _aligned(max(m.state_bytes, 16))
            self._buffers.append((invoke, reset, arena, state))
        for i in range(len(models)):
            self.reset(i)

    def reset(self, index: int = 0) -> None:
        _, reset, _, (_, state) = self._buffers[index]
        reset(ctypes.c_void_p(state))

    def run(self, index: int, inputs: list[np.ndarray]) -> list[np.ndarray]:
        m = self.models[index]
        invoke, _, (_, arena), (_, state) = self._buffers[index]
        for i, (t, x) in enumerate(zip(m.input_tensors, inputs)):
            a = np.ascontiguousarray(x, dtype=t.dtype).reshape(-1)
            if a.size != t.size:
                raise TinyDeployError(f"input {i} has {a.size} values, the model wants {t.size}",
                                      f"give inputs of shape {list(t.shape)}")
            ctypes.memmove(arena + m.plan.offsets[t.index], a.ctypes.data, a.nbytes)
        invoke(ctypes.c_void_p(arena), ctypes.c_void_p(state))
        outs = []
        for t in m.output_tensors:
            buf = (ctypes.c_char * t.nbytes).from_address(arena + m.plan.offsets[t.index])
            outs.append(np.frombuffer(bytes(buf), dtype=t.dtype).reshape(t.shape).copy())
        return outs


class HostModel:
    """One compiled model as a shared library: `run(inputs)` returns the output arrays."""

    def __init__(self, compiled: CompiledModel, build_dir: str | Path | None = None) -> None:
        self.compiled = compiled
        self._lib = HostLibrary([compiled], build_dir)

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        return self._lib.run(0, inputs)

    def reset(self) -> None:
        self._lib.reset(0)


# ---- the checked build: sanitizers and write checks, in a subprocess ----

_HARNESS = r"""/* Runs cases from a file through the models' descriptors; see host_runner.run_checked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "td_runtime.h"
%(externs)s
static const td_descriptor *const models[] = {%(table)s};

static int8_t *guarded(int32_t bytes) {
    int8_t *raw = (int8_t *)malloc((size_t)bytes + 2 * %(guard)d + 16);
    if (!raw) abort();
    memset(raw, 0x5A, (size_t)bytes + 2 * %(guard)d + 16);
    return (int8_t *)(((uintptr_t)raw + %(guard)d + 15) & ~(uintptr_t)15);
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    FILE *in = fopen(argv[1], "rb"), *out = fopen(argv[2], "wb");
    if (!in || !out) return 2;
    const int n = (int)(sizeof models / sizeof models[0]);
    int8_t **arenas = calloc((size_t)n, sizeof *arenas), **states = calloc((size_t)n, sizeof *states);
    for (int i = 0; i < n; ++i) {
        arenas[i] = guarded(models[i]->arena_bytes);
        states[i] = guarded(models[i]->state_bytes);
        models[i]->reset(states[i]);
    }
    int32_t head[2];
    while (fread(head, sizeof head, 1, in) == 1) {
        const td_descriptor *m = models[head[0]];
        if (head[1]) m->reset(states[head[0]]);
        for (int32_t k = 0; k < m->num_inputs; ++k)
            if (fread(arenas[head[0]] + m->inputs[k].offset, 1, (size_t)m->inputs[k].bytes, in)
                != (size_t)m->inputs[k].bytes) return 3;
        m->invoke(arenas[head[0]], states[head[0]]);
        for (int32_t k = 0; k < m->num_outputs; ++k)
            fwrite(arenas[head[0]] + m->outputs[k].offset, 1, (size_t)m->outputs[k].bytes, out);
    }
    fclose(out);
    return 0;
}
"""


@dataclass
class CheckedRun:
    """What the sanitized, write-checked build made of a batch of cases."""

    ok: bool
    outputs: list[list[np.ndarray]]  # per case, its outputs (only where ok)
    report: str  # the sanitizer or write-check finding where not ok


def run_checked(models: list[CompiledModel], cases: list[tuple[int, list[np.ndarray], bool]],
                timeout: float = 300.0) -> CheckedRun:
    """Run (model index, inputs, reset first) cases through all `models` built into one executable
    with ASan, UBSan and td_check.c's write checks."""
    with tempfile.TemporaryDirectory(prefix="td-checked-") as tmp:
        d = Path(tmp)
        objs = _model_objects(models, d, SANITIZE) + kernel_objects(SANITIZE)
        externs = "\n".join(f"extern const td_descriptor {m.prefix}_desc;" for m in models)
        table = ", ".join(f"&{m.prefix}_desc" for m in models)
        (d / "harness.c").write_text(_HARNESS % dict(externs=externs, table=table, guard=GUARD))
        exe = d / "harness"
        _run([_cc(), *SANITIZE, "-I", str(KERNELS), str(d / "harness.c"), *map(str, objs), "-o",
              str(exe), "-lm"], "checked host build")
        with open(d / "cases.bin", "wb") as f:
            for index, inputs, reset in cases:
                f.write(struct.pack("<ii", index, int(reset)))
                for t, x in zip(models[index].input_tensors, inputs):
                    f.write(np.ascontiguousarray(x, dtype=t.dtype).tobytes())
        proc = subprocess.run([str(exe), str(d / "cases.bin"), str(d / "out.bin")],
                              capture_output=True, text=True, timeout=timeout,
                              env={"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0",
                                   "UBSAN_OPTIONS": "print_stacktrace=1"})
        if proc.returncode:
            return CheckedRun(False, [], proc.stderr[-4000:] or f"exit status {proc.returncode}")
        data, pos, outputs = (d / "out.bin").read_bytes(), 0, []
        for index, _, _ in cases:
            outs = []
            for t in models[index].output_tensors:
                outs.append(np.frombuffer(data[pos:pos + t.nbytes], t.dtype).reshape(t.shape))
                pos += t.nbytes
            outputs.append(outs)
        return CheckedRun(True, outputs, "")
