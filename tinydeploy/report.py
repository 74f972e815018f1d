"""Benchmark reports for people: CSV for spreadsheets, HTML with plots for reading.

Each run is one bench report (a model on a board); several runs compare side by side.
"""

from __future__ import annotations

import base64
import csv
import html
import io
from pathlib import Path
from typing import Any

CSV_FIELDS = ["model", "board", "place", "core", "simulated", "inputs", "mismatches", "accuracy_host_int8",
              "accuracy_device", "latency_unit", "latency_median", "latency_min", "latency_max",
              "latency_ms_median", "latency_mlperf_us", "flash_bytes", "ram_bytes", "arena_bytes",
              "weights_bytes", "macs"]


def _latency(run: dict[str, Any], which: str) -> Any:
    return run.get(f"latency_{run.get('latency_unit', 'cycles')}_{which}")


def csv_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for r in runs:
        row = {k: r.get(k, "") for k in CSV_FIELDS}
        for which in ("median", "min", "max"):
            row[f"latency_{which}"] = _latency(r, which)
        rows.append(row)
    return rows


def write_csv(runs: list[dict[str, Any]], path: str | Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        w.writerows(csv_rows(runs))


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plots(runs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['model']}\n{r['board']}" for r in runs]
    out = []
    fig, ax = plt.subplots(figsize=(max(4, 2.4 * len(runs)), 3))
    ax.bar(labels, [r.get("latency_ms_median", 0) for r in runs], color="#3b7dd8")
    ax.set_ylabel("ms per inference (median)")
    ax.set_title("Latency" + (" (QEMU: instruction-based estimate)"
                             if any(r.get("simulated") for r in runs) else ""))
    out.append(("Latency", _png(fig)))
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(max(4, 2.4 * len(runs)), 3))
    width = 0.25
    xs = range(len(runs))
    for k, (key, color) in enumerate((("flash_bytes", "#888"), ("ram_bytes", "#3b7dd8"),
                                      ("arena_bytes", "#e39b2d"))):
        ax.bar([x + (k - 1) * width for x in xs], [r.get(key, 0) / 1024 for r in runs], width,
               label=key.replace("_bytes", ""), color=color)
    ax.set_xticks(list(xs), labels)
    ax.set_ylabel("KiB")
    ax.set_title("Memory")
    ax.legend()
    out.append(("Memory", _png(fig)))
    plt.close(fig)
    for r in runs:
        layers = r.get("layers") or []
        if not layers:
            continue
        unit = r.get("latency_unit", "cycles")
        fig, ax = plt.subplots(figsize=(7, 0.28 * len(layers) + 1))
        names = [lay["layer"] for lay in layers]
        ax.barh(names[::-1], [lay[unit] for lay in layers][::-1], color="#3b7dd8")
        ax.set_xlabel(f"{unit} per layer")
        ax.set_title(f"Per-layer profile: {r['model']} on {r['board']}")
        out.append((f"Layers: {r['model']} on {r['board']}", _png(fig)))
        plt.close(fig)
    return out


def write_html(runs: list[dict[str, Any]], path: str | Path) -> None:
    """A self-contained page: summary table, then plots (embedded PNG)."""
    rows = csv_rows(runs)
    head = "".join(f"<th>{html.escape(k)}</th>" for k in CSV_FIELDS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r[k]))}</td>" for k in CSV_FIELDS)
                   + "</tr>" for r in rows)
    notes = {r.get("latency_basis", "") for r in runs if r.get("latency_basis")}
    figs = "".join(f"<h2>{html.escape(t)}</h2><img alt='{html.escape(t)}' "
                   f"src='data:image/png;base64,{b}'>" for t, b in _plots(runs))
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>tinydeploy benchmark</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;font-size:13px}}th{{background:#eee}}</style></head>
<body><h1>tinydeploy benchmark</h1><table><tr>{head}</tr>{body}</table>
<p>{'<br>'.join(html.escape(n) for n in sorted(notes))}</p>{figs}</body></html>"""
    Path(path).write_text(page)
