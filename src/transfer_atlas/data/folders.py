"""Dataset sources of image files: ImageFolder trees and CSV-labelled folders.

Loaders return ``(images uint8 NHWC, labels, class names, is_test)`` like those in
``transfer_atlas.data.loaders``. Which files are images and which CSV rows may be read
is decided by ``transfer_atlas.data.checks`` (how an image is decoded, by
``transfer_atlas.data.decode``), whose errors name the file, CSV line or class at fault.
Every file is checked before any is decoded; the images come back as ``stream.Pending``
references, decoded once (resized to the dataset's ``image_size`` by its ``resize`` mode)
when the prepared arrays are written.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from transfer_atlas.data import checks
from transfer_atlas.data.loaders import DataMissing
from transfer_atlas.data.stream import Pending


def load_image_folder(
    root: str,
    image_size: int = 64,
    channels: int = 3,
    train_dir: str | None = None,
    test_dir: str | None = None,
    resize: str = "stretch",
    max_pixels: int | None = None,
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
    for folder, _test in parts:
        if not folder.is_dir():
            raise DataMissing(f"image folder not found: {folder} (split of {root_path})")
    names = checks.class_folders(parts[0][0])
    paths, labels, is_test, seen = [], [], [], {}
    for folder, test in parts:
        found = checks.class_folders(folder)
        if found != names:
            raise checks.DataError(f"{folder}: classes {found} differ from {parts[0][0]}'s {names}")
        for label, name in enumerate(names):
            files = checks.class_images(folder / name, folder, seen)
            paths += files
            labels += [label] * len(files)
            is_test += [test] * len(files)
    images = Pending(paths, "file", image_size, channels, resize, max_pixels)
    return images, np.asarray(labels, np.int64), names, (np.asarray(is_test) if test_dir else None)


def _read_rows(path: Path, image_col: str, label_col: str) -> list[tuple[int, str, str]]:
    """(line number, image value, label) per CSV row; the line is where the row ends."""
    checks.regular_file(path, str(path))
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            missing = {image_col, label_col} - set(reader.fieldnames or [])
            if missing:
                raise checks.DataError(
                    f"{path}: missing column(s) {sorted(missing)} (has {reader.fieldnames}); "
                    "set image_col / label_col in the dataset's source"
                )
            rows = [
                (reader.line_num, (r[image_col] or "").strip(), (r[label_col] or "").strip())
                for r in reader
            ]
    except UnicodeDecodeError:
        raise checks.DataError(_not_utf8(path)) from None
    except csv.Error as exc:  # a NUL byte, an unclosed quote at the end
        raise checks.DataError(f"{path}, line {reader.line_num}: not a CSV row ({exc})") from None
    if not rows:
        raise checks.DataError(f"{path}: empty dataset (no rows)")
    return rows


def _not_utf8(path: Path) -> str:
    """Where a CSV stops being UTF-8 (the reader's error counts from its last chunk)."""
    raw = path.read_bytes()
    try:
        raw.decode("utf-8-sig")
        return f"{path}: not UTF-8 text"
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return (
            f"{path}, line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
            f"{exc.start}); save the CSV as UTF-8"
        )


def _refuse_repeats(path: Path, rows: list, files: list[Path]) -> None:
    """Two rows naming one image file (as written, or through a link) would put it in
    two splits or under two labels: refused with both line numbers."""
    first = {}
    for (line, img, _), file in zip(rows, files, strict=True):
        real = os.path.realpath(file)
        if real in first:
            line0, img0 = first[real]
            same = "" if img == img0 else f" ('{img0}' and '{img}' are one file, {real})"
            raise checks.DataError(
                f"{path}, lines {line0} and {line}: the same image listed twice{same}; keep one row"
            )
        first[real] = (line, img)


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
    resize: str = "stretch",
    max_pixels: int | None = None,
    **_,
):
    """Images listed in a CSV (``image,label`` as in Classify Leaves, or a lifelog
    metadata CSV with other column names), read from ``images_dir`` (default: the CSV's
    folder), which no row may leave. ``merge`` maps a new label to the old ones it
    absorbs; rows whose label is empty or in ``drop`` are skipped; ``top_k`` keeps the k
    most frequent labels (ties broken by name). Classes are sorted by name."""
    path = Path(csv_path)
    if not path.exists():
        raise DataMissing(f"label CSV not found: {path} (fetch the data with `dvc pull data`)")
    base = Path(images_dir) if images_dir else path.parent
    if not base.is_dir():
        raise DataMissing(f"images folder not found: {base} (images_dir of {path})")
    rows = _read_rows(path, image_col, label_col)
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
    # Every row to be read is checked (path inside base, file present) before the
    # class count, so a bad row is named even in a CSV too small to train on.
    paths = [
        checks.csv_image_path(f"{path}, line {ln}", img, base, image_col) for ln, img, _ in kept
    ]
    _refuse_repeats(path, kept, paths)
    names = sorted({lab for _, _, lab in kept})
    if len(names) < 2:
        raise ValueError(f"{path}: fewer than 2 classes left after merge/drop/top_k: {names}")
    index = {n: i for i, n in enumerate(names)}
    images = Pending(paths, "file", image_size, channels, resize, max_pixels)
    return images, np.asarray([index[lab] for _, _, lab in kept], np.int64), names, None
