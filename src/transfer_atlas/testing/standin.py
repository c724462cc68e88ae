"""Stand-in data in the real on-disk formats, for tests and the CI-sized study configs.

Small deterministic images (class-dependent patterns plus noise, so a model can learn
something) written exactly as the real datasets are laid out: CIFAR python batches,
MNIST IDX files, SVHN .mat, STL-10 binaries, ImageFolder trees of PNG/JPEG, CSV-labelled
folders. ``python scripts/make_standin.py`` writes what a CI-sized study needs.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import pickle
from pathlib import Path

import numpy as np

from transfer_atlas.spec.names import TORCHVISION

CIFAR10_NAMES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip
IMAGENET_NORM = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def pattern_images(n_classes, per_class, size, channels=3, seed=0):
    """uint8 NHWC images whose class sets a stripe frequency and colour; labels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    images, labels = [], []
    for c in range(n_classes):
        freq, angle = 1 + c % 4, (c * 0.7) % np.pi
        base = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)))
        tint = 0.4 + 0.6 * ((np.arange(channels) + c) % 3) / 2
        for _ in range(per_class):
            shift = rng.uniform(0, 1)
            img = np.roll(base, int(shift * size), axis=1)[..., None] * tint
            img = img + rng.normal(0, 0.12, img.shape)
            images.append(np.clip(img * 255, 0, 255).astype(np.uint8))
            labels.append(c)
    return np.stack(images), np.asarray(labels, np.int64)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (for tests and stand-in data)."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    data = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    path.parent.mkdir(parents=True, exist_ok=True)
    with opener(path, "wb") as fh:
        fh.write(data)


def write_cifar(root: Path, images, labels, names, test_mask, hundred: bool = False) -> None:
    """Write arrays as CIFAR python batches (the layout torchvision downloads)."""
    base = root / TORCHVISION["cifar100" if hundred else "cifar10"][1]
    base.mkdir(parents=True, exist_ok=True)
    key = "fine_labels" if hundred else "labels"
    flat = np.ascontiguousarray(images.transpose(0, 3, 1, 2)).reshape(len(images), -1)
    train, test = np.flatnonzero(~test_mask), np.flatnonzero(test_mask)
    if hundred:
        splits = {"train": train, "test": test}
        meta = ("meta", {"fine_label_names": names, "coarse_label_names": ["all"]})
    else:
        chunks = np.array_split(train, 5)
        splits = {f"data_batch_{i + 1}": c for i, c in enumerate(chunks)} | {"test_batch": test}
        meta = ("batches.meta", {"label_names": names})
    for fname, idx in splits.items():
        batch = {"data": flat[idx], key: [int(v) for v in labels[idx]]}
        (base / fname).write_bytes(pickle.dumps(batch, protocol=2))
    (base / meta[0]).write_bytes(pickle.dumps(meta[1], protocol=2))


def png_bytes(array: np.ndarray, fmt: str = "PNG") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array.squeeze()).save(buf, format=fmt)
    return buf.getvalue()


