"""Checks of user image data, run by the loaders while a dataset is prepared.

``transfer_atlas.data.folders`` reads ImageFolder trees and CSV-labelled folders only
through these functions, so a broken or stray file stops preparation (before any job
trains) with a message naming it, instead of a crash deep in a job or, worse, a
silently smaller dataset. Every check raises :class:`DataError` (a ``ValueError``),
whose message starts with the file, folder or CSV line at fault.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

#: The one list of file suffixes read as images (compared in lower case).
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"}
)
#: Files that file managers leave in folders; never data. Dotfiles (``.DS_Store``,
#: ``._x.jpg`` AppleDouble twins, ``.gitkeep``) and dot-folders are skipped as well.
JUNK_NAMES = frozenset({"Thumbs.db", "desktop.ini"})


class DataError(ValueError):
    """A dataset file, folder or CSV row is unusable; the message names it."""


def is_junk(name: str) -> bool:
    return name.startswith(".") or name in JUNK_NAMES


def not_regular(mode: int) -> str:
    """What a non-regular file is, for messages ("a FIFO", ...)."""
    kinds = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))
    kinds += ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    return next((what for test, what in kinds if test(mode)), "not a regular file")


def regular_file(path: Path, where: str) -> os.stat_result:
    """``stat`` of ``path`` (links followed), or DataError if it is missing or anything
    but a regular file: a FIFO would hang the reader, a device never end. Nothing is
    opened here."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DataError(f"{where}: not found (or a broken link)") from None
    except OSError as exc:  # ELOOP: a link pointing at itself
        raise DataError(f"{where}: cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise DataError(f"{where}: {not_regular(st.st_mode)}, not a file; not read")
    return st


# ------------------------------------------------------------------ ImageFolder trees


def class_folders(root: Path) -> list[str]:
    """Class names of ``root/<class>/``; images lying in ``root`` itself are refused,
    since they would belong to no class (other files there, e.g. a README, are fine)."""
    names = []
    for entry in sorted(root.iterdir()):
        if is_junk(entry.name):
            continue
        if entry.is_dir():
            names.append(entry.name)
        elif entry.suffix.lower() in IMAGE_SUFFIXES:
            raise DataError(
                f"{entry}: image outside any class folder of ImageFolder tree {root} "
                f"(expected {root}/<class>/<image>)"
            )
    if not names:
        raise DataError(f"{root}: empty dataset (no class folders)")
    if len(names) < 2:
        raise DataError(f"{root}: one class folder ({names[0]}); a classifier needs two or more")
    return names


def class_images(folder: Path, root: Path, seen: dict | None = None) -> list[Path]:
    """Image files under one class folder (sub-folders included), sorted.

    Any other file is an error naming it: a stray ``notes.txt`` is more likely a
    mistake than something to drop without a word, and a FIFO, socket or device would
    hang or never end. Symlinked sub-folders and files are followed, but ``seen`` (real
    path -> the path it was first reached by, shared by every class of the dataset)
    refuses a link that loops back or makes one folder or file appear twice: one image
    under two labels, or twice in one class, would fool the study.
    """
    seen = {} if seen is None else seen
    images = []
    for parent, dirs, files in os.walk(folder, followlinks=True, onerror=_unreadable):
        if parent == str(folder):
            _reached(folder, seen)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for d in dirs:
            _reached(Path(parent) / d, seen)
        for name in sorted(files):
            if is_junk(name):
                continue
            path = Path(parent) / name
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                raise DataError(
                    f"{path}: not an image file in ImageFolder tree {root} "
                    f"(expected one of {', '.join(sorted(IMAGE_SUFFIXES))}; "
                    f"skipped: dotfiles, {', '.join(sorted(JUNK_NAMES))})"
                )
            regular_file(path, str(path))
            _reached(path, seen)
            images.append(path)
    if not images:
        raise DataError(f"{folder}: class '{folder.name}' has no images")
    return sorted(images)


def _unreadable(exc: OSError) -> None:
    """os.walk skips a folder it cannot list without a word; its images would be lost."""
    raise DataError(f"{exc.filename}: folder cannot be read ({exc.strerror})")


def _reached(path: Path, seen: dict) -> None:
    """Record that the walk reached ``path``; DataError naming both paths if its real
    path was reached before (a link loop, or one folder or file linked twice)."""
    real = os.path.realpath(path)
    first = seen.setdefault(real, path)
    if first != path:
        what = "folder" if os.path.isdir(real) else "file"
        raise DataError(
            f"{path}: the same {what} as {first} (a link loop, or a link that puts it in the "
            f"dataset twice; real path {real}); remove the link"
        )


# ------------------------------------------------------------------ CSV-labelled folders


def csv_image_path(where: str, name: str, images_dir: Path, column: str) -> Path:
    """The file a CSV row names, inside ``images_dir``, or DataError naming ``where``.

    The row's path is normalised as written (``..`` and absolute paths): a CSV, often
    written by someone else, may not name a file outside the folder the images are read
    from. Links already inside that folder are the folder owner's and are followed, as in
    ImageFolder trees: DVC's ``symlink``/``hardlink`` cache types put every tracked file
    behind such a link, and refusing them would refuse every row.
    """
    if not name:
        raise DataError(f"{where}: empty '{column}' value")
    base = Path(os.path.abspath(images_dir))
    path = Path(os.path.normpath(base / name))
    if not path.is_relative_to(base):
        raise DataError(f"{where}: image path '{name}' leaves {images_dir} (resolves to {path})")
    if not os.path.lexists(path):
        raise DataError(f"{where}: image '{name}' not found in {images_dir}")
    regular_file(path, f"{where}: image '{name}' ({path})")
    return path


def check_class_counts(counts: dict[str, int], where: str) -> None:
    """Raise DataError if the dataset is empty or a class has no images."""
    if sum(counts.values()) == 0:
        raise DataError(f"{where}: empty dataset (no images)")
    empty = sorted(name for name, n in counts.items() if n == 0)
    if empty:
        raise DataError(f"{where}: class(es) with no images: {', '.join(empty)}")


def check_splits(labels, names: list[str], splits, where: str, split: dict) -> None:
    """Raise DataError if a split is empty or a class lacks train, val or test images:
    a run could not train on, choose by, or report that class (with no val images at
    all the fine-tune could not even evaluate). Names the classes and their counts."""
    import numpy as np

    counts = np.stack([np.bincount(labels[idx], minlength=len(names)) for idx in splits])
    how = f"split val {split.get('val', 0.2)}, test {split.get('test', 0.2)}"
    empty = [s for s, n in zip(("train", "val", "test"), counts.sum(1), strict=True) if n == 0]
    short = np.flatnonzero((counts == 0).any(0))
    if not empty and not len(short):
        return
    shown = ", ".join(
        f"'{names[c]}' {counts[0, c]}/{counts[1, c]}/{counts[2, c]}" for c in short[:5]
    )
    more = f" and {len(short) - 5} more" if len(short) > 5 else ""
    head = f"the {' and '.join(empty)} split(s) would be empty; " if empty else ""
    raise DataError(
        f"{where}: {head}{len(short)} of {len(names)} class(es) would lack train, val or test "
        f"images ({how}; train/val/test per class: {shown}{more}). Every class needs at "
        "least one image in each split: add images, change split.val/test, or drop the "
        "class (classes / exclude)"
    )
