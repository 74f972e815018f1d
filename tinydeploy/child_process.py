"""Child processes (emulators, oracle workers) that never outlive the process that started them."""

from __future__ import annotations

import ctypes
import signal


def die_with_parent() -> None:
    """In the child before exec: Linux's parent-death signal, so a child never outlives the process
    that started it (killed, crashed or interrupted), where it would spin a core."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
