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


def test_c_front_end_matches_numpy(tmp_path):
    """firmware/dsp/td_mfcc.c, compiled for the host, against the numpy definition: within 1e-5,
    and the int8 features the model sees are identical."""
    import ctypes
    import subprocess

    from tinydeploy.paths import FIRMWARE
    from tinydeploy.quantize import quantize_inputs

    (tmp_path / "td_mfcc_tables.h").write_text(audio.c_tables())
    lib = tmp_path / "libmfcc.so"
    subprocess.run(["gcc", "-O2", "-std=c99", "-Wall", "-Werror", "-shared", "-fPIC",
                    "-I", str(tmp_path), "-I", str(FIRMWARE / "dsp"),
                    str(FIRMWARE / "dsp" / "td_mfcc.c"), "-o", str(lib), "-lm"], check=True)
    so = ctypes.CDLL(str(lib))
    rng = np.random.default_rng(1)
    t = np.arange(audio.SAMPLE_RATE) / audio.SAMPLE_RATE
    clips = [rng.normal(0, 0.05, audio.SAMPLE_RATE),
             0.5 * np.sin(2 * np.pi * 700 * t) * np.hanning(audio.SAMPLE_RATE),
             np.zeros(audio.SAMPLE_RATE)]
    scale, zp = 0.12782669067382812, 39
    for clip in clips:
        pcm = (np.clip(clip, -1, 1) * 32767).astype(np.int16)
        ref = audio.mfcc(pcm.astype(np.float32) / 32768.0)
        out = np.zeros(ref.size, np.float32)
        so.td_mfcc(pcm.ctypes.data_as(ctypes.c_void_p), ctypes.c_int32(len(pcm)),
                   out.ctypes.data_as(ctypes.c_void_p))
        np.testing.assert_allclose(out.reshape(ref.shape), ref, atol=1e-5)
        q = np.zeros(ref.size, np.int8)
        so.td_mfcc_s8(pcm.ctypes.data_as(ctypes.c_void_p), ctypes.c_int32(len(pcm)),
                      ctypes.c_float(scale), ctypes.c_int32(zp), q.ctypes.data_as(ctypes.c_void_p))
        np.testing.assert_array_equal(q.reshape(ref.shape), quantize_inputs(ref, scale, zp))
