"""Prepared datasets and the exact meaning of a training-set size.

A prepared dataset is a folder of uncompressed ``.npy`` files (``images.npy``: uint8
images NHWC; ``labels.npy``; fixed ``train_idx``/``val_idx``/``test_idx``) plus
``meta.json`` (class names, counts, fingerprint), written last. Jobs open
``images.npy`` memory-mapped and read only the rows they use: no image decoding, no
dataset library import, and a job's own memory does not grow with the dataset.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from transfer_atlas.core import atomic
from transfer_atlas.data import augcopy, integrity, stream
from transfer_atlas.data.checks import check_class_counts, check_splits
from transfer_atlas.data.duplicates import refuse_duplicates
from transfer_atlas.spec.names import VAL_SIZES


@dataclass
class Prepared:
    images: np.ndarray  # uint8 (N, H, W, C); memory-mapped when loaded
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
    """sha256 of each array's shape and bytes, read in chunks (a memory map stays mapped)."""
    h = hashlib.sha256()
    for arr in (images, labels, *index_arrays):
        h.update(str(arr.shape).encode())
        for s in range(0, max(len(arr), 1), 1024):
            h.update(np.ascontiguousarray(arr[s : s + 1024]))  # a view of the map, no copy
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


def plan(spec: dict):
    """Source listed (file sources not decoded yet), classes selected, split:
    (images, labels, class names, (train, val, test) indices). Every check of the files
    (see ``transfer_atlas.data.checks``) that needs no decoding happens here."""
    from transfer_atlas.data.sources import load_source

    split = spec.get("split", {})
    loaded = load_source(spec["source"], split)
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
    if is_test is not None and is_test.dtype != bool:  # split codes: regions of photos
        tr, va, te = (np.flatnonzero(is_test == code).astype(np.int64) for code in range(3))
    elif split.get("test") == "source":
        tr, va, te = split_with_source_test(
            labels, is_test, split.get("val", 0.2), split.get("seed", 0)
        )
    else:
        tr, va, te = stratified_split(
            labels, split.get("val", 0.2), split.get("test", 0.2), split.get("seed", 0)
        )
    check_splits(labels, names, (tr, va, te), _where(spec), split)
    return images, labels, names, (tr, va, te)


def _build(spec, allocate, workers=1, path=None, log=None) -> Prepared:
    """Decode into ``allocate(shape)`` (an array, or a memory map of ``path``), add the
    augmented copies, fingerprint. The one path both ``prepare`` and ``prepare_to`` run."""
    images, labels, names, splits = plan(spec)
    n, copies = len(images), augcopy.n_copies(spec.get("augmented_copy"))
    out = allocate((n * (1 + copies), *images.shape[1:]))
    digests = stream.fill(out, images, workers, path, log)
    if digests is not None:
        refuse_duplicates(digests, images, labels, splits, names)
    if copies:
        augcopy.write_copies(out, n, spec["augmented_copy"])
        labels, splits = augcopy.extend_index(labels, splits, n, copies)
    tr, va, te = splits
    val_size = spec.get("split", {}).get("val_size", "full")
    fp = fingerprint(out, labels, tr, va, te)
    return Prepared(out, labels, names, tr, va, te, fp, val_size)


def prepare(spec: dict) -> Prepared:
    """A prepared dataset in memory (tests, small sets); ``prepare_to`` streams to disk."""
    return _build(spec, lambda shape: np.empty(shape, dtype=np.uint8))


