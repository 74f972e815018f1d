"""A small keyword dataset of the user's own words, spoken by espeak-ng in the folder layout a
user's recordings would have: one folder per word, speakers named in the file names
(`SPEAKER_nohash_N.wav`), 22.05 kHz WAVs (the loader resamples), and list files naming the
held-out speakers."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

VOICES = ["en-us+m1", "en-gb+f2", "en-us+m3", "en-gb-scotland+m4", "en-us+f1", "en-029+m2",
          "en-gb+m5", "en-us+f3", "en-gb-x-rp+m7", "en-us-nyc+f4"]
HELD_OUT = {"test": VOICES[-2:], "val": VOICES[-3:-2]}


def speak(word: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """espeak-ng's int16 samples at 22.05 kHz."""
    raw = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch),
                          "--stdout", word], capture_output=True, check=True).stdout
    return np.frombuffer(raw[raw.find(b"data") + 8:], np.int16)


def write_wav(path: Path, pcm: np.ndarray, rate: int = 22050) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(pcm, "<i2").tobytes())


def speaker_id(voice: str) -> str:
    return voice.replace("+", "-")


def make_spoken_dataset(root: Path, words: list[str], voices: list[str] = VOICES,
                        takes: int = 3, seed: int = 0) -> Path:
    """Each word by each voice, `takes` times at different speeds and pitches."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    rng = np.random.default_rng(seed)
    for word in words:
        for voice in voices:
            for t in range(takes):
                pcm = speak(word, voice, int(rng.integers(120, 200)), int(rng.integers(25, 75)))
                write_wav(root / word / f"{speaker_id(voice)}_nohash_{t}.wav", pcm)
    for split, name in (("val", "validation_list.txt"), ("test", "testing_list.txt")):
        (root / name).write_text("".join(
            f"{w}/{speaker_id(v)}_nohash_{t}.wav\n" for w in words for v in HELD_OUT[split]
            for t in range(takes)))
    return root
