"""Keyword datasets in the Speech Commands layout: one folder of WAV files per word (any rate,
mono or stereo: resampled and downmixed to the front end's 16 kHz mono), `_background_noise_`,
and optionally `validation_list.txt` / `testing_list.txt`.

Classes come from the folders: every word folder is a class, or `keywords` picks some and the
other words become "_unknown_" (sampled down to about one keyword's share). "_silence_" is made of
crops of the background noise, or of generated noise where the dataset has none.

Splits: where either list file is present, the files it names go to validation or test and every
other file to training (Speech Commands' own rule). Without lists, a hash of the speaker (the
file name before `_nohash_`) assigns 10% of speakers to validation and 10% to test, so no speaker
is heard in two splits.
"""

from __future__ import annotations

import hashlib
import wave
from pathlib import Path

import numpy as np

from tinydeploy import audio
from tinydeploy.datasets.base import Dataset, Split
from tinydeploy.errors import TinyDeployError
from tinydeploy.progress import progress

SILENCE, UNKNOWN = "_silence_", "_unknown_"
LISTS = (("val", "validation_list.txt"), ("test", "testing_list.txt"))


def read_wav(path: Path) -> np.ndarray:
    """A mono float clip at 16 kHz from a PCM WAV file (8/16/24/32-bit, any rate, any channels)."""
    try:
        with wave.open(str(path), "rb") as w:
            rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError, OSError) as exc:
        raise TinyDeployError(f"{path}: not a readable PCM WAV file ({exc})",
                              "re-encode it as 16-bit PCM WAV or remove it") from None
    if width not in (1, 2, 3, 4):
        raise TinyDeployError(f"{path}: {8 * width}-bit samples are not supported",
                              "re-encode it as 16-bit PCM WAV")
    raw = raw[: len(raw) // (width * channels) * width * channels]
    if width == 3:  # 24-bit: widen each little-endian sample to 32 bits
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        x = (b[:, 0].astype(np.int32) << 8 | b[:, 1].astype(np.int32) << 16
             | b[:, 2].astype(np.int32) << 24).astype(np.float32) / 2.0 ** 31
    else:
        x = np.frombuffer(raw, {1: np.uint8, 2: np.int16, 4: np.int32}[width]).astype(np.float32)
        x = (x - 128) / 128 if width == 1 else x / float(2 ** (8 * width - 1))
    if channels > 1:
        x = x.reshape(-1, channels).mean(axis=1)
    return audio.resample(x, rate)


def fit_second(x: np.ndarray) -> np.ndarray:
    """Pad or trim to exactly one second."""
    out = np.zeros(audio.SAMPLE_RATE, np.float32)
    out[: min(len(x), audio.SAMPLE_RATE)] = x[: audio.SAMPLE_RATE]
    return out


def speaker_of(name: str) -> str:
    """The speaker id of a Speech Commands file name: the part before `_nohash_`."""
    return Path(name).name.split("_nohash_")[0]


def split_by_speaker(rel: str) -> str:
    """The split of a file when no lists are given: a stable hash of its speaker."""
    h = int(hashlib.sha1(speaker_of(rel).encode()).hexdigest(), 16) % 100
    return "val" if h < 10 else "test" if h < 20 else "train"


def read_lists(root: Path) -> dict[str, str] | None:
    """{relative path: 'val' | 'test'} from the list files, or None when there are none."""
    found = [(split, root / name) for split, name in LISTS if (root / name).is_file()]
    if not found:
        return None
    table: dict[str, str] = {}
    for split, f in found:
        table.update({ln.strip(): split for ln in f.read_text().splitlines() if ln.strip()})
    return table


def generated_noise(rng: np.random.Generator, samples: int) -> np.ndarray:
    """Coloured noise (a little smoothed white noise) at 0.5, for silence and noise mixing where a
    dataset has no recorded background noise."""
    n = rng.normal(0, 1, samples + 3).astype(np.float32)
    n = np.convolve(n, np.ones(4, np.float32) / 4, mode="valid")
    return 0.5 * n / max(float(np.max(np.abs(n))), 1e-9)


def silence_clip(noises: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """One second of background: a crop of recorded noise at a random level, or generated noise
    at a low one."""
    if noises:
        n = noises[int(rng.integers(len(noises)))]
        start = int(rng.integers(0, max(1, len(n) - audio.SAMPLE_RATE)))
        return fit_second(n[start:start + audio.SAMPLE_RATE]) * float(rng.uniform(0, 1))
    return generated_noise(rng, audio.SAMPLE_RATE) * float(rng.uniform(0.0, 0.05))


def speech_commands(root: str | Path, seed: int = 0, max_per_class: int | None = None,
                    keywords: list[str] | None = None) -> Dataset:
    """Load a keyword folder tree as MFCC features (and the training clips as audio)."""
    root = Path(root)
    if not root.is_dir():
        raise TinyDeployError(f"{root}: no such dataset folder",
                              "give the folder holding one sub-folder of WAV files per word")
    words = sorted(d.name for d in root.iterdir()
                   if d.is_dir() and not d.name.startswith("_") and any(d.glob("*.wav")))
    if not words:
        raise TinyDeployError(f"{root}: no word folders with .wav files",
                              "point --dataset at the folder holding one sub-folder per word")
    if keywords:
        if len(set(keywords)) != len(keywords):
            raise TinyDeployError(f"--keywords {','.join(keywords)} names a word twice",
                                  "list each keyword once")
        missing = [k for k in keywords if k not in words]
        if missing:
            raise TinyDeployError(f"{root}: no folder for keyword(s) {', '.join(missing)}",
                                  f"pick --keywords among {', '.join(words)}")
        others = [w for w in words if w not in keywords]
        classes = [SILENCE] + ([UNKNOWN] if others else []) + list(keywords)
    else:
        classes = [SILENCE] + words
    lists = read_lists(root)
    rule = ("validation_list.txt/testing_list.txt; files in neither list are training"
            if lists is not None else
            "speaker hash (name before _nohash_): 10% of speakers validation, 10% test")
    rng = np.random.default_rng(seed)
    items: dict[str, list[tuple[Path, int]]] = {"train": [], "val": [], "test": []}
    unknown: dict[str, list[tuple[Path, int]]] = {"train": [], "val": [], "test": []}
    for word in words:
        files = sorted((root / word).glob("*.wav"))[:max_per_class]
        for f in files:
            rel = f"{word}/{f.name}"
            split = (lists.get(rel, "train") if lists is not None else split_by_speaker(rel))
            if word in classes:
                items[split].append((f, classes.index(word)))
            else:
                unknown[split].append((f, classes.index(UNKNOWN)))
    noise_dir = root / "_background_noise_"
    noises = [read_wav(f) for f in sorted(noise_dir.glob("*.wav"))] if noise_dir.is_dir() else []
    keyword_classes = len(classes) - 1 - (UNKNOWN in classes)
    splits, train_audio = {}, None
    for split in items:
        share = max(1, len(items[split]) // keyword_classes) if items[split] else 0
        picked = list(unknown[split])
        rng.shuffle(picked)
        chosen = items[split] + picked[:share]
        clips = [fit_second(read_wav(f)) for f, _ in progress(chosen, desc=f"reading {split}")]
        labels = [lab for _, lab in chosen]
        for _ in range(share):
            clips.append(silence_clip(noises, rng))
            labels.append(classes.index(SILENCE))
        feats = (np.stack([audio.mfcc(c) for c in clips])[..., None] if clips
                 else np.zeros((0, audio.frames_for(audio.SAMPLE_RATE), audio.COEFFS, 1)))
        splits[split] = Split(feats.astype(np.float32), np.array(labels, np.int64))
        if split == "train" and clips:
            train_audio = (np.clip(np.stack(clips), -1, 1) * 32767).astype(np.int16)
    if len(splits["train"].y) == 0:
        raise TinyDeployError(f"{root}: no training examples after the split",
                              "add more WAV files (the validation/testing lists take the rest)")
    return Dataset(f"speech-commands:{root.name}", classes, splits["train"], splits["val"],
                   splits["test"], f"keyword folders at {root}", split_rule=rule,
                   train_audio=train_audio, noise=noises)
