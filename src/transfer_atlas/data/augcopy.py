"""A dataset-level augmented copy (study 000's augmented smartphone set).

Each image gets copies rotated by every listed angle, each with salt-and-pepper noise
at every listed fraction of pixels. Copies join the split of their original, so no
test image has a rotated twin in training. Runs once, in the prepare step.
"""

from __future__ import annotations

import numpy as np


def _rotate(img: np.ndarray, angle: float) -> np.ndarray:
    from PIL import Image

    pil = Image.fromarray(img.squeeze())
    out = np.asarray(pil.rotate(angle, resample=Image.Resampling.BILINEAR))
    return out.reshape(img.shape)


def _salt_pepper(img: np.ndarray, frac: float, rng: np.random.Generator) -> np.ndarray:
    out = img.copy()
    r = rng.random(img.shape[:2])
    out[r < frac / 2] = 0
    out[r > 1 - frac / 2] = 255
    return out


def augmented_copies(images: np.ndarray, spec: dict) -> tuple[np.ndarray, np.ndarray]:
    """(copies, index of each copy's original), deterministic in ``spec['seed']``."""
    rng = np.random.default_rng(spec.get("seed", 0))
    angles = spec.get("rotations") or [0]
    fracs = spec.get("salt_pepper") or [0.0]
    copies, source = [], []
    for i, img in enumerate(images):
        for angle in angles:
            rotated = _rotate(img, angle) if angle else img
            for frac in fracs:
                copies.append(_salt_pepper(rotated, frac, rng) if frac else rotated)
                source.append(i)
    return np.stack(copies).astype(np.uint8), np.asarray(source, dtype=np.int64)


def extend_with_copies(images, labels, splits, spec):
    """Append the copies; each split index array gains the copies of its members."""
    copies, source = augmented_copies(images, spec)
    offset = len(images)
    out_splits = []
    for idx in splits:
        member = np.isin(source, idx)
        out_splits.append(np.concatenate([idx, offset + np.flatnonzero(member)]).astype(np.int64))
    return (
        np.concatenate([images, copies]),
        np.concatenate([labels, labels[source]]),
        tuple(out_splits),
    )
