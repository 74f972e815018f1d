"""Always-on keyword spotting on a board: stream a recording of any length to firmware built with
the audio front end, collect its detections and its per-hop cost, and score the detections
against reference labels.

The device does the work (firmware/dsp/td_stream.c): every 20 ms hop it computes the newest MFCC
row into a ring of the last 49, runs the model every `every` hops, averages the posteriors of the
last `window` inferences and reports a keyword whose average reaches `threshold`, then stays quiet
for `refractory_s`. The host sends the samples in time order, one hop per command, and reads what
the device says; the audio's own clock, not the link's speed, times the detections.

Scoring follows MLPerf Tiny's streaming wakeword benchmark: a detection with a reference keyword's
label inside that keyword's tolerance window (from its `time_s` to `time_s + tolerance_s`) is a
hit (one per reference); a reference nobody hit is a miss; every other detection is a false
accept, reported per hour of audio.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinydeploy import audio
from tinydeploy.boards import Board
from tinydeploy.errors import TinyDeployError
from tinydeploy.progress import progress, step
from tinydeploy.serial_link import DeviceError, DeviceLink

HOP_BYTES = 2 * audio.HOP          # one hop of int16 audio per td-stream command
MAX_WINDOW = 16                    # TD_STREAM_MAX_WINDOW
MAX_CLASSES = 32                   # TD_STREAM_MAX_CLASSES


@dataclass
class ListenConfig:
    """How the device decides. every: hops between inferences; window: inferences averaged;
    threshold: averaged probability that makes a detection; refractory_s: seconds after a
    detection in which none is made; tolerance_s: how long after a reference keyword's time a
    detection of it still counts."""

    every: int = 1
    window: int = 3
    threshold: float = 0.6
    refractory_s: float = 1.0
    tolerance_s: float = 1.5

    def check(self) -> None:
        if self.every < 1:
            raise TinyDeployError(f"--every {self.every}: inferences must be at least one hop "
                                  "apart", "use --every 1 or more")
        if not 1 <= self.window <= MAX_WINDOW:
            raise TinyDeployError(f"--window {self.window} is not 1..{MAX_WINDOW} inferences",
                                  "use a window of 1 to 16")
        if not 0.0 < self.threshold <= 1.0:
            raise TinyDeployError(f"--threshold {self.threshold} is not a probability in (0, 1]",
                                  "try --threshold 0.6")
        if self.refractory_s < 0 or self.tolerance_s <= 0:
            raise TinyDeployError("--refractory must be >= 0 and --tolerance > 0 seconds",
                                  "try --refractory 1 --tolerance 1.5")

    @property
    def refractory_hops(self) -> int:
        return round(self.refractory_s * audio.SAMPLE_RATE / audio.HOP)


@dataclass
class StreamResult:
    """What the device said about one stream: detections (time_s, label, score) and the ticks of
    every hop's front end and of every inference."""

    detections: list[dict[str, Any]] = field(default_factory=list)
    feature_ticks: list[int] = field(default_factory=list)
    inference_ticks: list[int] = field(default_factory=list)


def ignore_mask(classes: list[str]) -> int:
    """Classes that are never reported: those named like _silence_ and _unknown_."""
    return sum(1 << i for i, c in enumerate(classes) if c.startswith("_"))


def model_classes(model: Path, outputs: int, labels: str | None = None) -> list[str]:
    """Class names: --labels, else model_card.json beside the model, else class0, class1, ..."""
    if labels:
        names = [x.strip() for x in labels.split(",")]
    else:
        card = model.parent / "model_card.json"
        try:
            names = json.loads(card.read_text()).get("classes") if card.is_file() else None
        except json.JSONDecodeError:
            names = None
        names = names or [f"class{i}" for i in range(outputs)]
    if len(names) != outputs:
        raise TinyDeployError(f"{len(names)} class names for a model with {outputs} outputs",
                              "give one name per output with --labels a,b,c")
    return [str(n) for n in names]


