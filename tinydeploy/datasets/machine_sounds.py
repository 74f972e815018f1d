"""Anomaly detection data: log-mel frames of machine sounds, normal clips for training.

Built in: synthetic machines (a hum with harmonics and noise; anomalies have a shifted pitch, an
extra harmonic or clicks). From a folder: the DCASE/ToyADMOS layout, `train/` with normal WAVs and
`test/` with files named `normal_*` and `anomaly_*`. Each example is 5 consecutive 40-bin log-mel
frames (200 values); a clip's anomaly score is the mean reconstruction error of its examples.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinydeploy import audio
from tinydeploy.datasets.base import Dataset, Split
from tinydeploy.errors import TinyDeployError

FRAMES = 5


def log_mel(x: np.ndarray) -> np.ndarray:
    """[frames, 40] log-mel energies with the project's audio front end (no DCT)."""
    n = audio.frames_for(len(x))
    idx = np.arange(audio.FRAME)[None, :] + audio.HOP * np.arange(n)[:, None]
    spec = np.abs(np.fft.rfft(x[idx] * audio.window(), audio.FFT)).astype(np.float32)
    return np.log(spec @ audio.mel_matrix() + audio.LOG_FLOOR).astype(np.float32)


def clip_vectors(x: np.ndarray) -> np.ndarray:
    """Overlapping stacks of FRAMES log-mel frames: [n, FRAMES * 40]."""
    m = log_mel(x)
    return np.stack([m[i:i + FRAMES].reshape(-1) for i in range(len(m) - FRAMES + 1)])


def _machine(rng: np.random.Generator, anomaly: bool, f0: float) -> np.ndarray:
    t = np.arange(audio.SAMPLE_RATE) / audio.SAMPLE_RATE
    kind = int(rng.integers(3)) if anomaly else -1
    f = f0 * (1.25 if kind == 0 else 1.0) * rng.uniform(0.99, 1.01)
    x = sum(np.sin(2 * np.pi * f * k * t + rng.uniform(0, 6.28)) / k for k in (1, 2, 3))
    if kind == 1:
        x = x + 0.8 * np.sin(2 * np.pi * f * 5.5 * t)
    if kind == 2:
        for c in rng.integers(0, audio.SAMPLE_RATE - 200, 8):
            x[c:c + 200] += rng.normal(0, 2.0, 200)
    x = x + rng.normal(0, 0.3, len(t))
    return (0.2 * x / np.max(np.abs(x))).astype(np.float32)


def _clips_to_split(clips: list[np.ndarray], labels: list[int]) -> tuple[Split, np.ndarray]:
    vecs, clip_ids = [], []
    for i, c in enumerate(clips):
        v = clip_vectors(c)
        vecs.append(v)
        clip_ids += [i] * len(v)
    x = np.concatenate(vecs).astype(np.float32)
    y = np.array([labels[i] for i in clip_ids], np.int64)
    return Split(x, y), np.array(clip_ids)


def synthetic_machines(seed: int = 0, clips: int = 60) -> Dataset:
    rng = np.random.default_rng(seed)
    f0 = 120.0
    train = [_machine(rng, False, f0) for _ in range(clips)]
    val = [_machine(rng, False, f0) for _ in range(clips // 6)]
    test = [_machine(rng, i % 2 == 1, f0) for i in range(clips // 2)]
    tr, _ = _clips_to_split(train, [0] * len(train))
    va, _ = _clips_to_split(val, [0] * len(val))
    te, test_ids = _clips_to_split(test, [i % 2 for i in range(len(test))])
    return Dataset("builtin-synthetic-machines", ["normal", "anomaly"], tr, va, te,
                   "synthetic machine hum; anomalies: pitch shift, extra harmonic, clicks",
                   test_ids, np.array([i % 2 for i in range(len(test))]))


def machine_folder(root: str | Path, seed: int = 0) -> Dataset:
    from tinydeploy.datasets.speech_commands import read_wav

    root = Path(root)
    train_files = sorted((root / "train").glob("*.wav"))
    test_files = sorted((root / "test").glob("*.wav"))
    if not train_files or not test_files:
        raise TinyDeployError(f"{root}: expected train/*.wav and test/*.wav",
                              "use the DCASE/ToyADMOS layout (test files named normal_* or "
                              "anomaly_*)")
    labels = []
    for f in test_files:
        if not f.name.startswith(("normal", "anomaly")):
            raise TinyDeployError(f"{f}: test files must be named normal_* or anomaly_*",
                                  "rename it so its label is known")
        labels.append(int(f.name.startswith("anomaly")))
    order = np.random.default_rng(seed).permutation(len(train_files))
    n_val = max(1, len(train_files) // 10)
    train = [read_wav(train_files[i]) for i in order[n_val:]]
    val = [read_wav(train_files[i]) for i in order[:n_val]]
    tr, _ = _clips_to_split(train, [0] * len(train))
    va, _ = _clips_to_split(val, [0] * len(val))
    te, ids = _clips_to_split([read_wav(f) for f in test_files], labels)
    return Dataset(f"machines:{root.name}", ["normal", "anomaly"], tr, va, te, str(root), ids,
                   np.array(labels))


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (probability an anomaly scores above a normal clip)."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))
