"""Prepared datasets and the exact meaning of a training-set size.

A prepared dataset is one ``arrays.npz`` (uint8 images NHWC, labels, fixed
train/val/test indices) plus ``meta.json`` (class names, counts, fingerprint).
Training jobs read only these arrays: no image decoding, no dataset library import.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from transfer_atlas.core import atomic
from transfer_atlas.data.checks import check_class_counts
from transfer_atlas.spec.names import VAL_SIZES


@dataclass
class Prepared:
    images: np.ndarray  # uint8 (N, H, W, C)
    labels: np.ndarray  # int64 (N,), values 0..C-1
    class_names: list[str]
    train_idx: np.ndarray
    val_idx: np.ndarray
    test_idx: np.ndarray
    fingerprint: str
    #: ``full``: every run validates on the whole val split; ``matched``: on a subset of
    #: the training subset's size (``validation_subset``).
    val_size: str = "full"

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def select_classes(images, labels, class_names, classes):
    """Keep only ``classes`` (given as names or original label ids) and relabel them 0..k-1."""
    if not classes:
        return images, labels, class_names
    lookup = {name: i for i, name in enumerate(class_names)}
    ids = []
    for c in classes:
        key = str(c)
        if key not in lookup:
            raise ValueError(f"class '{c}' not in dataset (classes: {', '.join(class_names)})")
        ids.append(lookup[key])
    remap = np.full(len(class_names), -1, dtype=np.int64)
    remap[ids] = np.arange(len(ids))
    keep = remap[labels] >= 0
    return images[keep], remap[labels[keep]], [class_names[i] for i in ids]


def stratified_split(labels: np.ndarray, val: float, test: float, seed: int):
    """Fixed stratified train/val/test indices; independent of the experiment seed."""
    rng = np.random.default_rng(seed)
    parts = ([], [], [])
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test, n_val = int(round(len(idx) * test)), int(round(len(idx) * val))
        parts[2].append(idx[:n_test])
        parts[1].append(idx[n_test : n_test + n_val])
        parts[0].append(idx[n_test + n_val :])
    return tuple(np.sort(np.concatenate(p)).astype(np.int64) for p in parts)


def fingerprint(images, labels, *index_arrays) -> str:
    h = hashlib.sha256()
    for arr in (images, labels, *index_arrays):
        h.update(str(arr.shape).encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def exclude_classes(images, labels, class_names, exclude, is_test=None):
    """Drop ``exclude`` (names or original ids) and relabel the rest 0..k-1 in order."""
    if not exclude:
        return images, labels, class_names, is_test
    drop = {str(c) for c in exclude}
    unknown = drop - set(class_names)
    if unknown:
        raise ValueError(
            f"class(es) {sorted(unknown)} to exclude not in dataset "
            f"(classes: {', '.join(class_names)})"
        )
    keep_ids = [i for i, n in enumerate(class_names) if n not in drop]
    remap = np.full(len(class_names), -1, dtype=np.int64)
    remap[keep_ids] = np.arange(len(keep_ids))
    keep = remap[labels] >= 0
    mask = None if is_test is None else is_test[keep]
    return images[keep], remap[labels[keep]], [class_names[i] for i in keep_ids], mask


def split_with_source_test(labels, is_test, val: float, seed: int):
    """The dataset's own test split; validation drawn (stratified) from its train part."""
    if is_test is None:
        raise ValueError("split.test is 'source' but this source has no test split of its own")
    train_pool = np.flatnonzero(~is_test)
    tr, va, _ = stratified_split(labels[train_pool], val, 0.0, seed)
    return train_pool[tr], train_pool[va], np.flatnonzero(is_test).astype(np.int64)


def _where(spec: dict) -> str:
    """The dataset's files (or source kind) for messages, and the selection applied."""
    src = spec["source"]
    place = src.get("csv_path") or src.get("root") or src.get("name") or src["kind"]
    chosen = [k for k in ("classes", "exclude") if spec.get(k)]
    return f"{place} (after {' and '.join(chosen)})" if chosen else str(place)


def prepare(spec: dict) -> Prepared:
    """Load a dataset from its source, apply class selection and split it.

    This is what the ``prepare_dataset`` step runs: every check of the files (see
    ``transfer_atlas.data.checks``) happens here, before any job trains.
    """
    from transfer_atlas.data.sources import load_source

    loaded = load_source(spec["source"])
    images, labels, names = loaded[:3]
    is_test = loaded[3] if len(loaded) > 3 else None
    if spec.get("classes"):
        keep_names = None
        if is_test is not None:  # carry the mask through the same selection
            lookup = {n: i for i, n in enumerate(names)}
            keep_names = [str(c) for c in spec["classes"] if str(c) in lookup]
            mask_keep = np.isin(labels, [lookup[n] for n in keep_names])
        images, labels, names = select_classes(images, labels, names, spec.get("classes"))
        if keep_names is not None:
            is_test = is_test[mask_keep]
    images, labels, names, is_test = exclude_classes(
        images, labels, names, spec.get("exclude"), is_test
    )
    counts = np.bincount(labels, minlength=len(names)).tolist()
    check_class_counts(dict(zip(names, counts, strict=True)), _where(spec))
    split = spec.get("split", {})
    if split.get("test") == "source":
        tr, va, te = split_with_source_test(
            labels, is_test, split.get("val", 0.2), split.get("seed", 0)
        )
    else:
        tr, va, te = stratified_split(
            labels, split.get("val", 0.2), split.get("test", 0.2), split.get("seed", 0)
        )
    if spec.get("augmented_copy"):
        from transfer_atlas.data.augcopy import extend_with_copies

        images, labels, (tr, va, te) = extend_with_copies(
            images, labels, (tr, va, te), spec["augmented_copy"]
        )
    val_size = split.get("val_size", "full")
    return Prepared(
        images, labels, names, tr, va, te, fingerprint(images, labels, tr, va, te), val_size
    )


