"""Dataset sources read from files under ``data/``: torchvision's on-disk formats here,
ImageFolder trees and CSV-labelled folders in ``transfer_atlas.data.folders``.

Each loader returns ``(images uint8 NHWC, labels, class names, is_test)``, where
``is_test`` marks the dataset's own test split (or is None). The formats are read by
this module itself (CIFAR python pickles through a restricted unpickler, MNIST IDX,
SVHN .mat, STL-10 binaries, PNG/JPEG through Pillow); torchvision is used only to
download, and only when the config allows it. Errors name the file at fault and say
how to get the data.
"""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np

from transfer_atlas.spec.names import TORCHVISION

MNIST_NAMES = [str(d) for d in range(10)]
FASHION_NAMES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
KMNIST_NAMES = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]
SVHN_NAMES = [str(d) for d in range(10)]


class DataMissing(FileNotFoundError):
    """A dataset's files are absent; the message says how to get them."""


def _missing(name: str, path: Path, download_key: str) -> DataMissing:
    return DataMissing(
        f"{name}: files not found at {path}. Fetch them with `dvc pull data` (if the data "
        f"is in the project's DVC remote), or set `{download_key}: true` in the dataset's "
        "source to let torchvision download them (needs network)."
    )


# --- torchvision formats -------------------------------------------------------------


class _SafeUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only: a CIFAR batch needs no more."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            obj = _SafeUnpickler(fh, encoding="latin1").load()
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise ValueError(f"{path}: not a readable CIFAR batch ({exc})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a dict in a CIFAR batch, got {type(obj).__name__}")
    return obj


def _cifar_images(batch: dict, path: Path) -> np.ndarray:
    data = np.asarray(batch.get("data"), dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"{path}: 'data' must be N x 3072 bytes, got shape {data.shape}")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def read_cifar(root: Path, hundred: bool):
    base = root / TORCHVISION["cifar100" if hundred else "cifar10"][1]
    if hundred:
        parts, meta, key, names_key = ["train", "test"], "meta", "fine_labels", "fine_label_names"
    else:
        parts = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        meta, key, names_key = "batches.meta", "labels", "label_names"
    images, labels, is_test = [], [], []
    for part in parts:
        path = base / part
        batch = _unpickle(path)
        if key not in batch:
            raise ValueError(f"{path}: no '{key}' entry in this CIFAR batch")
        images.append(_cifar_images(batch, path))
        labels.append(np.asarray(batch[key], dtype=np.int64))
        is_test.append(np.full(len(labels[-1]), part.startswith("test")))
    names = [str(n) for n in _unpickle(base / meta)[names_key]]
    return np.concatenate(images), np.concatenate(labels), names, np.concatenate(is_test)


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file (MNIST's format), plain or gzipped."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path}: unreadable IDX file ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(np.int64)
    offset = 4 + 4 * ndim
    if len(raw) - offset != int(np.prod(dims)):
        raise ValueError(
            f"{path}: IDX header says {tuple(dims)} but the file holds "
            f"{len(raw) - offset} bytes (truncated?)"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(tuple(dims))


def _idx_file(base: Path, stem: str) -> Path:
    for cand in (base / stem, base / f"{stem}.gz"):
        if cand.exists():
            return cand
    raise FileNotFoundError(base / stem)


def read_mnist_like(root: Path, name: str):
    base = root / TORCHVISION[name][1]
    images, labels, is_test = [], [], []
    for prefix, test in (("train", False), ("t10k", True)):
        x = _read_idx(_idx_file(base, f"{prefix}-images-idx3-ubyte"))
        y = _read_idx(_idx_file(base, f"{prefix}-labels-idx1-ubyte")).astype(np.int64)
        if len(x) != len(y):
            raise ValueError(f"{base}: {prefix} has {len(x)} images but {len(y)} labels")
        images.append(x[..., None])
        labels.append(y)
        is_test.append(np.full(len(y), test))
    names = {"mnist": MNIST_NAMES, "fashion_mnist": FASHION_NAMES, "kmnist": KMNIST_NAMES}[name]
    return np.concatenate(images), np.concatenate(labels), names, np.concatenate(is_test)


def read_svhn(root: Path):
    from scipy.io import loadmat

    images, labels, is_test = [], [], []
    for part, test in (("train", False), ("test", True)):
        path = root / f"{part}_32x32.mat"
        if not path.exists():
            raise FileNotFoundError(path)
        mat = loadmat(str(path))
        x, y = mat["X"], mat["y"].astype(np.int64).ravel()
        images.append(np.ascontiguousarray(x.transpose(3, 0, 1, 2)).astype(np.uint8))
        labels.append(np.where(y == 10, 0, y))  # SVHN stores digit 0 as label 10
        is_test.append(np.full(len(y), test))
    return np.concatenate(images), np.concatenate(labels), SVHN_NAMES, np.concatenate(is_test)


def read_stl10(root: Path):
    base = root / TORCHVISION["stl10"][1]
    names = (base / "class_names.txt").read_text().split()
    images, labels, is_test = [], [], []
    for part, test in (("train", False), ("test", True)):
        x = np.fromfile(base / f"{part}_X.bin", dtype=np.uint8)
        y = np.fromfile(base / f"{part}_y.bin", dtype=np.uint8).astype(np.int64) - 1
        if x.size != len(y) * 3 * 96 * 96:
            raise ValueError(f"{base / f'{part}_X.bin'}: size does not match {len(y)} labels")
        images.append(x.reshape(-1, 3, 96, 96).transpose(0, 3, 2, 1))  # column-major images
        labels.append(y)
        is_test.append(np.full(len(y), test))
    return np.concatenate(images), np.concatenate(labels), names, np.concatenate(is_test)


def _download(name: str, root: Path) -> None:
    import torchvision.datasets as tvd

    cls = getattr(tvd, TORCHVISION[name][0])
    try:
        for train in (True, False):
            if name in ("svhn", "stl10"):
                cls(str(root), split="train" if train else "test", download=True)
            else:
                cls(str(root), train=train, download=True)
    except Exception as exc:  # network errors come in many types
        raise DataMissing(
            f"{name}: download into {root} failed ({type(exc).__name__}: {exc}). "
            "Without network, fetch the files with `dvc pull data` or copy them there."
        ) from None


def load_torchvision(name: str, root: str | None = None, download: bool = False, **_):
    """A torchvision dataset from its on-disk files under ``root`` (default ``data/<name>``)."""
    if name not in TORCHVISION:
        raise ValueError(f"unknown torchvision dataset '{name}' (known: {sorted(TORCHVISION)})")
    root_path = Path(root or f"data/{name}")
    readers = {
        "cifar10": lambda: read_cifar(root_path, False),
        "cifar100": lambda: read_cifar(root_path, True),
        "svhn": lambda: read_svhn(root_path),
        "stl10": lambda: read_stl10(root_path),
    }
    reader = readers.get(name, lambda: read_mnist_like(root_path, name))
    try:
        return reader()
    except FileNotFoundError:
        if not download:
            raise _missing(name, root_path / TORCHVISION[name][1], "download") from None
    _download(name, root_path)
    return reader()
