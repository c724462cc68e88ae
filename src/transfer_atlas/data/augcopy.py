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


def n_copies(spec: dict | None) -> int:
    """Copies per original image (0 without an augmented copy)."""
    if not spec:
        return 0
    return len(spec.get("rotations") or [0]) * len(spec.get("salt_pepper") or [0.0])


def write_copies(out, n: int, spec: dict) -> None:
    """Rows ``n + i * k + j`` of ``out`` := copy j of image i (``out[:n]``), one image at a
    time, deterministic in ``spec['seed']``."""
    rng = np.random.default_rng(spec.get("seed", 0))
    angles = spec.get("rotations") or [0]
    fracs = spec.get("salt_pepper") or [0.0]
    row = n
    for i in range(n):
        img = np.asarray(out[i])
        for angle in angles:
            rotated = _rotate(img, angle) if angle else img
            for frac in fracs:
                out[row] = _salt_pepper(rotated, frac, rng) if frac else rotated
                row += 1


def extend_index(labels, splits, n: int, k: int):
    """Labels and split indices with the copies appended; each split gains the copies of
    its members, so no test image has a rotated twin in training."""
    source = np.repeat(np.arange(n, dtype=np.int64), k)
    out_splits = []
    for idx in splits:
        member = np.isin(source, idx)
        out_splits.append(np.concatenate([idx, n + np.flatnonzero(member)]).astype(np.int64))
    return np.concatenate([labels, labels[source]]), tuple(out_splits)