def pcm16(x: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] as int16 samples."""
    return (np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2")


def run_stream(link: DeviceLink, pcm: np.ndarray, classes: list[str],
               cfg: ListenConfig) -> StreamResult:
    """Stream int16 audio through the device's keyword spotter, one hop per command."""
    if len(classes) > MAX_CLASSES:
        raise TinyDeployError(f"{len(classes)} classes: the device's detector takes at most "
                              f"{MAX_CLASSES}", "train with fewer keywords")
    link.command(f"td-stream start {cfg.every} {cfg.window} {round(cfg.threshold * 1000)} "
                 f"{cfg.refractory_hops} {ignore_mask(classes)}")
    result = StreamResult()
    data = np.ascontiguousarray(pcm, "<i2").tobytes()
    chunks = range(0, len(data), HOP_BYTES)
    for at in progress(chunks, total=len(chunks), desc="streaming hops"):
        for line in link.command("td-stream " + data[at:at + HOP_BYTES].hex()):
            body = line[len("m-td-"):]
            try:
                if body.startswith("hop-"):
                    feature, inference = (int(v) for v in body[4:].split("-"))
                    result.feature_ticks.append(feature)
                    if inference:
                        result.inference_ticks.append(inference)
                elif body.startswith("detect-"):
                    label, permille, sample = (int(v) for v in body[7:].split("-"))
                    result.detections.append({"time_s": round(sample / audio.SAMPLE_RATE, 3),
                                              "label": classes[label],
                                              "score": permille / 1000})
            except (ValueError, IndexError):
                raise DeviceError(f"malformed answer to td-stream: {line[:60]}",
                                  "rebuild and reflash the firmware") from None
    return result


def read_reference(path: Path, classes: list[str]) -> list[dict[str, Any]]:
    """A reference labels file: a JSON list of {time_s, label}."""
    try:
        ref = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise TinyDeployError(f"{path}: not a readable JSON file ({exc})",
                              'write it as [{"time_s": 1.5, "label": "yes"}, ...]') from None
    if not isinstance(ref, list) or not all(
            isinstance(r, dict) and isinstance(r.get("time_s"), (int, float))
            and isinstance(r.get("label"), str) for r in ref):
        raise TinyDeployError(f"{path}: expected a list of {{time_s, label}} objects",
                              'write it as [{"time_s": 1.5, "label": "yes"}, ...]')
    unknown = sorted({r["label"] for r in ref} - set(classes))
    if unknown:
        raise TinyDeployError(f"{path}: labels {', '.join(unknown)} are not classes of the model",
                              f"use the model's classes: {', '.join(classes)}")
    return sorted(({"time_s": float(r["time_s"]), "label": r["label"]} for r in ref),
                  key=lambda r: r["time_s"])


def score(detections: list[dict[str, Any]], reference: list[dict[str, Any]], duration_s: float,
          tolerance_s: float) -> dict[str, Any]:
    """Hits, misses and false accepts (also per hour of audio) of detections against references."""
    matched = [False] * len(reference)
    hits = false_accepts = 0
    for d in sorted(detections, key=lambda d: d["time_s"]):
        for i, r in enumerate(reference):
            if (not matched[i] and r["label"] == d["label"]
                    and r["time_s"] <= d["time_s"] <= r["time_s"] + tolerance_s):
                matched[i] = True
                hits += 1
                break
        else:
            false_accepts += 1
    hours = duration_s / 3600.0
    return {"references": len(reference), "hits": hits, "misses": len(reference) - hits,
            "false_accepts": false_accepts,
            "false_accepts_per_hour": round(false_accepts / hours, 1) if hours else None,
            "hit_rate": round(hits / len(reference), 4) if reference else None,
            "tolerance_s": tolerance_s,
            "missed": [r for r, m in zip(reference, matched) if not m]}


def _stats(values: list[int], per_tick: float, unit: str, prefix: str) -> dict[str, Any]:
    if not values:
        return {}
    v = [x * per_tick for x in values]
    return {f"{prefix}_{unit}_min": round(min(v)),
            f"{prefix}_{unit}_median": round(statistics.median(v)),
            f"{prefix}_{unit}_max": round(max(v))}


def cost_report(result: StreamResult, board: Board, every: int) -> dict[str, Any]:
    """Per-hop front-end and inference cost in the board's latency unit (instructions on QEMU
    boards, cycles on real ones) and the share of a 20 ms hop's budget at the board's clock."""
    unit, per_tick = board.latency_unit, board.units_per_tick
    out: dict[str, Any] = {"cost_unit": unit, "hops": len(result.feature_ticks),
                           "inferences": len(result.inference_ticks)}
    out.update(_stats(result.feature_ticks, per_tick, unit, "frontend_per_hop"))
    out.update(_stats(result.inference_ticks, per_tick, unit, "inference"))
    budget = board.clock_hz * audio.HOP / audio.SAMPLE_RATE
    if result.feature_ticks:
        fe = statistics.median(result.feature_ticks) * per_tick
        inf = statistics.median(result.inference_ticks) * per_tick if result.inference_ticks else 0
        out["hop_budget"] = int(budget)
        out["frontend_budget_fraction"] = round(fe / budget, 4)
        out["hop_budget_fraction"] = round((fe + inf / every) / budget, 4)
        out["budget_basis"] = (f"20 ms at {board.clock_hz / 1e6:g} MHz; "
                               + ("QEMU counts instructions, taken as one per cycle"
                                  if board.is_qemu else "DWT cycles"))
    return out


