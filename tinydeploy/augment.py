"""Training-time augmentation, drawn afresh every epoch from a generator seeded by (seed, epoch),
so the same seed gives the same model bytes.

Audio (keyword spotting, where the dataset keeps its training clips as audio): a random time
shift, background noise mixed in at a random signal-to-noise ratio (the dataset's
`_background_noise_` recordings, else generated noise), then SpecAugment-style masks: a band of
mel channels and a run of frames set to the clip's mean log-mel energy before the DCT. The masks
act on log-mel energies because the features are MFCCs, whose coefficients are not frequencies.

Images: horizontal flips (only where a mirror image keeps its class), random crops (the image
padded by its edge pixels and cropped back to size, a small translation) and brightness offsets.

Validation and test features are never augmented.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tinydeploy import audio
from tinydeploy.datasets.base import Dataset

CHUNK = 256   # clips featurized at a time: bounds the memory of the vectorized front end


@dataclass
class AudioAugment:
    """Strengths: shifts up to shift_s either way; noise on a noise_prob share of the clips at an
    SNR drawn from snr_db; one frequency mask of up to freq_mask_bands mel channels (of 40) and
    one time mask of up to time_mask_frames frames (of 49), each drawn from 0."""

    shift_s: float = 0.1
    noise_prob: float = 0.8
    snr_db: tuple[float, float] = (5.0, 20.0)
    freq_mask_bands: int = 5
    time_mask_frames: int = 5

    def describe(self, noise_source: str) -> dict[str, Any]:
        return {"kind": "audio", **asdict(self), "snr_db": list(self.snr_db),
                "noise_source": noise_source}

    def features(self, clips: np.ndarray, labels: np.ndarray, silence: int | None,
                 noise: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
        """Augmented MFCC features [N, frames, COEFFS, 1] of int16 clips [N, samples]."""
        out = [self._chunk(clips[i:i + CHUNK], labels[i:i + CHUNK], silence, noise, rng)
               for i in range(0, len(clips), CHUNK)]
        return np.concatenate(out)[..., None]

    def _chunk(self, clips: np.ndarray, labels: np.ndarray, silence: int | None,
               noise: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
        n, samples = clips.shape
        x = clips.astype(np.float32) / 32768.0
        # time shift: move each clip by up to shift_s, filling with zeros
        max_shift = int(self.shift_s * audio.SAMPLE_RATE)
        shifts = rng.integers(-max_shift, max_shift + 1, n)
        shifted = np.zeros_like(x)
        for i, s in enumerate(shifts):
            if s >= 0:
                shifted[i, s:] = x[i, :samples - s]
            else:
                shifted[i, :s] = x[i, -s:]
        # noise at a random SNR on a share of the clips (silence clips are noise already)
        mix = rng.random(n) < self.noise_prob
        snr = rng.uniform(*self.snr_db, n)
        for i in np.nonzero(mix)[0]:
            if silence is not None and labels[i] == silence:
                continue
            sig = float(np.sqrt(np.mean(shifted[i] ** 2)))
            if sig < 1e-5:
                continue
            bg = _noise_crop(noise, samples, rng)
            gain = sig / (float(np.sqrt(np.mean(bg ** 2))) + 1e-12) / 10 ** (snr[i] / 20)
            shifted[i] += gain * bg
        # the device hears int16 samples
        pcm = np.round(np.clip(shifted, -1, 1) * 32767) / 32768.0
        logmel = audio.log_mel(pcm)
        frames, mels = logmel.shape[1:]
        fill = logmel.mean(axis=(1, 2))
        f_width = rng.integers(0, self.freq_mask_bands + 1, n)
        f_start = rng.integers(0, mels - f_width + 1)
        t_width = rng.integers(0, self.time_mask_frames + 1, n)
        t_start = rng.integers(0, frames - t_width + 1)
        for i in range(n):
            logmel[i, :, f_start[i]:f_start[i] + f_width[i]] = fill[i]
            logmel[i, t_start[i]:t_start[i] + t_width[i], :] = fill[i]
        return audio.mfcc_from_log_mel(logmel)


def _noise_crop(noise: list[np.ndarray], samples: int, rng: np.random.Generator) -> np.ndarray:
    """A random stretch of a background recording, or generated noise."""
    from tinydeploy.datasets.speech_commands import generated_noise

    if not noise:
        return generated_noise(rng, samples)
    n = noise[int(rng.integers(len(noise)))]
    if len(n) < samples:
        n = np.tile(n, samples // max(len(n), 1) + 1)
    start = int(rng.integers(0, len(n) - samples + 1))
    return n[start:start + samples].astype(np.float32)


@dataclass
class ImageAugment:
    """Strengths: flips (when allowed), crops that move the image by up to crop_frac of its size,
    brightness offsets up to +-brightness (pixels are in [0, 1])."""

    flip: bool = False
    crop_frac: float = 0.125
    brightness: float = 0.1

    def describe(self) -> dict[str, Any]:
        return {"kind": "image", **asdict(self)}

    def images(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, h, w = x.shape[:3]
        ph, pw = max(1, int(round(h * self.crop_frac))), max(1, int(round(w * self.crop_frac)))
        padded = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)), mode="edge")
        dy = rng.integers(0, 2 * ph + 1, n)
        dx = rng.integers(0, 2 * pw + 1, n)
        flips = rng.random(n) < 0.5 if self.flip else np.zeros(n, bool)
        delta = rng.uniform(-self.brightness, self.brightness, n).astype(np.float32)
        out = np.empty_like(x)
        for i in range(n):
            img = padded[i, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
            out[i] = img[:, ::-1] if flips[i] else img
        return np.clip(out + delta[:, None, None, None], 0.0, 1.0)


class Augmenter:
    """The augmentation of one dataset: new training features for each epoch."""

    def __init__(self, ds: Dataset, task: str) -> None:
        self.ds = ds
        self.audio = AudioAugment() if task == "kws" else None
        self.image = ImageAugment(flip=ds.mirror_ok) if task == "image" else None
        self.silence = ds.classes.index("_silence_") if "_silence_" in ds.classes else None

    def describe(self) -> dict[str, Any]:
        if self.audio:
            source = ("the dataset's _background_noise_" if self.ds.noise
                      else "generated noise (the dataset has no _background_noise_)")
            return {"enabled": True, **self.audio.describe(source)}
        assert self.image is not None
        return {"enabled": True, **self.image.describe()}

    def epoch(self, seed: int, epoch: int) -> np.ndarray:
        """The training inputs for one epoch (same seed and epoch, same values)."""
        rng = np.random.default_rng([seed, epoch])
        if self.audio:
            assert self.ds.train_audio is not None
            x = self.audio.features(self.ds.train_audio, self.ds.train.y, self.silence,
                                    self.ds.noise, rng)
            return self.ds.view(x) if self.ds.view else x
        assert self.image is not None
        return self.image.images(self.ds.train.x, rng)


def augmenter_for(ds: Dataset, task: str, enabled: bool) -> tuple[Augmenter | None, dict[str, Any]]:
    """The augmenter for a dataset, or None and the reason, as the model card records it."""
    if not enabled:
        return None, {"enabled": False, "reason": "switched off (--no-augment)"}
    if ds.pre_augmented:
        return None, {"enabled": False,
                      "reason": f"augmented when generated: {ds.pre_augmented}"}
    if task == "kws" and ds.train_audio is None:
        return None, {"enabled": False,
                      "reason": "the dataset keeps no training audio to shift and mix"}
    if task not in ("kws", "image"):
        return None, {"enabled": False, "reason": f"no augmentation for the {task} task"}
    aug = Augmenter(ds, task)
    return aug, aug.describe()
