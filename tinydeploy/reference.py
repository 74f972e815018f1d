"""Oracles: golden outputs from TFLite's reference kernels, and TFLite Micro's arena size.

The reference runs in a worker process, so an interpreter that crashes on a hostile file (the
`tflite-micro` wheel segfaults on some) costs that worker, not the caller: its crash or refusal
becomes one `OracleError` line. The chain: LiteRT (`ai-edge-litert`) with its BUILTIN_REF resolver
(the default XNNPACK path is not bit-exact), and where LiteRT refuses a model that TFLite Micro runs
(per-channel biases that say quantized_dimension 3, as TFLite Micro's person-detection model does),
the `tflite-micro` wheel, a host build of TFLite Micro itself. Models with an operator LiteRT's
reference kernels get wrong (int8 and int16 SUM) go to TFLite Micro directly.
`ReferenceInterpreter.name` says which answered; TFLite Micro rounds FULLY_CONNECTED differently
from TensorFlow, so compare it with a model compiled with rounding="tflm".
"""

from __future__ import annotations

import multiprocessing.connection
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from tinydeploy.errors import TinyDeployError

ORACLES = ("litert", "tflm")
TFLM_ARENA = 64 << 20
ANSWER_TIMEOUT = 300.0


def _litert_defects(data: bytes) -> list[str]:
    """Operators LiteRT's reference kernels compute wrongly where TFLite Micro is right (measured):
    its reference int8 SUM reads the inputs as unsigned bytes and clamps to [0, 255], and so does
    its int16 SUM (it reads the first half of the int16 buffer as bytes and writes one byte of
    each output), where TFLite Micro sums the int16 values in int32, requantizes and clamps."""
    from tinydeploy.tflite_reader import parse_model

    try:
        model = parse_model(data)
    except TinyDeployError:
        return []
    return [f"{g.index}:{op.index}" for g in model.subgraphs for op in g.operators
            if op.opcode == "SUM" and op.inputs
            and g.tensors[op.inputs[0]].dtype in ("int8", "int16")]


class OracleError(TinyDeployError):
    """The reference interpreters refused the model or crashed on it."""


# ---- the worker process ----

def _load(kind: str, data: bytes) -> Any:
    if kind == "litert":
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        it = Interpreter(model_content=data,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
        it.allocate_tensors()
        return it
    from tflite_micro.python.tflite_micro import runtime

    from tinydeploy.captured_output import captured_output

    with captured_output():
        return runtime.Interpreter.from_bytes(data, arena_size=TFLM_ARENA)


def _io_counts(data: bytes) -> tuple[int, int]:
    """Inputs and outputs of the entry subgraph, read with LiteRT's schema bindings (the wheel
    has no call that says how many there are)."""
    from ai_edge_litert import schema_py_generated as schema

    g = schema.Model.GetRootAs(data, 0).Subgraphs(0)
    return g.InputsLength(), g.OutputsLength()


def _details(kind: str, it: Any, data: bytes) -> tuple[list, list]:
    def strip(ds: list) -> list:
        return [(d["dtype"], tuple(int(v) for v in d["shape"])) for d in ds]
    if kind == "litert":
        return strip(it.get_input_details()), strip(it.get_output_details())
    n_in, n_out = _io_counts(data)
    return (strip([it.get_input_details(i) for i in range(n_in)]),
            strip([it.get_output_details(i) for i in range(n_out)]))


def _run(kind: str, it: Any, inputs: list[np.ndarray], n_out: int) -> list[np.ndarray]:
    if kind == "litert":
        for d, x in zip(it.get_input_details(), inputs):
            it.set_tensor(d["index"], np.asarray(x, d["dtype"]).reshape(d["shape"]))
        it.invoke()
        return [it.get_tensor(d["index"]).copy() for d in it.get_output_details()]
    for i, x in enumerate(inputs):
        it.set_input(x, i)
    it.invoke()
    return [np.array(it.get_output(i)) for i in range(n_out)]


def _tflm_arena(data: bytes, arena_size: int) -> int | None:
    from tinydeploy.captured_output import captured_output

    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        return None
    with captured_output():
        it = runtime.Interpreter.from_bytes(data, arena_size=arena_size)
    with captured_output() as output:
        it.print_allocations()
        text = output()
    m = re.search(r"Arena allocation total (\d+) bytes", text)
    return int(m.group(1)) if m else None


def _serve(conn: multiprocessing.connection.Connection) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    models: dict[int, tuple[str, Any, int]] = {}
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        op = msg[0]
        try:
            if op == "load":
                _, handle, kind, data = msg
                it = _load(kind, data)
                details = _details(kind, it, data)
                models[handle] = (kind, it, len(details[1]))
                conn.send(("ok", details))
            elif op == "run":
                kind, it, n_out = models[msg[1]]
                conn.send(("ok", _run(kind, it, msg[2], n_out)))
            elif op == "reset":
                kind, it, _ = models[msg[1]]
                (it.reset_all_variables if kind == "litert" else it.reset)()
                conn.send(("ok", None))
            elif op == "unload":
                models.pop(msg[1], None)
                conn.send(("ok", None))
            elif op == "tflm_arena":
                conn.send(("ok", _tflm_arena(msg[1], msg[2])))
        except Exception as exc:  # noqa: BLE001 - any refusal goes back to the caller as text
            conn.send(("error", f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}"
                       if str(exc).strip() else type(exc).__name__))


