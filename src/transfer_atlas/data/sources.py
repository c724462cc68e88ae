"""Dataset sources: each returns raw images as a uint8 array (N, H, W, C), integer labels
and class names. ``transfer_atlas.data.prepared`` turns that into a prepared dataset.
"""

from __future__ import annotations

import numpy as np

from transfer_atlas.spec.names import SHAPE_NAMES


def load_sklearn_digits(**_) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """scikit-learn's handwritten digits: 1,797 real 8x8 images, shipped inside the package."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    return images, bunch.target.astype(np.int64), [str(c) for c in bunch.target_names]


def _draw_shape(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r = rng.uniform(0.22, 0.4) * size
    cy, cx = rng.uniform(r, size - r, 2)
    thick = rng.uniform(0.8, 1.6) * size / 16
    dy, dx = yy - cy, xx - cx
    if kind == "circle":
        mask = np.abs(np.hypot(dy, dx) - r) < thick
    elif kind == "square":
        m = np.maximum(np.abs(dy), np.abs(dx))
        mask = np.abs(m - r) < thick
    elif kind == "triangle":
        # outline of an upright isosceles triangle: base plus two slanted sides
        base = (np.abs(dy - r * 0.8) < thick) & (np.abs(dx) <= r)
        side = np.abs(np.abs(dx) - (dy + r) * 0.55) < thick
        mask = base | (side & (dy > -r) & (dy < r * 0.8))
    elif kind == "cross":
        mask = (
            ((np.abs(dy - dx) < thick) | (np.abs(dy + dx) < thick))
            & (np.abs(dy) < r)
            & (np.abs(dx) < r)
        )
    else:
        raise ValueError(f"unknown shape '{kind}'")
    return mask.astype(np.float32) * rng.uniform(0.6, 1.0)


def load_generated(
    generator: str = "shapes",
    per_class: int = 150,
    image_size: int = 16,
    seed: int = 0,
    noise: float = 0.15,
    **_,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Procedurally drawn outline shapes (circle, square, triangle, cross) with noise.

    Deterministic in ``seed``; a stand-in dataset that needs no download.
    """
    if generator != "shapes":
        raise ValueError(f"unknown generator '{generator}'")
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label, kind in enumerate(SHAPE_NAMES):
        for _ in range(per_class):
            img = _draw_shape(kind, image_size, rng)
            img = img + rng.normal(0, noise, img.shape).astype(np.float32)
            images.append(np.clip(img, 0, 1))
            labels.append(label)
    arr = np.round(np.stack(images) * 255).astype(np.uint8)[..., None]
    return arr, np.asarray(labels, dtype=np.int64), list(SHAPE_NAMES)


def _file_loader(name: str):
    """Loaders of files (under data/, or scikit-image's photos) live in their own modules,
    imported on use."""

    def load(**args):
        from transfer_atlas.data import folders, loaders, parquet, photos

        modules = {"load_torchvision": loaders, "load_parquet": parquet,
                   "load_faces": photos, "load_textures": photos}  # fmt: skip
        module = modules.get(name, folders)
        return getattr(module, name)(**args)

    return load


LOADERS = {
    "sklearn_digits": load_sklearn_digits,
    "generated": load_generated,
    "torchvision": _file_loader("load_torchvision"),
    "image_folder": _file_loader("load_image_folder"),
    "csv_folder": _file_loader("load_csv_folder"),
    "parquet": _file_loader("load_parquet"),
    "skimage_faces": _file_loader("load_faces"),
    "skimage_textures": _file_loader("load_textures"),
}
#: Sources whose own regions fix every split: they read the dataset's ``split`` shares
#: and return a split code (0 train, 1 val, 2 test) per image.
REGION_SPLIT_KINDS = frozenset({"skimage_textures"})


def load_source(source: dict, split: dict | None = None) -> tuple:
    """(images, labels, class names[, is_test]): file sources add the dataset's own
    test split as a boolean mask (None when it has none); region-split sources
    (``REGION_SPLIT_KINDS``) an int8 split code per image instead."""
    args = {k: v for k, v in source.items() if k != "kind"}
    if source["kind"] in REGION_SPLIT_KINDS:
        args["split"] = split or {}
    return LOADERS[source["kind"]](**args)
