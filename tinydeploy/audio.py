"""The audio front end: one MFCC definition, used for training and (in C) on the device.

Definition (the MLPerf Tiny keyword-spotting features): 16 kHz mono, 30 ms frames (480 samples)
every 20 ms (320 samples), periodic Hann window, 512-point real FFT magnitude, 40 mel filters
(HTK mel scale) from 20 to 4000 Hz, natural log of (magnitude + 1e-6), DCT-II scaled by sqrt(2/40) (the scaling of
tf.signal.mfccs_from_log_mel_spectrograms), first 10 coefficients. One second of audio gives 49 frames x 10 coefficients.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16000
FRAME = 480
HOP = 320
FFT = 512
MELS = 40
COEFFS = 10
FMIN, FMAX = 20.0, 4000.0
LOG_FLOOR = 1e-6


def frames_for(samples: int) -> int:
    return 1 + (samples - FRAME) // HOP


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    return 1127.0 * np.log1p(f / 700.0)


@lru_cache(maxsize=None)
def mel_matrix() -> np.ndarray:
    """[FFT/2+1, MELS] triangular filters with HTK mel spacing (as tf.signal's)."""
    bins = FFT // 2 + 1
    hz = np.linspace(0.0, SAMPLE_RATE / 2, bins)
    mel = _hz_to_mel(hz)
    edges = np.linspace(_hz_to_mel(np.array(FMIN)), _hz_to_mel(np.array(FMAX)), MELS + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    up = (mel[:, None] - lower[None, :]) / (center - lower)[None, :]
    down = (upper[None, :] - mel[:, None]) / (upper - center)[None, :]
    w = np.maximum(0.0, np.minimum(up, down))
    w[0, :] = 0.0  # no DC
    return w.astype(np.float32)


@lru_cache(maxsize=None)
def dct_matrix() -> np.ndarray:
    """[MELS, COEFFS] DCT-II scaled by sqrt(2 / MELS), as tf.signal scales it."""
    n = np.arange(MELS)
    k = np.arange(COEFFS)
    m = np.cos(np.pi / MELS * (n[:, None] + 0.5) * k[None, :]) * np.sqrt(2.0 / MELS)
    return m.astype(np.float32)


@lru_cache(maxsize=None)
def window() -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FRAME) / FRAME)).astype(np.float32)


def mfcc(audio: np.ndarray) -> np.ndarray:
    """MFCCs of float audio in [-1, 1] at 16 kHz: [frames, COEFFS] float32."""
    x = np.asarray(audio, np.float32)
    n = frames_for(len(x))
    idx = np.arange(FRAME)[None, :] + HOP * np.arange(n)[:, None]
    spec = np.abs(np.fft.rfft(x[idx] * window(), FFT)).astype(np.float32)
    logmel = np.log(spec @ mel_matrix() + LOG_FLOOR)
    return (logmel @ dct_matrix()).astype(np.float32)


def mfcc_batch(clips: np.ndarray) -> np.ndarray:
    """MFCCs of [N, samples] audio: [N, frames, COEFFS, 1], the DS-CNN input layout."""
    return np.stack([mfcc(c) for c in clips])[..., None]


def resample(x: np.ndarray, src_rate: int, dst_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Linear-interpolation resampling (enough below 4 kHz, where the features look)."""
    if src_rate == dst_rate:
        return x.astype(np.float32)
    n = int(round(len(x) * dst_rate / src_rate))
    t = np.arange(n) * (src_rate / dst_rate)
    return np.interp(t, np.arange(len(x)), x).astype(np.float32)
