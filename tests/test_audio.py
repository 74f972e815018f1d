"""The MFCC front end against TensorFlow's tf.signal implementation of the same definition."""

import numpy as np

from tinydeploy import audio


def tf_mfcc(x):
    import tensorflow as tf

    stft = tf.signal.stft(x, audio.FRAME, audio.HOP, audio.FFT, window_fn=tf.signal.hann_window)
    mel = tf.tensordot(tf.abs(stft), tf.signal.linear_to_mel_weight_matrix(
        audio.MELS, audio.FFT // 2 + 1, audio.SAMPLE_RATE, audio.FMIN, audio.FMAX), 1)
    logmel = tf.math.log(mel + audio.LOG_FLOOR)
    return tf.signal.mfccs_from_log_mel_spectrograms(logmel)[..., :audio.COEFFS].numpy()


def test_mfcc_matches_tf_signal():
    rng = np.random.default_rng(0)
    t = np.arange(audio.SAMPLE_RATE) / audio.SAMPLE_RATE
    for x in (rng.normal(0, 0.1, audio.SAMPLE_RATE),
              0.3 * np.sin(2 * np.pi * 440 * t) + rng.normal(0, 0.01, audio.SAMPLE_RATE)):
        ours = audio.mfcc(x.astype(np.float32))
        assert ours.shape == (49, 10)
        np.testing.assert_allclose(ours, tf_mfcc(x.astype(np.float32)), atol=1e-4)


def test_resample_keeps_a_tone():
    t = np.arange(22050) / 22050
    y = audio.resample(np.sin(2 * np.pi * 300 * t).astype(np.float32), 22050)
    assert len(y) == 16000
    peak = np.argmax(np.abs(np.fft.rfft(y)))
    assert peak == 300


def _speech_like(rng, n=audio.SAMPLE_RATE):
    """A voiced, gliding harmonic sound with syllable-like bursts over a quiet noise floor."""
    t = np.arange(n) / audio.SAMPLE_RATE
    f0 = 110 + 60 * np.sin(2 * np.pi * 1.5 * t + rng.uniform(0, 6))
    phase = 2 * np.pi * np.cumsum(f0) / audio.SAMPLE_RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 30))
    envelope = np.clip(np.sin(2 * np.pi * rng.uniform(2, 4) * t), 0, None) ** 2
    return 0.2 * voiced * envelope + rng.normal(0, 3e-4, n)


def front_end_clips():
    """Speech-like sounds, espeak-ng words where it is installed, noise from faint to loud, tones
    over a recording's noise floor, and digital silence."""
    import shutil
    import subprocess

    rng = np.random.default_rng(1)
    t = np.arange(audio.SAMPLE_RATE) / audio.SAMPLE_RATE
    clips = [_speech_like(rng) for _ in range(4)]
    clips += [rng.normal(0, a, audio.SAMPLE_RATE) for a in (3e-4, 0.01, 0.1, 0.4)]
    clips += [0.5 * np.sin(2 * np.pi * f * t) * np.hanning(audio.SAMPLE_RATE)
              + rng.normal(0, 1e-3, audio.SAMPLE_RATE) for f in (300, 700, 2500)]
    clips.append(np.zeros(audio.SAMPLE_RATE))
    if shutil.which("espeak-ng"):
        for word in ("seven", "lights", "banana", "stop"):
            raw = subprocess.run(["espeak-ng", "--stdout", word], capture_output=True).stdout
            pcm = np.frombuffer(raw[raw.find(b"data") + 8:], np.int16) / 32768.0
            x = audio.resample(pcm.astype(np.float32), 22050)[: audio.SAMPLE_RATE]
            clip = np.zeros(audio.SAMPLE_RATE)
            clip[2000:2000 + len(x[:14000])] = x[:14000]
            clips.append(clip + rng.normal(0, 3e-4, audio.SAMPLE_RATE))
    return [(np.clip(c, -1, 1) * 32767).astype(np.int16) for c in clips]


def test_c_front_end_matches_numpy(tmp_path):
    """firmware/dsp/td_mfcc.c (float32, real FFT), compiled for the host, against the numpy
    definition (double precision): at least 99.9% of the int8 features the model sees are equal,
    none differs by more than one step."""
    import ctypes
    import subprocess

    from tinydeploy.paths import FIRMWARE
    from tinydeploy.quantize import quantize_inputs

    (tmp_path / "td_mfcc_tables.h").write_text(audio.c_tables())
    lib = tmp_path / "libmfcc.so"
    subprocess.run(["gcc", "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
                    "-I", str(tmp_path), "-I", str(FIRMWARE / "dsp"),
                    str(FIRMWARE / "dsp" / "td_mfcc.c"), "-o", str(lib), "-lm"], check=True)
    so = ctypes.CDLL(str(lib))
    equal = total = 0
    worst = 0.0
    for pcm in front_end_clips():
        ref = audio.mfcc(pcm.astype(np.float32) / 32768.0)
        out = np.zeros(ref.size, np.float32)
        so.td_mfcc(pcm.ctypes.data_as(ctypes.c_void_p), ctypes.c_int32(len(pcm)),
                   out.ctypes.data_as(ctypes.c_void_p))
        worst = max(worst, float(np.abs(out.reshape(ref.shape) - ref).max()))
        for scale, zp in ((0.12782669067382812, 39), (0.05, -10)):  # a trained model's; finer
            q = np.zeros(ref.size, np.int8)
            so.td_mfcc_s8(pcm.ctypes.data_as(ctypes.c_void_p), ctypes.c_int32(len(pcm)),
                          ctypes.c_float(scale), ctypes.c_int32(zp),
                          q.ctypes.data_as(ctypes.c_void_p))
            expected = quantize_inputs(ref, scale, zp).reshape(-1)
            assert np.abs(q.astype(int) - expected).max() <= 1
            equal += int(np.sum(q == expected))
            total += q.size
    assert equal / total >= 0.999, f"{equal / total:.5f} of int8 features equal"
    assert worst < 0.01