def _test_mask(labels, test_frac=0.25, seed=0):
    """The source's own test split: ``test_frac`` of each class, at least one image, as
    real datasets have (preparation refuses a class with no test images)."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        mask[rng.choice(idx, max(1, int(round(len(idx) * test_frac))), replace=False)] = True
    return mask


def write_torchvision(name, root, n_classes=10, per_class=6, size=None, seed=0):
    """Stand-in files for torchvision dataset ``name`` under ``root`` (its real layout)."""
    root = Path(root)
    gray = name in ("mnist", "fashion_mnist", "kmnist")
    size = size or {"stl10": 96}.get(name, 28 if gray else 32)
    images, labels = pattern_images(n_classes, per_class, size, 1 if gray else 3, seed)
    test = _test_mask(labels, seed=seed)
    if name in ("cifar10", "cifar100"):
        names = [f"class{c}" for c in range(n_classes)]
        if name == "cifar10" and n_classes == 10:
            names = list(CIFAR10_NAMES)
        write_cifar(root, images, labels, names, test, hundred=name == "cifar100")
    elif gray:
        base = root / TORCHVISION[name][1]
        for prefix, mask in (("train", ~test), ("t10k", test)):
            write_idx(base / f"{prefix}-images-idx3-ubyte.gz", images[mask][..., 0])
            write_idx(base / f"{prefix}-labels-idx1-ubyte.gz", labels[mask].astype(np.uint8))
    elif name == "svhn":
        from scipy.io import savemat

        root.mkdir(parents=True, exist_ok=True)
        for part, mask in (("train", ~test), ("test", test)):
            y = np.where(labels[mask] == 0, 10, labels[mask])[:, None]
            savemat(
                str(root / f"{part}_32x32.mat"), {"X": images[mask].transpose(1, 2, 3, 0), "y": y}
            )
    elif name == "stl10":
        base = root / TORCHVISION[name][1]
        base.mkdir(parents=True, exist_ok=True)
        (base / "class_names.txt").write_text("\n".join(f"c{c}" for c in range(n_classes)))
        for part, mask in (("train", ~test), ("test", test)):
            images[mask].transpose(0, 3, 2, 1).tofile(base / f"{part}_X.bin")
            (labels[mask] + 1).astype(np.uint8).tofile(base / f"{part}_y.bin")
    else:
        raise ValueError(f"no stand-in writer for '{name}'")
    return images, labels, test


def write_image_folder(root, class_names, per_class=6, size=16, fmt="PNG", splits=None, seed=0):
    """``root[/split]/<class>/<i>.png``; ``splits`` like ``{"train": 4, "val": 2}``."""
    root = Path(root)
    splits = splits or {"": per_class}
    for s, (split, count) in enumerate(splits.items()):
        images, labels = pattern_images(len(class_names), count, size, 3, seed + s)
        for i, (img, lab) in enumerate(zip(images, labels, strict=True)):
            path = root / split / class_names[lab] / f"{i:04d}.{fmt.lower()}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png_bytes(img, fmt))


def write_csv_folder(
    csv_path,
    rows_per_label: dict,
    size=16,
    image_col="image",
    label_col="label",
    extra_cols=None,
    images_subdir="images",
    seed=0,
):
    """A CSV of ``image,label`` rows and the images it lists (PNG, pattern per label)."""
    csv_path = Path(csv_path)
    img_dir = csv_path.parent / images_subdir
    img_dir.mkdir(parents=True, exist_ok=True)
    labels = list(rows_per_label)
    images, _ = pattern_images(len(labels), max(rows_per_label.values()), size, 3, seed)
    per = max(rows_per_label.values())
    rows = []
    for li, lab in enumerate(labels):
        for j in range(rows_per_label[lab]):
            rel = f"{images_subdir}/{li:03d}_{j:04d}.png"
            (csv_path.parent / rel).write_bytes(png_bytes(images[li * per + j]))
            rows.append({image_col: rel, label_col: lab, **(extra_cols or {})})
    with open(csv_path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return rows


def _under(root: Path, path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else root / p


def write_hub_weights(spec: dict, path: Path) -> str:
    """Random weights in the layout the fetch step writes (stand-in for a hub download)."""
    import torch

    from transfer_atlas.nn import models, weights

    torch.manual_seed(0)
    model = models.build({k: v for k, v in spec.items() if k != "head"}, num_classes=2)
    cfg = {"input_size": spec.get("input_size", 224), **IMAGENET_NORM}
    meta = {"arch": spec["arch"], "hub": spec["weights"]["hub"], "input_config": json.dumps(cfg)}
    return weights.save_model(model, path, meta)


def make_for_study(study, root: str | Path, per_class: int = 4, size: int = 12) -> list[Path]:
    """Write stand-in files for every dataset and hub weight a study reads from data/.

    Datasets get ``per_class`` images per class at ``size`` px in their real format;
    hub weights are randomly initialised. Returns the paths written.
    """
    root = Path(root)
    written = []
    for spec in study.datasets.values():
        src = spec["source"]
        if src["kind"] == "torchvision":
            dest = _under(root, src.get("root") or f"data/{src['name']}")
            if dest.exists():
                continue
            n = {"cifar100": 5}.get(src["name"], 10)
            write_torchvision(src["name"], dest, n_classes=n, per_class=per_class)
            written.append(dest)
        elif src["kind"] == "image_folder":
            dest = _under(root, src["root"])
            if dest.exists():
                continue
            splits = None
            if src.get("train_dir"):
                splits = {src["train_dir"]: per_class}
                if src.get("test_dir"):
                    splits[src["test_dir"]] = max(2, per_class // 2)
            write_image_folder(
                dest, ["class_a", "class_b", "class_c"], per_class, size, splits=splits
            )
            written.append(dest)
        elif src["kind"] == "csv_folder":
            dest = _under(root, src["csv_path"])
            if dest.exists():
                continue
            merge = src.get("merge") or {}
            labels = {old: per_class for olds in merge.values() for old in olds}
            labels.update({f"label_{i}": per_class + i for i in range(3)})
            write_csv_folder(
                dest,
                labels,
                size,
                image_col=src.get("image_col", "image"),
                label_col=src.get("label_col", "label"),
                images_subdir=Path(src["images_dir"]).name if src.get("images_dir") else "images",
            )
            written.append(dest)
    for name in study.models:
        if study.hub_spec(name):
            dest = root / study.weights_path(name)
            if not dest.exists():
                write_hub_weights(study.models[name], dest)
                written.append(dest)
    return written
