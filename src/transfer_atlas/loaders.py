"""Dataset sources read from files under ``data/``: torchvision's on-disk formats,
ImageFolder trees and CSV-labelled folders.

Each loader returns ``(images uint8 NHWC, labels, class names, is_test)``, where
``is_test`` marks the dataset's own test split (or is None). The formats are read by
this module itself (CIFAR python pickles through a restricted unpickler, MNIST IDX,
SVHN .mat, STL-10 binaries, PNG/JPEG through Pillow); torchvision is used only to
download, and only when the config allows it. Errors name the file at fault and say
how to get the data.
"""

from __future__ import annotations

import csv
import gzip
import pickle
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
MNIST_NAMES = [str(d) for d in range(10)]
FASHION_NAMES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
KMNIST_NAMES = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]
SVHN_NAMES = [str(d) for d in range(10)]

#: name -> (torchvision class, files expected under root, how the loader reads them)
TORCHVISION = {
    "cifar10": ("CIFAR10", "cifar-10-batches-py"),
    "cifar100": ("CIFAR100", "cifar-100-python"),
    "mnist": ("MNIST", "MNIST/raw"),
    "fashion_mnist": ("FashionMNIST", "FashionMNIST/raw"),
    "kmnist": ("KMNIST", "KMNIST/raw"),
    "svhn": ("SVHN", "."),
    "stl10": ("STL10", "stl10_binary"),
}


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


# --- image files ---------------------------------------------------------------------


def read_image(path: Path, image_size: int, channels: int) -> np.ndarray:
    """One image file -> uint8 HWC at ``image_size`` squared; errors name the file."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            img = img.convert("L" if channels == 1 else "RGB")
            if img.size != (image_size, image_size):
                img = img.resize((image_size, image_size), Image.Resampling.BILINEAR)
            arr = np.asarray(img, dtype=np.uint8)
    except FileNotFoundError:
        raise FileNotFoundError(f"image file not found: {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"truncated or unreadable image {path}: {exc}") from None
    return arr[..., None] if arr.ndim == 2 else arr


def _images_in(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def _read_all(paths, image_size, channels) -> np.ndarray:
    out = np.empty((len(paths), image_size, image_size, channels), dtype=np.uint8)
    for i, path in enumerate(paths):
        out[i] = read_image(path, image_size, channels)
    return out


def load_image_folder(
    root: str,
    image_size: int = 64,
    channels: int = 3,
    train_dir: str | None = None,
    test_dir: str | None = None,
    **_,
):
    """An ImageFolder tree: ``root/<class>/<image>``; with ``train_dir``/``test_dir``
    (e.g. Hymenoptera's ``train``/``val``) the second is the dataset's own test split."""
    root_path = Path(root)
    if not root_path.is_dir():
        raise DataMissing(
            f"image folder not found: {root_path}. Put the images there "
            "(one sub-folder per class) or fetch them with `dvc pull data`."
        )
    parts = [(root_path / train_dir if train_dir else root_path, False)]
    if test_dir:
        parts.append((root_path / test_dir, True))
    names = sorted(p.name for p in parts[0][0].iterdir() if p.is_dir())
    if len(names) < 2:
        raise ValueError(f"{parts[0][0]}: expected one sub-folder per class, found {names}")
    paths, labels, is_test = [], [], []
    for folder, test in parts:
        found = sorted(p.name for p in folder.iterdir() if p.is_dir())
        if found != names:
            raise ValueError(f"{folder}: classes {found} differ from {parts[0][0]}'s {names}")
        for label, name in enumerate(names):
            files = _images_in(folder / name)
            if not files:
                raise ValueError(f"class '{name}' has no images in {folder / name}")
            paths += files
            labels += [label] * len(files)
            is_test += [test] * len(files)
    images = _read_all(paths, image_size, channels)
    return images, np.asarray(labels, np.int64), names, (np.asarray(is_test) if test_dir else None)


def load_csv_folder(
    csv_path: str,
    images_dir: str | None = None,
    image_col: str = "image",
    label_col: str = "label",
    image_size: int = 64,
    channels: int = 3,
    merge: dict | None = None,
    top_k: int | None = None,
    drop: list | None = None,
    **_,
):
    """Images listed in a CSV (``image,label`` as in Classify Leaves, or a lifelog
    metadata CSV with other column names). ``merge`` maps a new label to the old ones it
    absorbs; rows whose label is empty or in ``drop`` are skipped; ``top_k`` keeps the k
    most frequent labels (ties broken by name). Classes are sorted by name."""
    path = Path(csv_path)
    if not path.is_file():
        raise DataMissing(f"label CSV not found: {path} (fetch the data with `dvc pull data`)")
    base = Path(images_dir) if images_dir else path.parent
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = {image_col, label_col} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(
                f"{path}: missing column(s) {sorted(missing)} (has {reader.fieldnames}); "
                "set image_col / label_col in the dataset's source"
            )
        rows = [(i + 2, r[image_col], (r[label_col] or "").strip()) for i, r in enumerate(reader)]
    old_to_new = {}
    seen = {lab for _, _, lab in rows}
    for new, olds in (merge or {}).items():
        for old in olds:
            if old not in seen:
                raise ValueError(
                    f"{path}: merge map for '{new}' names unknown label '{old}' "
                    f"(labels in the file: {', '.join(sorted(seen)[:20])}...)"
                )
            old_to_new[old] = new
    dropped = set(drop or []) | {""}
    kept = [(line, img, old_to_new.get(lab, lab)) for line, img, lab in rows if lab not in dropped]
    counts: dict[str, int] = {}
    for _, _, lab in kept:
        counts[lab] = counts.get(lab, 0) + 1
    if top_k:
        top = sorted(counts, key=lambda k: (-counts[k], k))[:top_k]
        kept = [r for r in kept if r[2] in set(top)]
    names = sorted({lab for _, _, lab in kept})
    if len(names) < 2:
        raise ValueError(f"{path}: fewer than 2 classes left after merge/drop/top_k: {names}")
    index = {n: i for i, n in enumerate(names)}
    paths = []
    for line, img, _ in kept:
        p = base / img
        if not p.is_file():
            raise FileNotFoundError(f"{path} line {line}: image file not found: {p}")
        paths.append(p)
    images = _read_all(paths, image_size, channels)
    return images, np.asarray([index[lab] for _, _, lab in kept], np.int64), names, None
