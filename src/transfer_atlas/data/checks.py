"""Checks for user image data, run while a dataset is prepared (never in a training loop).

Loaders of ImageFolder trees and CSV-labelled folders call these so that a broken file
stops preparation with a message naming it, instead of a crash deep in a job or,
worse, a silently smaller dataset. Every check raises :class:`DataError` (a
``ValueError``), whose message starts with the path at fault.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"}
#: Files that file managers and version control leave in folders; never data.
IGNORED_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini", ".gitkeep", ".gitignore"}


class DataError(ValueError):
    """A dataset file or folder is unusable; the message names it."""


def check_image_file(path: str | os.PathLike) -> tuple[int, int]:
    """Decode ``path`` completely; return its (width, height) or raise DataError naming it.

    ``Image.open`` only reads the header, so a truncated PNG or JPEG opens fine and fails
    (or is silently padded) later; ``load()`` decodes every pixel here, with PIL's
    truncated-image tolerance off.
    """
    from PIL import Image, ImageFile, UnidentifiedImageError

    ImageFile.LOAD_TRUNCATED_IMAGES = False
    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            return img.size
    except FileNotFoundError:
        raise DataError(f"{path}: image file not found") from None
    except UnidentifiedImageError:
        raise DataError(f"{path}: not an image file PIL can read") from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data
        raise DataError(f"{path}: broken image ({exc})") from None


def check_image_folder(
    root: str | os.PathLike, allow_other_files: bool = False, decode: bool = True
) -> dict[str, list[Path]]:
    """Validate an ImageFolder tree (``root/<class>/<image>``); return class -> image paths.

    Raises DataError for a missing root, a tree without class folders, a class folder
    without images, a file that is not an image (unless ``allow_other_files``: then it is
    skipped) and, with ``decode``, an image that does not decode completely.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: ImageFolder root is not a directory")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{root}: empty dataset (no class folders)")
    out = {}
    for folder in classes:
        images = []
        for path in sorted(folder.rglob("*")):
            if path.is_dir() or path.name in IGNORED_NAMES:
                continue
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                if allow_other_files:
                    continue
                raise DataError(
                    f"{path}: not an image file in ImageFolder tree {root} "
                    f"(expected one of {', '.join(sorted(IMAGE_SUFFIXES))})"
                )
            if decode:
                check_image_file(path)
            images.append(path)
        if not images:
            raise DataError(f"{folder}: class '{folder.name}' has no images")
        out[folder.name] = images
    return out


def check_csv_rows(
    csv_path: str | os.PathLike,
    image_dir: str | os.PathLike,
    image_col: str = "image",
    label_col: str = "label",
    labels: Iterable[str] | None = None,
    decode: bool = False,
) -> list[tuple[Path, str]]:
    """Validate a CSV-labelled folder; return (image path, label) per row.

    Each row must name an existing file under ``image_dir`` (paths may not leave it) and,
    if ``labels`` is given, a label from that set. Errors name the CSV file, the line
    number and the value at fault.
    """
    csv_path, image_dir = Path(csv_path), Path(image_dir)
    known = None if labels is None else {str(x) for x in labels}
    root = image_dir.resolve()
    try:
        fh = open(csv_path, newline="")
    except FileNotFoundError:
        raise DataError(f"{csv_path}: CSV file not found") from None
    rows = []
    with fh:
        reader = csv.DictReader(fh)
        missing_cols = {image_col, label_col} - set(reader.fieldnames or [])
        if missing_cols:
            raise DataError(
                f"{csv_path}: missing column(s) {sorted(missing_cols)} "
                f"(header: {reader.fieldnames or 'none'})"
            )
        for row in reader:
            where = f"{csv_path}, line {reader.line_num}"
            name, label = (row[image_col] or "").strip(), (row[label_col] or "").strip()
            if not name:
                raise DataError(f"{where}: empty '{image_col}' value")
            path = (image_dir / name).resolve()
            if not path.is_relative_to(root):
                raise DataError(f"{where}: image path '{name}' leaves {image_dir}")
            if not path.is_file():
                raise DataError(f"{where}: image '{name}' not found in {image_dir}")
            if known is not None and label not in known:
                raise DataError(
                    f"{where}: unknown label '{label}' (known: {', '.join(sorted(known))})"
                )
            if decode:
                check_image_file(path)
            rows.append((path, label))
    if not rows:
        raise DataError(f"{csv_path}: empty dataset (no rows)")
    return rows


def check_class_counts(counts: dict[str, int], where: str) -> None:
    """Raise DataError if the dataset is empty or a class has no images."""
    if sum(counts.values()) == 0:
        raise DataError(f"{where}: empty dataset (no images)")
    empty = sorted(name for name, n in counts.items() if n == 0)
    if empty:
        raise DataError(f"{where}: class(es) with no images: {', '.join(empty)}")
