"""Google Speech Commands layout: one folder of 16 kHz WAV files per word, `_background_noise_`,
and optionally `validation_list.txt` / `testing_list.txt`.

Builds the standard 12-class task: 10 keywords, "_silence_" (crops of the background noise) and
"_unknown_" (every other word, sampled down to about one class's share).
"""

from __future__ import annotations

import hashlib
import wave
from pathlib import Path

import numpy as np

from tinydeploy import audio
from tinydeploy.datasets.base import Dataset, Split
from tinydeploy.datasets.synth_kws import KEYWORDS
from tinydeploy.errors import TinyDeployError
from tinydeploy.progress import progress

CLASSES = ["_silence_", "_unknown_"] + KEYWORDS


def read_wav(path: Path) -> np.ndarray:
    """A mono float clip at 16 kHz from a PCM WAV file (8/16/32-bit; other rates resampled)."""
    try:
        with wave.open(str(path), "rb") as w:
            rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError, OSError) as exc:
        raise TinyDeployError(f"{path}: not a readable PCM WAV file ({exc})",
                              "re-encode it as 16-bit PCM WAV or remove it") from None
    if width not in (1, 2, 4):
        raise TinyDeployError(f"{path}: {8 * width}-bit samples are not supported",
                              "re-encode it as 16-bit PCM WAV")
    dtype = {1: np.uint8, 2: np.int16, 4: np.int32}[width]
    x = np.frombuffer(raw[: len(raw) // (width * channels) * width * channels], dtype)
    x = x.astype(np.float32)
    x = (x - 128) / 128 if width == 1 else x / float(2 ** (8 * width - 1))
    if channels > 1:
        x = x.reshape(-1, channels).mean(axis=1)
    return audio.resample(x, rate)


def _fit(x: np.ndarray) -> np.ndarray:
    """Pad or trim to exactly one second."""
    out = np.zeros(audio.SAMPLE_RATE, np.float32)
    out[: min(len(x), audio.SAMPLE_RATE)] = x[: audio.SAMPLE_RATE]
    return out


def _split_by_speaker(rel: str) -> str:
    """The dataset's own rule when no lists are given: hash the speaker id (before '_nohash_')."""
    speaker = Path(rel).name.split("_nohash_")[0]
    h = int(hashlib.sha1(speaker.encode()).hexdigest(), 16) % 100
    return "val" if h < 10 else "test" if h < 20 else "train"


def speech_commands(root: str | Path, seed: int = 0, max_per_class: int | None = None) -> Dataset:
    """Load a Speech Commands folder as MFCC features for the 12-class task."""
    root = Path(root)
    if not root.is_dir():
        raise TinyDeployError(f"{root}: no such dataset folder", "give the Speech Commands root")
    words = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("_"))
    present = [k for k in KEYWORDS if k in words]
    if not present:
        raise TinyDeployError(f"{root}: no keyword folders ({', '.join(KEYWORDS)}) found",
                              "point --dataset at the folder holding one sub-folder per word")
    lists = {}
    for split, name in (("val", "validation_list.txt"), ("test", "testing_list.txt")):
        f = root / name
        if f.is_file():
            lists.update({line.strip(): split for line in f.read_text().splitlines() if line.strip()})
    rng = np.random.default_rng(seed)
    items: dict[str, list[tuple[Path, int]]] = {"train": [], "val": [], "test": []}
    unknown: dict[str, list[tuple[Path, int]]] = {"train": [], "val": [], "test": []}
    for word in words:
        files = sorted((root / word).glob("*.wav"))
        if max_per_class:
            files = files[:max_per_class]
        for f in files:
            rel = f"{word}/{f.name}"
            split = lists.get(rel) or _split_by_speaker(rel)
            if word in present:
                items[split].append((f, CLASSES.index(word)))
            else:
                unknown[split].append((f, CLASSES.index("_unknown_")))
    noise_dir = root / "_background_noise_"
    noises = [read_wav(f) for f in sorted(noise_dir.glob("*.wav"))] if noise_dir.is_dir() else []
    splits = {}
    for split in items:
        share = max(1, len(items[split]) // max(1, len(present)))
        picked = list(unknown[split])
        rng.shuffle(picked)
        chosen = items[split] + picked[:share]
        clips = [_fit(read_wav(f)) for f, _ in progress(chosen, desc=f"reading {split}")]
        labels = [lab for _, lab in chosen]
        for _ in range(share if chosen else 0):  # silence: background noise or near-silence
            if noises:
                n = noises[int(rng.integers(len(noises)))]
                start = int(rng.integers(0, max(1, len(n) - audio.SAMPLE_RATE)))
                clip = _fit(n[start:start + audio.SAMPLE_RATE]) * float(rng.uniform(0, 1))
            else:
                clip = rng.normal(0, 1e-3, audio.SAMPLE_RATE).astype(np.float32)
            clips.append(clip)
            labels.append(CLASSES.index("_silence_"))
        feats = (np.stack([audio.mfcc(c) for c in clips])[..., None] if clips
                 else np.zeros((0, audio.frames_for(audio.SAMPLE_RATE), audio.COEFFS, 1), np.float32))
        splits[split] = Split(feats.astype(np.float32), np.array(labels, np.int64))
    if len(splits["train"].y) == 0:
        raise TinyDeployError(f"{root}: no training examples after the split",
                              "add more WAV files (validation/testing lists take the rest)")
    return Dataset(f"speech-commands:{root.name}", CLASSES, splits["train"], splits["val"],
                   splits["test"], f"Speech Commands layout at {root}")
