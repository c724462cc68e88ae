"""Dataset sources of image files: ImageFolder trees and CSV-labelled folders.

Loaders return ``(images uint8 NHWC, labels, class names, is_test)`` like those in
``transfer_atlas.data.loaders``. Images are decoded once, here, with Pillow and resized to
the dataset's ``image_size``; errors name the file, row or class at fault.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from transfer_atlas.data.loaders import DataMissing

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


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
