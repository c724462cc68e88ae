"""What every transferability score checks of its inputs, before it computes anything.

A score takes a matrix (features, or source-class probabilities) or a vector of source
labels, and the target labels, one per sample. Target labels may be any values
:func:`numpy.unique` can sort; they become codes ``0..C-1`` here, so renaming classes
never changes a score. Each check raises ``ValueError`` naming what is wrong: that is the
scores' contract for input they are undefined on (one class, NaN, a shape mismatch).
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_labels", "check_matrix", "check_target"]


def check_labels(labels: np.ndarray, n: int | None, name: str = "labels") -> np.ndarray:
    """Return ``labels`` as integer codes ``0..C-1`` after validating them."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {labels.shape}")
    if n is not None and labels.shape[0] != n:
        raise ValueError(
            f"shape mismatch: {name} has {labels.shape[0]} entries, expected {n} (one per sample)"
        )
    if labels.dtype.kind in "fc" and not np.all(np.isfinite(labels)):
        raise ValueError(f"{name} contain NaN or infinite values")
    return np.unique(labels, return_inverse=True)[1].reshape(-1)


def check_target(labels: np.ndarray, n: int) -> tuple[np.ndarray, int]:
    """Validate target labels; at least two classes are needed for any ranking."""
    codes = check_labels(labels, n)
    n_classes = int(codes.max()) + 1 if codes.size else 0
    if n_classes < 2:
        raise ValueError(f"labels must contain at least 2 classes, got {n_classes}")
    return codes, n_classes


def check_matrix(x: np.ndarray, name: str) -> np.ndarray:
    """``x`` as a finite float64 matrix (n_samples, n_dims) with at least one column."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_dims), got shape {x.shape}")
    if x.shape[1] == 0:
        raise ValueError(f"{name} must have at least one column")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contain NaN or infinite values")
    return x
