"""Image datasets: a folder per class, CIFAR-10 binary batches, MNIST idx files, and
scikit-learn's 8x8 digits (real handwritten digits that ship offline). Pixels become float32 in
[0, 1], laid out HWC."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from tinydeploy.datasets.base import Dataset, Split
from tinydeploy.errors import TinyDeployError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                   "truck"]


def _split(x: np.ndarray, y: np.ndarray, seed: int, val: float = 0.1,
           test: float = 0.1) -> tuple[Split, Split, Split]:
    order = np.random.default_rng(seed).permutation(len(y))
    n_test, n_val = int(len(y) * test), int(len(y) * val)
    te, va, tr = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    return Split(x[tr], y[tr]), Split(x[va], y[va]), Split(x[te], y[te])


def _holdout(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[Split, Split]:
    order = np.random.default_rng(seed).permutation(len(y))
    n_val = max(1, len(y) // 10)
    return Split(x[order[n_val:]], y[order[n_val:]]), Split(x[order[:n_val]], y[order[:n_val]])


def image_folder(root: str | Path, size: tuple[int, int] = (32, 32), grayscale: bool = False,
                 seed: int = 0) -> Dataset:
    """One sub-folder per class, images of any size (resized)."""
    from PIL import Image, UnidentifiedImageError

    root = Path(root)
    classes = sorted(d.name for d in root.iterdir() if d.is_dir()) if root.is_dir() else []
    if not classes:
        raise TinyDeployError(f"{root}: no class folders", "put one folder of images per class")
    xs, ys = [], []
    for label, cls in enumerate(classes):
        files = sorted(f for f in (root / cls).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise TinyDeployError(f"{root / cls}: no images (.png, .jpg, .bmp)",
                                  "add images or remove the empty class folder")
        for f in files:
            try:
                with Image.open(f) as im:
                    im = im.convert("L" if grayscale else "RGB").resize((size[1], size[0]))
                    xs.append(np.asarray(im, np.float32) / 255.0)
            except (UnidentifiedImageError, OSError) as exc:
                raise TinyDeployError(f"{f}: not a readable image ({exc})",
                                      "remove or re-save the file") from None
            ys.append(label)
    x = np.stack(xs)
    if grayscale:
        x = x[..., None]
    tr, va, te = _split(x, np.array(ys, np.int64), seed)
    return Dataset(f"images:{root.name}", classes, tr, va, te, f"image folders at {root}")


def cifar10_binary(root: str | Path, seed: int = 0) -> Dataset:
    """The CIFAR-10 binary version: data_batch_1..5.bin and test_batch.bin (3,073-byte records)."""
    root = Path(root)
    if (root / "cifar-10-batches-bin").is_dir():
        root = root / "cifar-10-batches-bin"
    train_files = sorted(root.glob("data_batch_*.bin"))
    test_file = root / "test_batch.bin"
    if not train_files or not test_file.is_file():
        raise TinyDeployError(f"{root}: CIFAR-10 binary batches not found",
                              "give the folder with data_batch_1.bin ... and test_batch.bin")

    def read(f: Path) -> tuple[np.ndarray, np.ndarray]:
        raw = np.fromfile(f, np.uint8)
        if raw.size == 0 or raw.size % 3073:
            raise TinyDeployError(f"{f}: {raw.size} bytes is not a whole number of 3,073-byte "
                                  "records", "the file is truncated: download it again")
        rec = raw.reshape(-1, 3073)
        x = rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float32) / 255.0
        return x, rec[:, 0].astype(np.int64)

    parts = [read(f) for f in train_files]
    x, y = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    xt, yt = read(test_file)
    if y.max() > 9 or yt.max() > 9:
        raise TinyDeployError(f"{root}: labels above 9", "these are not CIFAR-10 batches")
    meta = root / "batches.meta.txt"
    names = [n for n in meta.read_text().split() if n] if meta.is_file() else CIFAR10_CLASSES
    tr, va = _holdout(x, y, seed)
    return Dataset("cifar10", names[:10], tr, va, Split(xt, yt), f"CIFAR-10 binary at {root}")


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:  # type: ignore[operator]
            data = f.read()
    except OSError as exc:
        raise TinyDeployError(f"{path}: cannot read ({exc})", "download the file again") from None
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise TinyDeployError(f"{path}: not an unsigned-byte idx file (bad magic number)",
                              "give the MNIST idx files (train-images-idx3-ubyte, ...)")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    body = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise TinyDeployError(f"{path}: header says {dims}, file has {body.size} values",
                              "the file is truncated: download it again")
    return body.reshape(dims)


def _find(root: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (root / name).is_file():
            return root / name
    raise TinyDeployError(f"{root}: {stem}[.gz] not found",
                          "give the folder holding the four MNIST idx files")


def mnist_idx(root: str | Path, seed: int = 0) -> Dataset:
    """MNIST (or Fashion-MNIST) in idx format, plain or gzipped."""
    root = Path(root)
    x = _read_idx(_find(root, "train-images-idx3-ubyte"))
    y = _read_idx(_find(root, "train-labels-idx1-ubyte")).astype(np.int64)
    xt = _read_idx(_find(root, "t10k-images-idx3-ubyte"))
    yt = _read_idx(_find(root, "t10k-labels-idx1-ubyte")).astype(np.int64)
    if len(x) != len(y) or len(xt) != len(yt):
        raise TinyDeployError(f"{root}: image and label counts differ",
                              "the files do not belong together")
    tr, va = _holdout(x[..., None].astype(np.float32) / 255.0, y, seed)
    return Dataset("mnist", [str(i) for i in range(int(max(y.max(), yt.max())) + 1)], tr, va,
                   Split(xt[..., None].astype(np.float32) / 255.0, yt), f"MNIST idx at {root}")


def digits(seed: int = 0) -> Dataset:
    """scikit-learn's 1,797 real 8x8 handwritten digits (ships with the package, offline)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise TinyDeployError("scikit-learn is not installed (it ships the digits set)",
                              "pip install scikit-learn") from None
    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[..., None]
    tr, va, te = _split(x, d.target.astype(np.int64), seed, 0.15, 0.2)
    return Dataset("digits", [str(i) for i in range(10)], tr, va, te,
                   "scikit-learn 8x8 handwritten digits")


def open_image_dataset(path: str | Path, seed: int = 0) -> Dataset:
    """Recognise the layout of an image dataset folder."""
    root = Path(path)
    if not root.is_dir():
        raise TinyDeployError(f"{root}: no such dataset folder", "check the --dataset path")
    if list(root.glob("data_batch_*.bin")) or (root / "cifar-10-batches-bin").is_dir():
        return cifar10_binary(root, seed)
    if list(root.glob("train-images*idx3-ubyte*")):
        return mnist_idx(root, seed)
    return image_folder(root, seed=seed)
