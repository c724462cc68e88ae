"""How one image file becomes a prepared row: the pixel rules of every file source.

The rules (docs/data.md, "Pixels"):

- **Size first**: the header's width x height is compared with ``max_pixels`` (a source
  key; default PIL's own warning threshold, 89,478,485 pixels) before any pixel is
  decoded; a larger image is refused naming the file and its size.
- **Frames**: an animated GIF, APNG, WebP or multi-page TIFF gives its first frame.
- **Orientation**: the EXIF orientation tag is applied (``ImageOps.exif_transpose``),
  so the pixels are the picture as a viewer shows it, and as whoever labelled it saw it.
- **Range**: 8-bit modes (``1 L P LA PA RGB RGBA RGBX CMYK YCbCr``) are converted by
  PIL (alpha is dropped, not composited); 16-bit grey (``I;16*``) keeps the high byte
  (v // 256, what PIL itself does for 16-bit colour PNGs); 32-bit float (``F``) must lie
  in [0, 1] and becomes round(255 v). 32-bit integers (``I``), NaN or out-of-range
  floats, and any other mode are refused naming the file: they have no one 8-bit meaning.

Each decoded image also gives a digest of its pixels (before resizing), with which
preparation finds the same picture stored twice (``data.duplicates``).
"""

from __future__ import annotations

import hashlib
import os
import stat
import warnings

import numpy as np

from transfer_atlas.data.checks import DataError, not_regular
from transfer_atlas.spec.names import RESIZE_MODES

#: Default ``max_pixels``: PIL's ``Image.MAX_IMAGE_PIXELS`` (where it starts to warn).
MAX_PIXELS = 89_478_485
#: Modes PIL converts to ``L``/``RGB`` with 8 bits per channel, nothing lost but alpha.
EIGHT_BIT_MODES = frozenset({"1", "L", "P", "LA", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr"})
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})


def _resized(img, size: int, mode: str):
    """``img`` at ``size`` squared by ``mode`` (RESIZE_MODES): ``stretch`` (both sides,
    aspect lost), ``center_crop`` (torchvision's Resize + CenterCrop) or ``pad``."""
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


def _eight_bit(img, name):
    """``img`` in a mode with 8 bits per channel, by the range rules above."""
    from PIL import Image

    if img.mode in EIGHT_BIT_MODES:
        return img
    if img.mode in SIXTEEN_BIT_MODES:
        return Image.fromarray((np.asarray(img).astype(np.uint16) >> 8).astype(np.uint8), "L")
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        lo, hi = float(np.min(arr)), float(np.max(arr))
        if not (0.0 <= lo and hi <= 1.0):  # NaN fails both comparisons
            raise DataError(
                f"{name}: float pixels range {lo:g}..{hi:g}; only [0, 1] has a known "
                "meaning (scale the image to [0, 1], or save it as 8- or 16-bit)"
            )
        return Image.fromarray(np.round(arr * 255.0).astype(np.uint8), "L")
    raise DataError(
        f"{name}: pixel mode '{img.mode}' has no one 8-bit meaning "
        f"(accepted: {', '.join(sorted(EIGHT_BIT_MODES | SIXTEEN_BIT_MODES))}, F in [0, 1])"
    )


def _check_regular(path) -> None:
    """A path (not a file object) must be a regular file: never open a FIFO or device."""
    if isinstance(path, str | os.PathLike):
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            raise DataError(f"{path}: image file not found") from None
        if not stat.S_ISREG(mode):
            raise DataError(f"{path}: {not_regular(mode)}, not an image file; not read")


def decode_row(
    path, image_size: int, channels: int, resize: str = "stretch", name=None, max_pixels=None
):
    """Decode ``path`` (a file, or a binary file object named ``name`` in messages)
    completely -> (uint8 HWC at ``image_size`` squared, 16-byte pixel digest), or DataError.

    ``Image.open`` reads only the header: a truncated PNG or JPEG opens fine, so
    ``load()`` decodes every pixel here, with PIL's truncated-image tolerance off.
    """
    from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a library may have switched it on
    name = name or path
    limit = MAX_PIXELS if max_pixels is None else int(max_pixels)
    _check_regular(path)
    if max_pixels is not None and limit > (Image.MAX_IMAGE_PIXELS or limit):
        Image.MAX_IMAGE_PIXELS = limit  # the user's limit replaces PIL's guess
    try:
        with warnings.catch_warnings():  # PIL's size warning: the check below decides
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(path)
        with opened as img:
            w, h = img.size
            if w * h > limit:
                raise DataError(
                    f"{name}: image of {w} x {h} = {w * h:,} pixels exceeds max_pixels "
                    f"({limit:,}); not decoded (raise the source's max_pixels to accept it)"
                )
            img.load()  # the first frame of an animated image
            img = _eight_bit(ImageOps.exif_transpose(img), name)
            img = img.convert("L" if channels == 1 else "RGB")
            digest = hashlib.blake2b(img.tobytes(), digest_size=16)
            digest.update(f"{img.mode}{img.size}".encode())
            arr = np.asarray(_resized(img, image_size, resize), dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(f"{name}: image file not found") from None
    except UnidentifiedImageError:
        raise DataError(
            f"{name}: not an image file PIL can read (truncated header, or not an image)"
        ) from None
    except Image.DecompressionBombError as exc:  # absurd pixel counts in a small file
        raise DataError(f"{name}: image too large ({exc})") from None
    except DataError:
        raise
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data
        raise DataError(f"{name}: broken image ({exc})") from None
    except Exception as exc:  # a decoder's own failure on hostile bytes: still this file's
        raise DataError(f"{name}: broken image ({type(exc).__name__}: {exc})") from None
    return (arr[..., None] if arr.ndim == 2 else arr), digest.digest()


def read_image(path, image_size: int, channels: int, resize: str = "stretch", name=None):
    """The uint8 HWC row of :func:`decode_row`, without its digest."""
    return decode_row(path, image_size, channels, resize, name)[0]
