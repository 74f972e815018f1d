"""Capture what native code (TensorFlow's converter, TFLite Micro) writes to file descriptors 1
and 2: Python-level redirection does not reach it."""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import tempfile
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def captured_output() -> Iterator[Callable[[], str]]:
    """Within the block, fds 1 and 2 (and sys.stdout) go to a temporary file; the yielded
    function returns what has been written so far."""
    libc = ctypes.CDLL(None)
    with tempfile.TemporaryFile() as sink:
        saved = [os.dup(1), os.dup(2)]

        def text() -> str:
            libc.fflush(None)
            sink.seek(0)
            return sink.read().decode("utf-8", "replace")

        libc.fflush(None)
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                yield text
        finally:
            libc.fflush(None)
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
