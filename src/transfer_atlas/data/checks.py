"""Checks of user image data, run by the loaders while a dataset is prepared.

``transfer_atlas.data.folders`` reads ImageFolder trees and CSV-labelled folders only
through these functions, so a broken or stray file stops preparation (before any job
trains) with a message naming it, instead of a crash deep in a job or, worse, a
silently smaller dataset. Every check raises :class:`DataError` (a ``ValueError``),
whose message starts with the file, folder or CSV line at fault.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from transfer_atlas.spec.names import RESIZE_MODES

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


# How an image becomes ``image_size`` squared (RESIZE_MODES): ``stretch`` (both sides
# resized, aspect lost; the default), ``center_crop`` (shorter side resized, then the
# centre cut out: torchvision's Resize + CenterCrop) or ``pad`` (longer side resized,
# then centred on black).


def _resized(img, size: int, mode: str):
    from PIL import Image

    w, h = img.size
    if (w, h) == (size, size):
        return img
    bilinear = Image.Resampling.BILINEAR
    if mode == "stretch":
        return img.resize((size, size), bilinear)
    if mode == "center_crop":
        # torchvision: shorter side -> size, longer side int(size * long / short), then a
        # centred crop whose offsets round half to even like torchvision's round().
        nw, nh = (size, int(size * h / w)) if w <= h else (int(size * w / h), size)
        img = img.resize((nw, nh), bilinear)
        left, top = int(round((nw - size) / 2.0)), int(round((nh - size) / 2.0))
        return img.crop((left, top, left + size, top + size))
    if mode == "pad":
        scale = size / max(w, h)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        canvas = Image.new(img.mode, (size, size))
        canvas.paste(img.resize((nw, nh), bilinear), ((size - nw) // 2, (size - nh) // 2))
        return canvas
    raise ValueError(f"unknown resize mode '{mode}' (known: {', '.join(RESIZE_MODES)})")


def read_image(path, image_size: int, channels: int, resize: str = "stretch", name=None):
    """Decode ``path`` (a file, or a binary file object named ``name`` in messages)
    completely -> uint8 HWC at ``image_size`` squared, or DataError.

    ``Image.open`` reads only the header: a truncated PNG or JPEG opens fine, so
    ``load()`` decodes every pixel here, with PIL's truncated-image tolerance off.
    """
    from PIL import Image, ImageFile, UnidentifiedImageError

    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a library may have switched it on
    name = name or path
    try:
        with Image.open(path) as img:
            img.load()
            img = _resized(img.convert("L" if channels == 1 else "RGB"), image_size, resize)
            arr = np.asarray(img, dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(f"{name}: image file not found") from None
    except UnidentifiedImageError:
        raise DataError(
            f"{name}: not an image file PIL can read (truncated header, or not an image)"
        ) from None
    except Image.DecompressionBombError as exc:  # absurd pixel counts in a small file
        raise DataError(f"{name}: image too large ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data
        raise DataError(f"{name}: broken image ({exc})") from None
    return arr[..., None] if arr.ndim == 2 else arr


def image_bytes(value, where: str) -> bytes:
    """The encoded image of one Parquet cell (a ``{bytes, path}`` struct or bytes), or
    DataError naming ``where``."""
    if isinstance(value, dict):
        data = value.get("bytes")
        if data is None:
            raise DataError(
                f"{where}: image stored as a path ({value.get('path')!r}), not bytes; "
                "save the dataset with the images embedded"
            )
    else:
        data = value
    if not isinstance(data, bytes | bytearray) or not data:
        raise DataError(f"{where}: no image bytes (got {type(data).__name__})")
    return bytes(data)


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


def class_images(folder: Path, root: Path) -> list[Path]:
    """Image files under one class folder (sub-folders included), sorted.

    Any other file is an error naming it: a stray ``notes.txt`` is more likely a
    mistake than something to drop without a word.
    """
    images, seen = [], {os.path.realpath(folder)}
    # Symlinked sub-folders are followed (not skipped without a word); ``seen`` stops a
    # link cycle from walking for ever.
    for parent, dirs, files in os.walk(folder, followlinks=True):
        real = {d: os.path.realpath(os.path.join(parent, d)) for d in dirs}
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and real[d] not in seen)
        seen.update(real[d] for d in dirs)
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
            images.append(path)
    if not images:
        raise DataError(f"{folder}: class '{folder.name}' has no images")
    return sorted(images)


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
    if not path.is_file():
        raise DataError(f"{where}: image '{name}' not found in {images_dir}")
    return path


def check_class_counts(counts: dict[str, int], where: str) -> None:
    """Raise DataError if the dataset is empty or a class has no images."""
    if sum(counts.values()) == 0:
        raise DataError(f"{where}: empty dataset (no images)")
    empty = sorted(name for name, n in counts.items() if n == 0)
    if empty:
        raise DataError(f"{where}: class(es) with no images: {', '.join(empty)}")