def prepare_to(spec: dict, out_dir, workers: int = 1, log=None) -> Prepared:
    """What the ``prepare_dataset`` step runs: decode in ``workers`` processes straight
    into ``images.npy`` of a staging folder, then commit it (see ``_commit``)."""
    out_dir = Path(out_dir)
    staging = _staging(out_dir)
    try:
        target = staging / "images.npy"
        prep = _build(
            spec,
            lambda shape: np.lib.format.open_memmap(target, "w+", np.uint8, shape),
            workers,
            target,
            log,
        )
        prep.images.flush()
        _commit(prep, staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return load(out_dir, verify=False)


#: The array files of a prepared dataset (meta.json is written after them).
ARRAYS = ("images", "labels", "train_idx", "val_idx", "test_idx")


def _staging(out_dir: Path) -> Path:
    """A fresh hidden folder in ``out_dir``; leftovers of dead writers on this host go."""
    out_dir.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    for old in out_dir.glob(f".staging~{host}~*"):
        pid = old.name.rsplit("~", 1)[-1]
        if pid.isdigit() and not atomic.pid_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    staging = out_dir / f".staging~{host}~{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    return staging


def _commit(prep: Prepared, staging: Path, out_dir: Path) -> None:
    """Move the staged arrays into ``out_dir`` and write ``meta.json`` last.

    The old ``meta.json`` goes first: a kill during the renames leaves a folder without
    ``meta.json``, which no job reads as prepared, never old metadata over new arrays.
    """
    for name in ARRAYS[1:]:
        with open(staging / f"{name}.npy", "wb") as fh:
            np.save(fh, getattr(prep, name))
    for name in ARRAYS:
        with open(staging / f"{name}.npy", "rb+") as fh:
            os.fsync(fh.fileno())
    (out_dir / "meta.json").unlink(missing_ok=True)
    (out_dir / "arrays.npz").unlink(missing_ok=True)  # the old layout's file
    for name in ARRAYS:
        os.replace(staging / f"{name}.npy", out_dir / f"{name}.npy")
    splits = (("train", prep.train_idx), ("val", prep.val_idx), ("test", prep.test_idx))
    counts = {
        split: np.bincount(prep.labels[idx], minlength=prep.num_classes).tolist()
        for split, idx in splits
    }
    meta = {
        "class_names": prep.class_names,
        "shape": list(prep.images.shape),
        "counts": counts,
        "fingerprint": prep.fingerprint,
        "val_size": prep.val_size,
    }
    meta["whole_sha256"] = integrity.whole_hash(_arrays(out_dir), meta)
    atomic.write_json(out_dir / "meta.json", meta)


def save(prep: Prepared, out_dir: str | Path) -> None:
    """Write an in-memory prepared dataset (``prepare``) in the on-disk layout."""
    out_dir = Path(out_dir)
    staging = _staging(out_dir)
    try:
        with open(staging / "images.npy", "wb") as fh:
            np.save(fh, prep.images)
        _commit(prep, staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _arrays(out_dir: Path) -> dict[str, np.ndarray]:
    """The array files of a prepared folder, images memory-mapped (read-only)."""
    return {
        n: integrity.load_array(out_dir / f"{n}.npy", DTYPES[n], 4 if n == "images" else 1,
                                mmap=n == "images")
        for n in ARRAYS
    }  # fmt: skip


#: What each array file holds.
DTYPES = {"images": np.uint8, "labels": np.int64} | {
    f"{s}_idx": np.int64 for s in ("train", "val", "test")
}


def load(out_dir: str | Path, verify: bool = True) -> Prepared:
    """The prepared dataset in ``out_dir``, images memory-mapped (read-only), checked
    whole (``data.integrity``): any file unreadable or changed since preparation is
    refused, naming it. ``verify=False`` skips the hash (preparation itself, which has
    just computed it)."""
    out_dir = Path(out_dir)
    if not (out_dir / "meta.json").is_file() and (out_dir / "arrays.npz").is_file():
        raise integrity.PreparedError(
            f"{out_dir}: prepared in the old layout (arrays.npz); prepare the dataset again "
            f"(delete {out_dir} and rerun the workflow)"
        )
    meta = integrity.read_meta(out_dir)
    arrays = _arrays(out_dir)
    if verify:
        integrity.verify(out_dir, arrays, meta)
    return Prepared(
        arrays["images"],
        arrays["labels"],
        meta["class_names"],
        arrays["train_idx"],
        arrays["val_idx"],
        arrays["test_idx"],
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