def save(prep: Prepared, out_dir: str | Path) -> None:
    out_dir = Path(out_dir)
    with atomic.atomic_path(out_dir / "arrays.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                images=prep.images,
                labels=prep.labels,
                train_idx=prep.train_idx,
                val_idx=prep.val_idx,
                test_idx=prep.test_idx,
                fingerprint=np.array(prep.fingerprint),
            )
    splits = (("train", prep.train_idx), ("val", prep.val_idx), ("test", prep.test_idx))
    counts = {
        split: np.bincount(prep.labels[idx], minlength=prep.num_classes).tolist()
        for split, idx in splits
    }
    atomic.write_json(
        out_dir / "meta.json",
        {
            "class_names": prep.class_names,
            "shape": list(prep.images.shape),
            "counts": counts,
            "fingerprint": prep.fingerprint,
            "val_size": prep.val_size,
        },
    )


def load(out_dir: str | Path) -> Prepared:
    out_dir = Path(out_dir)
    meta = json.loads((out_dir / "meta.json").read_text())
    with np.load(out_dir / "arrays.npz") as z:
        # arrays.npz and meta.json are written one after the other; a kill in between
        # (or a hand-copied mix) must not pass for a prepared dataset.
        if "fingerprint" in z.files and str(z["fingerprint"]) != meta["fingerprint"]:
            raise ValueError(
                f"{out_dir}: arrays.npz and meta.json are from different preparations "
                "(interrupted write?); prepare the dataset again"
            )
        return Prepared(
            z["images"],
            z["labels"],
            meta["class_names"],
            z["train_idx"],
            z["val_idx"],
            z["test_idx"],
            meta["fingerprint"],
            meta.get("val_size", "full"),
        )


def subset_order(labels: np.ndarray, seed: int) -> np.ndarray:
    """A seed-dependent ordering of positions in ``labels`` whose prefixes are approximately
    stratified.

    Taking the first n positions gives a subset of size n whose class counts follow the
    class proportions to within one or two images per class (not exactly), and for
    one seed every smaller subset is contained in every larger one. Each class's first
    element comes before any class's second, so n >= number of classes sees every class.
    """
    rng = np.random.default_rng([seed, 0x5EED])
    keys = np.empty(len(labels))
    first = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        pos = np.flatnonzero(labels == c)
        perm = rng.permutation(pos)
        ranks = np.arange(len(perm))
        keys[perm] = (ranks + rng.uniform(size=len(perm))) / len(perm)
        first[perm[0]] = True
    return np.lexsort((keys, ~first))


def training_subset(labels: np.ndarray, train_idx: np.ndarray, size, seed: int) -> np.ndarray:
    """Indices (into the full dataset) of the size-``size`` training subset for ``seed``."""
    if size == "all":
        return train_idx
    size = int(size)
    n_classes = len(np.unique(labels[train_idx]))
    if size > len(train_idx):
        raise ValueError(f"size {size} exceeds the training split ({len(train_idx)} images)")
    if size < n_classes:
        raise ValueError(f"size {size} is smaller than the number of classes ({n_classes})")
    order = subset_order(labels[train_idx], seed)
    return np.sort(train_idx[order[:size]])


def validation_subset(
    labels: np.ndarray, val_idx: np.ndarray, n_train: int, seed: int, val_size: str = "full"
) -> np.ndarray:
    """Indices of the validation images a run of ``n_train`` training images may use.

    ``full``: the whole val split. ``matched``: a stratified subset of ``n_train`` images
    (all of them when the split is smaller), drawn like ``training_subset`` so that for one
    seed the subsets are nested across sizes; a run then sees at most 2 n labels.
    """
    if val_size not in VAL_SIZES:
        raise ValueError(f"split.val_size '{val_size}' is not one of: {', '.join(VAL_SIZES)}")
    if val_size == "full" or n_train >= len(val_idx):
        return val_idx
    n_classes = len(np.unique(labels[val_idx]))
    if n_train < n_classes:
        raise ValueError(
            f"split.val_size 'matched' needs at least one validation image per class: "
            f"{n_train} < {n_classes} classes"
        )
    # An independent stream from the training subset's (same seed, other salt).
    order = subset_order(labels[val_idx], seed + 2**31)
    return np.sort(val_idx[order[:n_train]])
