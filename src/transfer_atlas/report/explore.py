"""Look at a prepared dataset: class counts per split and sample images per class.

Reads only the prepared arrays (``results/prepared/<dataset>/images.npy``), once per
dataset, and writes a small JSON the report embeds: counts and one PNG strip per class
(base64, bounded number of classes and images). The 2-D maps of the pixels are
``embedding``'s.
"""

from __future__ import annotations

import base64
import io

import numpy as np

MAX_CLASSES = 20
PER_CLASS = 8
MIN_TILE = 32  # small images (8x8 digits) are enlarged, pixel by pixel, to be seen


def class_counts(prep) -> list[dict]:
    rows = []
    for split in ("train", "val", "test"):
        idx = getattr(prep, f"{split}_idx")
        counts = np.bincount(prep.labels[idx], minlength=prep.num_classes)
        rows += [
            {"class": prep.class_names[c], "split": split, "count": int(n)}
            for c, n in enumerate(counts)
        ]
    return rows


def _png(array: np.ndarray) -> str:
    from PIL import Image

    img = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode()


def enlarged(image: np.ndarray, min_side: int) -> np.ndarray:
    """Small images (8x8 digits) enlarged pixel by pixel until their longer side reaches
    ``min_side``; larger ones unchanged (so a photo never grows the report)."""
    scale = max(1, -(-min_side // max(image.shape[-3:-1])))
    return image.repeat(scale, axis=-3).repeat(scale, axis=-2)


def sample_strips(prep, per_class: int = PER_CLASS, max_classes: int = MAX_CLASSES) -> list[dict]:
    """One PNG strip of the first ``per_class`` training images of each class."""
    strips = []
    train_labels = prep.labels[prep.train_idx]
    for c in range(min(prep.num_classes, max_classes)):
        idx = prep.train_idx[train_labels == c][:per_class]
        if len(idx) == 0:
            continue
        tiles = enlarged(prep.images[idx], MIN_TILE)
        gap = np.full((tiles.shape[1], 2, tiles.shape[3]), 255, np.uint8)
        row = np.concatenate([np.concatenate([t, gap], axis=1) for t in tiles], axis=1)
        strips.append({"class": prep.class_names[c], "png": _png(row), "n": int(len(idx))})
    return strips


def explore(prep, name: str) -> dict:
    return {
        "dataset": name,
        "shape": list(prep.images.shape),
        "num_classes": prep.num_classes,
        "counts": class_counts(prep),
        "strips": sample_strips(prep),
        "fingerprint": prep.fingerprint,
    }
