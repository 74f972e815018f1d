"""The firmware's worst-case stack, from GCC's call graphs (-fcallgraph-info=su: one .ci file per
object with each function's frame size and its calls).

The deepest path from the reset handler, plus the deepest interrupt handler on top of it with the
core's exception frame, is what the stack must hold. Calls through the model descriptor
(`__indirect_call`) may reach any model's invoke or reset function. Library functions GCC gives no
size for (memcpy, the EABI division helpers) are charged a fixed frame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

LIBRARY_FRAME = 64     # newlib/libgcc helpers without call-graph data
EXCEPTION_FRAME = 104  # the extended (FPU) frame the core pushes on an interrupt
HANDLERS = ("SysTick_Handler",)

_NODE = re.compile(r'node: \{ title: "([^"]+)" label: "[^"]*?(?:\\n(\d+) bytes \(([^)]+)\))?"')
_EDGE = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')


@dataclass
class StackEstimate:
    bytes: int             # worst case, including the interrupt frame
    path: list[str]        # the deepest call chain from the reset handler
    complete: bool         # False where recursion or a dynamic frame left it a lower bound
    note: str = ""


def _graph(build_dir: Path) -> tuple[dict[str, int], dict[str, set[str]], list[str]]:
    sizes: dict[str, int] = {}
    calls: dict[str, set[str]] = {}
    problems = []
    for ci in sorted(build_dir.rglob("*.ci")):
        for line in ci.read_text(errors="replace").splitlines():
            if m := _NODE.search(line):
                title, size, kind = m.groups()
                if size is not None:
                    sizes[title] = int(size)
                    if "dynamic" in kind and "bounded" not in kind:
                        problems.append(f"{title} has a dynamic frame")
            elif m := _EDGE.search(line):
                calls.setdefault(m.group(1), set()).add(m.group(2))
    return sizes, calls, problems


def _short(title: str) -> str:
    return title.rsplit(":", 1)[-1]


def worst_case_stack(build_dir: Path) -> StackEstimate | None:
    """The worst-case stack of a firmware build, or None where no call graphs were written."""
    sizes, calls, problems = _graph(build_dir)
    if not sizes:
        return None
    by_name: dict[str, list[str]] = {}
    for title in sizes:
        by_name.setdefault(_short(title), []).append(title)
    entry_points = [t for t in sizes if _short(t).endswith(("_invoke", "_reset"))]
    memo: dict[str, tuple[int, list[str]]] = {}
    active: set[str] = set()

    def targets(title: str) -> list[str]:
        out = []
        for callee in calls.get(title, ()):
            if callee == "__indirect_call":
                out += entry_points
            elif callee in sizes:
                out.append(callee)
            else:  # a global defined in another file, or a library function
                out += by_name.get(_short(callee), [callee])
        return out

    def depth(title: str) -> tuple[int, list[str]]:
        if title in memo:
            return memo[title]
        if title in active:
            problems.append(f"recursion through {_short(title)}")
            return 0, []
        active.add(title)
        best: tuple[int, list[str]] = (0, [])
        for callee in targets(title):
            d = depth(callee)
            if d[0] > best[0]:
                best = d
        active.discard(title)
        own = sizes.get(title, LIBRARY_FRAME)
        memo[title] = (own + best[0], [_short(title)] + best[1])
        return memo[title]

    roots = by_name.get("Reset_Handler", []) or by_name.get("main", [])
    if not roots:
        return None
    base = max((depth(r) for r in roots), key=lambda d: d[0])
    handler = max((depth(h)[0] for name in HANDLERS for h in by_name.get(name, [])), default=0)
    return StackEstimate(base[0] + handler + EXCEPTION_FRAME, base[1], not problems,
                         "; ".join(sorted(set(problems))))