class _Crashed(Exception):
    pass


class _Worker:
    """The one worker process this Python process talks to, over a socket pair (its stdout is
    left to native code that prints); restarted after a crash. Threads share it (a farm benches
    on several places at once): `lock` keeps each question and its answer together."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.conn: multiprocessing.connection.Connection | None = None
        self.generation = 0
        self.next_handle = 0
        self.lock = threading.RLock()

    def _start(self) -> None:
        from tinydeploy.child_process import die_with_parent

        ours, theirs = socket.socketpair()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tinydeploy.reference", str(theirs.fileno())],
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
        theirs.close()
        self.conn = multiprocessing.connection.Connection(ours.detach())
        self.generation += 1

    def call(self, msg: tuple) -> Any:
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                self._start()
            assert self.conn is not None and self.proc is not None
            try:
                self.conn.send(msg)
                if not self.conn.poll(ANSWER_TIMEOUT):
                    raise _Crashed(f"no answer in {ANSWER_TIMEOUT:g} s")
                status, value = self.conn.recv()
            except (EOFError, OSError, _Crashed) as exc:
                self.proc.kill()
                code = self.proc.wait()
                self.conn.close()
                self.proc = None
                detail = str(exc) if isinstance(exc, _Crashed) else (
                    f"signal {-code}" if code is not None and code < 0 else f"exit status {code}")
                raise _Crashed(f"crashed ({detail})") from None
        if status == "error":
            raise RuntimeError(value)
        return value


_WORKER = _Worker()


class ReferenceInterpreter:
    """The reference interpreter for one model (`oracle`: "auto", "litert" or "tflm")."""

    def __init__(self, model: str | Path | bytes, oracle: str = "auto") -> None:
        if oracle not in ("auto", *ORACLES):
            raise TinyDeployError(f"unknown oracle '{oracle}'", "use auto, litert or tflm")
        self.data = model if isinstance(model, bytes) else Path(model).read_bytes()
        refusals = []
        if oracle != "auto":
            order: tuple[str, ...] = (oracle,)
        else:
            order = ("tflm",) if _litert_defects(self.data) else ORACLES
        for kind in order:
            try:
                self._open(kind)
                self.name = kind
                break
            except (_Crashed, RuntimeError) as exc:
                refusals.append(f"{'LiteRT' if kind == 'litert' else 'TFLite Micro'}: {exc}")
        else:
            raise OracleError("the reference interpreter rejects this file: "
                              + "; ".join(refusals),
                              "the file is damaged or uses something the reference kernels do "
                              "not run; nothing can be compared against it")

    def _open(self, kind: str) -> None:
        with _WORKER.lock:
            _WORKER.next_handle += 1
            self.handle = _WORKER.next_handle
            self.inputs, self.outputs = _WORKER.call(("load", self.handle, kind, self.data))
            self.generation = _WORKER.generation

    def _call(self, msg: tuple) -> Any:
        try:
            with _WORKER.lock:
                if self.generation != _WORKER.generation:  # the worker was restarted since
                    self._open(self.name)
                return _WORKER.call(msg[:1] + (self.handle,) + msg[1:])
        except (_Crashed, RuntimeError) as exc:
            raise OracleError(f"the reference interpreter ({self.name}) failed on this model: "
                              f"{exc}", "the file is damaged or not supported by the reference "
                                        "kernels") from None

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        xs = [np.asarray(x, dtype).reshape(shape)
              for x, (dtype, shape) in zip(inputs, self.inputs)]
        return self._call(("run", xs))

    def reset(self) -> None:
        """Variable tensors back to their initial values."""
        self._call(("reset",))

    def __del__(self) -> None:
        try:
            if (getattr(self, "generation", -1) == _WORKER.generation and _WORKER.proc is not None
                    and _WORKER.proc.poll() is None):
                _WORKER.call(("unload", self.handle))
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing left to free
            pass


def tflm_arena_bytes(model: str | Path | bytes, arena_size: int = TFLM_ARENA) -> int | None:
    """TFLite Micro's arena use for the model (host build from the `tflite-micro` wheel), or None
    where the wheel is missing or refuses (or crashes on) the model.

    The wheel has no API returning the figure; `print_allocations()` writes it from native code,
    so the worker captures its output at the file-descriptor level."""
    content = model if isinstance(model, bytes) else Path(model).read_bytes()
    try:
        return _WORKER.call(("tflm_arena", content, arena_size))
    except (_Crashed, RuntimeError):
        return None


if __name__ == "__main__":
    _serve(multiprocessing.connection.Connection(int(sys.argv[1])))
