"""Progress bars on long work (tqdm), quiet when output is not a terminal or TINYDEPLOY_QUIET=1."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def enabled() -> bool:
    return os.environ.get("TINYDEPLOY_QUIET") != "1" and sys.stderr.isatty()


def progress(items: Iterable[T], total: int | None = None, desc: str = "") -> Iterator[T]:
    if not enabled():
        yield from items
        return
    from tqdm import tqdm

    yield from tqdm(items, total=total, desc=desc, leave=False, dynamic_ncols=True)


def step(message: str) -> None:
    """One line saying which stage is running (always shown: it is the demo's narrative)."""
    if os.environ.get("TINYDEPLOY_QUIET") != "1":
        print(f"==> {message}", file=sys.stderr, flush=True)