def listen(model: Path, board: Board, wav: Path, port: str | None = None, baud: int | None = None,
           reference: Path | None = None, cfg: ListenConfig | None = None,
           labels: str | None = None, out_dir: Path = Path("out/firmware"),
           timeout: float = 60.0) -> dict[str, Any]:
    """Build the firmware with the audio front end, stream the WAV through it on the board (QEMU
    when simulated and no port is given) and return the report."""
    from tinydeploy.bench import make_firmware
    from tinydeploy.compiler import compile_model
    from tinydeploy.datasets.speech_commands import read_wav
    from tinydeploy.targets import open_target

    cfg = cfg or ListenConfig()
    cfg.check()
    if not Path(model).is_file():
        raise TinyDeployError(f"{model}: no such model file", "give the .tflite to listen with")
    if not Path(wav).is_file():
        raise TinyDeployError(f"{wav}: no such WAV file", "give the recording to stream")
    x = read_wav(Path(wav))
    if len(x) < audio.SAMPLE_RATE:
        raise TinyDeployError(f"{wav}: {len(x) / audio.SAMPLE_RATE:.2f} s of audio; the model "
                              "listens to one-second windows", "give at least one second")
    compiled = compile_model(model)
    outputs = compiled.output_tensors
    if len(outputs) != 1 or outputs[0].dtype != "int8":
        raise TinyDeployError(f"'{compiled.name}' has {len(outputs)} outputs of "
                              f"{[t.dtype for t in outputs]}; the detector reads one int8 "
                              "vector of class probabilities", "use a keyword-spotting model")
    classes = model_classes(Path(model), outputs[0].size, labels)
    ref = read_reference(reference, classes) if reference else None
    target = open_target(board, port, baud)
    fw = make_firmware(compiled, board, Path(out_dir) / f"{compiled.name}-{board.name}-listen",
                       audio_frontend=True)
    duration = len(x) / audio.SAMPLE_RATE
    step(f"streaming {duration:.1f} s of audio to {target.description}")
    with target:
        target.flash(fw.build.elf, fw.project)
        with target.link(timeout) as link:
            result = run_stream(link, pcm16(x), classes, cfg)
            if board.is_qemu and port is None:
                link.exit()
    report: dict[str, Any] = {
        "model": compiled.name, "board": board.name, "simulated": board.is_qemu,
        "wav": str(wav), "duration_s": round(duration, 3), "classes": classes,
        "every_hops": cfg.every, "window_inferences": cfg.window, "threshold": cfg.threshold,
        "refractory_s": cfg.refractory_s, "detections": result.detections,
        **cost_report(result, board, cfg.every),
        "flash_bytes": fw.build.flash_bytes, "ram_bytes": fw.build.ram_bytes}
    if ref is not None:
        report["score"] = score(result.detections, ref, duration, cfg.tolerance_s)
    return report


def format_listen(r: dict[str, Any]) -> str:
    """A short human-readable summary of a listen report."""
    unit = r["cost_unit"]
    lines = [(f"{r['model']} on {r['board']}{' (QEMU)' if r['simulated'] else ''}: "
              f"{r['duration_s']} s, {r['hops']} hops, {r['inferences']} inferences")]
    for d in r["detections"]:
        lines.append(f"  {d['time_s']:8.2f} s  {d['label']:<12} {d['score']:.3f}")
    if "frontend_per_hop_" + unit + "_median" in r:
        lines.append(f"  front end per hop: median {r[f'frontend_per_hop_{unit}_median']:,} {unit}"
                     f"; inference median {r.get(f'inference_{unit}_median', 0):,} {unit}; "
                     f"{r['hop_budget_fraction']:.1%} of the hop budget ({r['budget_basis']})")
    s = r.get("score")
    if s:
        lines.append(f"  hits {s['hits']}/{s['references']}, misses {s['misses']}, false accepts "
                     f"{s['false_accepts']} ({s['false_accepts_per_hour']} per hour)")
    return "\n".join(lines)
