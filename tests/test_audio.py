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
