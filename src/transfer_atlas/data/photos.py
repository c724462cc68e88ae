"""Real photographs shipped inside scikit-image's wheel (``skimage/data/``), offline.

* ``skimage_faces``: the LFW subset, 200 grey 25x25 crops; scikit-image's docs say the
  first 100 are faces and the other 100 non-faces (background of the same photos).
* ``skimage_textures``: each texture photo is one class, cut into square patches. The
  split is spatial: each photo's rows are cut into three bands (train at the top, then
  validation, then test; their heights are the dataset's ``split`` shares) and patches
  are tiled inside a band, never across its border, so no pixel is in two splits.
  :func:`patch_layout` gives every patch's split and position (docs/data.md).

The files are read with numpy and Pillow; ``import skimage`` (its lazy loader, imageio)
is not needed for that.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from transfer_atlas.data.loaders import DataMissing
from transfer_atlas.spec.names import DEFAULT_TEXTURES, FACE_CLASSES, TEXTURE_PHOTOS

#: Split codes of :func:`patch_layout` (and of the split array the textures source returns).
SPLITS = ("train", "val", "test")


def skimage_file(name: str) -> Path:
    """The path of ``skimage/data/<name>`` in the installed scikit-image, or DataMissing."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise DataMissing("scikit-image is not installed: run `make env` (requirements.lock)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / name
    if not path.is_file():
        raise DataMissing(f"{path}: not in the installed scikit-image; run `make env`")
    return path


def load_faces(**_) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """scikit-image's LFW subset: 200 grey 25x25 photos, 100 faces then 100 non-faces."""
    path = skimage_file("lfw_subset.npy")
    raw = np.load(path, allow_pickle=False)
    if raw.shape != (200, 25, 25):
        raise ValueError(f"{path}: expected 200 images of 25x25, got shape {raw.shape}")
    if raw.dtype != np.uint8:  # scikit-image 0.26 ships floats in [0, 1]
        raw = np.round(np.clip(raw, 0.0, 1.0) * 255.0).astype(np.uint8)
    labels = np.repeat(np.arange(len(FACE_CLASSES), dtype=np.int64), 100)
    return raw[..., None], labels, list(FACE_CLASSES)


def split_bands(height: int, val: float, test: float) -> list[tuple[int, int]]:
    """Rows ``[start, stop)`` of the train, val and test bands of a photo ``height`` tall:
    train at the top, test at the bottom; val and test get ``round(height * share)`` rows."""
    n_test, n_val = int(round(height * test)), int(round(height * val))
    return [(0, height - n_val - n_test), (height - n_val - n_test, height - n_test),
            (height - n_test, height)]  # fmt: skip


def patch_layout(height, width, patch: int, stride: int, val: float, test: float):
    """Every patch of one photo as rows ``(split code, top, left)`` (int64, n x 3).

    Patches are ``patch`` pixels square, tiled ``stride`` apart from each band's top and
    the photo's left edge; a patch that would cross its band's lower border is left out.
    Raises ValueError when a band holds no patch.
    """
    rows = []
    for code, (top, bottom) in enumerate(split_bands(height, val, test)):
        band = [(code, y, x) for y in range(top, bottom - patch + 1, stride)
                for x in range(0, width - patch + 1, stride)]  # fmt: skip
        if not band:
            raise ValueError(
                f"the {SPLITS[code]} band is {bottom - top} of {height} rows, too few for "
                f"patch_size {patch}: lower patch_size or change split.val / split.test"
            )
        rows += band
    return np.asarray(rows, dtype=np.int64)


def read_photo(name: str) -> np.ndarray:
    """A texture photo as grey uint8 (H, W)."""
    from PIL import Image

    if name not in TEXTURE_PHOTOS:
        raise ValueError(f"unknown texture photo '{name}' (known: {sorted(TEXTURE_PHOTOS)})")
    with Image.open(skimage_file(TEXTURE_PHOTOS[name])) as img:
        return np.asarray(img.convert("L"), dtype=np.uint8)


def _resized(patches: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    if patches.shape[1] == size:
        return patches
    bilinear = Image.Resampling.BILINEAR  # antialiased when it shrinks, as data.checks does
    small = [Image.fromarray(p).resize((size, size), bilinear) for p in patches]
    return np.stack([np.asarray(p, dtype=np.uint8) for p in small])


def load_textures(
    photos=DEFAULT_TEXTURES,
    patch_size: int = 32,
    stride: int | None = None,
    image_size: int | None = None,
    split: dict | None = None,
    **_,
):
    """Patches of texture photos, one class per photo, split by region (module docstring).

    Returns (images uint8 N x S x S x 1, labels, class names, split code per image); S is
    ``image_size`` (default ``patch_size``: patches at the photo's own resolution).
    """
    split = split or {}
    val, test = split.get("val", 0.2), split.get("test", 0.2)
    if test == "source":
        raise ValueError(
            "skimage_textures: the photos have no test split of their own; split.test is "
            "the share of each photo's rows (at its bottom) that test patches come from"
        )
    stride, size = stride or patch_size, image_size or patch_size
    images, labels, codes = [], [], []
    for label, name in enumerate(photos):
        photo = read_photo(name)
        try:
            layout = patch_layout(*photo.shape, patch_size, stride, val, test)
        except ValueError as exc:
            raise ValueError(f"skimage_textures, photo '{name}': {exc}") from None
        cut = np.stack([photo[y : y + patch_size, x : x + patch_size] for _, y, x in layout])
        images.append(_resized(cut, size))
        labels.append(np.full(len(layout), label, dtype=np.int64))
        codes.append(layout[:, 0])
    codes = np.concatenate(codes).astype(np.int8)
    return np.concatenate(images)[..., None], np.concatenate(labels), list(photos), codes
