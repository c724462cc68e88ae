"""The feature cache on disk: one ``.npz`` per model x dataset x layer.

Float32 features in prepared-dataset order, the labels, the fixed split indices and a JSON
``meta`` (weights hash, dataset fingerprint, backbone cost figures, ``extract_s``).
``features.extract`` writes it; classifier and transferability jobs, and the freeze-all
fine-tunes the workflow hands it to (``train.prefix``), read it. numpy only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from transfer_atlas.core import atomic


@dataclass
class FeatureCache:
    features: np.ndarray  # float32 (N, D), rows in prepared-dataset order
    labels: np.ndarray
    train_idx: np.ndarray
    val_idx: np.ndarray
    test_idx: np.ndarray
    meta: dict


def save(path: str | Path, features: np.ndarray, prep, meta: dict) -> None:
    """Write a feature cache atomically (a killed job leaves no partial cache)."""
    with atomic.atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                features=np.ascontiguousarray(features, dtype=np.float32),
                labels=prep.labels,
                train_idx=prep.train_idx,
                val_idx=prep.val_idx,
                test_idx=prep.test_idx,
                meta=np.array(json.dumps(meta, sort_keys=True)),
            )


def load(path: str | Path) -> FeatureCache:
    with np.load(path, allow_pickle=False) as z:
        return FeatureCache(
            z["features"],
            z["labels"],
            z["train_idx"],
            z["val_idx"],
            z["test_idx"],
            json.loads(str(z["meta"])),
        )
