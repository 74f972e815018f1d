"""Dataset loaders on small fixtures the tests write in each real layout, and malformed ones."""

import gzip
import struct
import wave

import numpy as np
import pytest

from tinydeploy.datasets.images import cifar10_binary, digits, image_folder, mnist_idx, open_image_dataset
from tinydeploy.datasets.speech_commands import read_wav, speech_commands
from tinydeploy.errors import TinyDeployError


def write_wav(path, samples, rate=16000, channels=1, width=2):
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.clip(np.repeat(np.asarray(samples)[:, None], channels, 1), -1, 1).reshape(-1)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        if width == 3:
            v = (x * (2 ** 23 - 1)).astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]
            w.writeframes(v.tobytes())
        else:
            w.writeframes((x * 32767).astype("<i2").tobytes())


WORDS = ["yes", "no", "up", "zero", "nine", "marvin", "tree"]


@pytest.fixture
def speech_root(tmp_path):
    """Seven words (Speech Commands' "zero" and "nine" among them) by six speakers, some files at
    8 or 44.1 kHz, in stereo or 24-bit; noise; lists that leave most files in neither."""
    rng = np.random.default_rng(0)
    for w, word in enumerate(WORDS):
        for s in range(6):
            rate = (16000, 8000, 44100)[s % 3]
            t = np.arange(rate) / rate
            tone = 0.3 * np.sin(2 * np.pi * (200 + 100 * w) * t) + rng.normal(0, 0.01, rate)
            write_wav(tmp_path / word / f"spk{s}_nohash_0.wav", tone[: rate * 3 // 4 + 30 * s],
                      rate, channels=2 if s == 4 else 1, width=3 if s == 5 else 2)
    write_wav(tmp_path / "_background_noise_" / "white.wav", rng.normal(0, 0.2, 48000))
    (tmp_path / "validation_list.txt").write_text("yes/spk0_nohash_0.wav\nno/spk0_nohash_0.wav\n")
    (tmp_path / "testing_list.txt").write_text("yes/spk1_nohash_0.wav\nup/spk1_nohash_0.wav\n")
    return tmp_path


def test_every_word_folder_is_a_class(speech_root):
    ds = speech_commands(speech_root)
    assert ds.classes == ["_silence_"] + sorted(WORDS) and ds.input_shape == (49, 10, 1)
    assert "testing_list" in ds.split_rule
    labels = set(ds.train.y.tolist())
    assert labels == set(range(len(ds.classes)))
    assert np.isfinite(ds.train.x).all()
    # the training clips come along as int16 audio for augmentation, in the order of train.y
    assert ds.train_audio.shape == (len(ds.train.y), 16000) and ds.train_audio.dtype == np.int16
    assert len(ds.noise) == 1


def test_lists_rule_files_in_neither_list_are_training(speech_root):
    """Speech Commands' rule: the lists name validation and test files, every other file trains,
    even a speaker whose other files are in a list."""
    ds = speech_commands(speech_root, keywords=["yes", "no", "up"])
    assert ds.classes == ["_silence_", "_unknown_", "yes", "no", "up"]
    c = ds.classes.index
    val, test = ds.val.y.tolist(), ds.test.y.tolist()
    assert sorted(v for v in val if v > 1) == sorted([c("yes"), c("no")])
    assert sorted(v for v in test if v > 1) == sorted([c("yes"), c("up")])
    # yes: 6 speakers, one in each list; spk0's and spk1's other words still train
    assert ds.train.y.tolist().count(c("yes")) == 4
    assert ds.train.y.tolist().count(c("no")) == 5
    assert c("_unknown_") in ds.train.y and c("_silence_") in ds.train.y


def test_speaker_hash_without_lists(speech_root):
    """Without lists, a speaker's files all land in one split."""
    from tinydeploy.datasets.speech_commands import split_by_speaker

    (speech_root / "validation_list.txt").unlink()
    (speech_root / "testing_list.txt").unlink()
    ds = speech_commands(speech_root, keywords=["yes", "no"])
    assert "speaker hash" in ds.split_rule
    for s in range(6):
        assert len({split_by_speaker(f"{w}/spk{s}_nohash_0.wav") for w in WORDS}) == 1
    assert split_by_speaker("yes/a_nohash_0.wav") == split_by_speaker("no/a_nohash_3.wav")


def test_speech_commands_errors(tmp_path):
    with pytest.raises(TinyDeployError, match="no word folders with .wav files"):
        (tmp_path / "cat").mkdir()
        speech_commands(tmp_path)
    bad = tmp_path / "yes" / "broken.wav"
    bad.parent.mkdir()
    bad.write_bytes(b"RIFF....not a wav")
    with pytest.raises(TinyDeployError, match="broken.wav: not a readable PCM WAV"):
        speech_commands(tmp_path)
    with pytest.raises(TinyDeployError, match=r"no folder for keyword\(s\) house.*--keywords"):
        speech_commands(tmp_path, keywords=["yes", "house"])


def test_read_wav_resamples_and_mixes(tmp_path):
    p = tmp_path / "st.wav"
    with wave.open(str(p), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.zeros(16000, "<i2").tobytes())
    assert len(read_wav(p)) == 16000  # 8000 stereo frames -> one second at 16 kHz
    t = np.arange(44100) / 44100
    write_wav(tmp_path / "cd.wav", 0.5 * np.sin(2 * np.pi * 1000 * t), 44100, channels=2, width=3)
    x = read_wav(tmp_path / "cd.wav")
    assert len(x) == 16000 and int(np.argmax(np.abs(np.fft.rfft(x)))) == 1000
    assert abs(float(np.max(np.abs(x[1000:-1000]))) - 0.5) < 0.01


def test_image_folder(tmp_path):
    from PIL import Image

    for c, color in (("cat", (200, 0, 0)), ("dog", (0, 0, 200))):
        (tmp_path / c).mkdir()
        for i in range(10):
            Image.new("RGB", (40 + i, 30), color).save(tmp_path / c / f"{i}.png")
    ds = image_folder(tmp_path, size=(16, 16))
    assert ds.classes == ["cat", "dog"] and ds.input_shape == (16, 16, 3)
    assert len(ds.train.y) + len(ds.val.y) + len(ds.test.y) == 20
    x = np.concatenate([ds.train.x, ds.val.x, ds.test.x])
    assert 0.0 <= x.min() and x.max() <= 1.0
    (tmp_path / "empty").mkdir()
    with pytest.raises(TinyDeployError, match="empty: no images"):
        image_folder(tmp_path)


def test_cifar10_binary(tmp_path):
    rng = np.random.default_rng(0)
    for name, n in (("data_batch_1.bin", 20), ("data_batch_2.bin", 20), ("test_batch.bin", 10)):
        rec = np.concatenate([rng.integers(0, 10, (n, 1)), rng.integers(0, 256, (n, 3072))], 1)
        rec.astype(np.uint8).tofile(tmp_path / name)
    ds = open_image_dataset(tmp_path)
    assert ds.name == "cifar10" and ds.input_shape == (32, 32, 3)
    assert len(ds.train.y) + len(ds.val.y) == 40 and len(ds.test.y) == 10
    raw = np.fromfile(tmp_path / "test_batch.bin", np.uint8).reshape(-1, 3073)
    # channel-planar records become HWC: red plane first
    np.testing.assert_allclose(ds.test.x[0, 0, :, 0], raw[0, 1:33] / 255.0)
    (tmp_path / "test_batch.bin").write_bytes(raw.tobytes()[:-5])
    with pytest.raises(TinyDeployError, match="not a whole number of 3,073-byte records"):
        cifar10_binary(tmp_path)


def _idx(path, arr, gz=False):
    header = struct.pack(">BBBB", 0, 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


def test_mnist_idx(tmp_path):
    rng = np.random.default_rng(0)
    _idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (30, 28, 28)), gz=True)
    _idx(tmp_path / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, 30), gz=True)
    _idx(tmp_path / "t10k-images-idx3-ubyte", rng.integers(0, 256, (5, 28, 28)))
    _idx(tmp_path / "t10k-labels-idx1-ubyte", rng.integers(0, 10, 5))
    ds = mnist_idx(tmp_path)
    assert ds.input_shape == (28, 28, 1) and len(ds.test.y) == 5
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x09\x01")
    with pytest.raises(TinyDeployError, match="bad magic number"):
        mnist_idx(tmp_path)


def test_digits_ships_offline():
    ds = digits()
    assert ds.input_shape == (8, 8, 1) and len(ds.classes) == 10
    assert len(ds.train.y) + len(ds.val.y) + len(ds.test.y) == 1797
