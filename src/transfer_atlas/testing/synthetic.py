"""Synthetic run records of any size, valid against the record schema.

For testing and benchmarking the aggregation, figures and report at scale (tens of
thousands of runs) without training anything. The numbers follow a plausible shape
(transfer helps most at small n, deeper freezing is cheaper) so figures look like real
ones, but they are made up: never mix them with a study's results.
"""

from __future__ import annotations

import hashlib

import numpy as np

from transfer_atlas.spec import record


def grid_size(datasets: int, models: int, freezes: int, sizes: int, seeds: int) -> int:
    """Number of records ``records`` yields: (freeze depths + scratch) per model."""
    return datasets * models * (freezes + 1) * sizes * seeds


def records(
    datasets: int = 3,
    models: int = 4,
    freezes: int = 3,
    sizes: int = 4,
    seeds: int = 3,
    classes: int = 5,
    epochs: int = 8,
    rng_seed: int = 0,
):
    """Yield record dicts for a full grid; ``freezes`` counts freeze depths besides scratch."""
    rng = np.random.default_rng(rng_seed)
    size_values = [str(10 * 3**i) for i in range(sizes - 1)] + ["all"]
    depth_values = [str(i) for i in range(freezes - 1)] + ["all"]
    n_groups = max(freezes, 2)
    per_model = [(int(10 ** rng.uniform(4, 7)), rng.uniform(0.7, 1.3)) for _ in range(models)]
    for d in range(datasets):
        dataset = f"dataset_{d}"
        fingerprint = hashlib.sha256(dataset.encode()).hexdigest()
        difficulty = rng.uniform(0.0, 0.3)
        n_test = 40 * classes
        for m in range(models):
            model = f"model_{m:02d}"
            quality = rng.uniform(-0.1, 0.1)
            params, speed = per_model[m]
            latency = params / 2e5 * speed
            weights = hashlib.sha256(model.encode()).hexdigest()
            for init, freeze in [("scratch", "0")] + [("pretrained", f) for f in depth_values]:
                depth = 0 if init == "scratch" else (n_groups if freeze == "all" else int(freeze))
                for si, size in enumerate(size_values):
                    n_train = 10 * 3**si if size != "all" else 10 * 3**sizes
                    for seed in range(seeds):
                        yield _record(
                            rng, dataset, model, init, freeze, depth, n_groups, size, n_train,
                            seed, classes, epochs, n_test, difficulty, quality, params, latency,
                            fingerprint, weights,
                        )  # fmt: skip


def _record(
    rng, dataset, model, init, freeze, depth, n_groups, size, n_train, seed, classes, epochs,
    n_test, difficulty, quality, params, latency, fingerprint, weights,
):  # fmt: skip
    chance = 1 / classes
    learn = 1 - np.exp(-n_train / 150)
    transfer = 0.0 if init == "scratch" else 0.25 * (1 - learn) + 0.03 * depth / n_groups
    acc = chance + (1 - chance) * (0.55 + 0.4 * learn - difficulty + quality + transfer)
    # Validation and test accuracy share the setting's true quality but not their noise,
    # as two disjoint splits would.
    val_acc = float(np.clip(acc + rng.normal(0, 0.03), chance / 2, 1.0))
    acc = float(np.clip(acc + rng.normal(0, 0.03), chance / 2, 1.0))
    correct = int(round(acc * n_test))
    per_class = n_test // classes
    cm = np.zeros((classes, classes), int)
    base, extra = divmod(correct, classes)
    for i in range(classes):
        hit = min(per_class, base + (1 if i < extra else 0))
        cm[i, i] = hit
        cm[i, (i + 1) % classes] += per_class - hit
    acc = float(np.trace(cm) / cm.sum())
    trainable = params if depth == 0 else max(1, int(params * (1 - depth / (n_groups + 1))))
    train_s = n_train * epochs * (trainable / 1e6 + 0.002) * rng.uniform(0.8, 1.2)
    curve = []
    for e in range(1, epochs + 1):
        frac = 1 - np.exp(-3 * e / epochs)
        curve.append(
            {
                "epoch": e,
                "train_loss": float(1.5 * (1 - frac) + 0.05),
                "train_accuracy": float(min(1.0, chance + (1 - chance) * frac)),
                "val_loss": float(1.5 * (1 - frac * acc) + 0.1),
                "val_accuracy": float(chance + (val_acc - chance) * frac),
                "lr": 0.003,
            }
        )
    size_bytes = 4 * params + 2000
    job = dict(study="synthetic", dataset=dataset, model=model, init=init, freeze=freeze,
               size=size, seed=seed)  # fmt: skip
    return record.build(
        job,
        "finetune",
        arch="synthetic",
        freeze_groups=depth,
        n_groups=n_groups,
        n_train=n_train,
        n_val=n_test,
        num_classes=classes,
        metrics={
            "accuracy": acc,
            "balanced_accuracy": acc,
            "macro_precision": acc,
            "macro_recall": acc,
            "macro_f1": float(max(0.0, acc - 0.01)),
            "cohen_kappa": float((acc - chance) / (1 - chance)),
            "val_accuracy": val_acc,
            "n_test": int(cm.sum()),
            "confusion_matrix": cm.tolist(),
        },
        curve=curve,
        timing={
            "train_s": train_s,
            "throughput_img_s": n_train * epochs / train_s,
            "latency_ms": latency,
            "epochs_run": epochs,
            "best_epoch": epochs,
            "startup": "warm",
            "fixed_cost_s": 0.4,
            "total_s": train_s + 1.0,
            "prefix_cached": 0,
        },
        params={"total": params, "trainable": trainable},
        size_bytes=size_bytes,
        flops=params * 2,
        train={"epochs": epochs},
        device={"type": "cpu", "name": "synthetic"},
        versions={"python": "3.11"},
        code="synthetic",
        dataset_fingerprint=fingerprint,
        weights_sha256=weights if init == "pretrained" else None,
        check=False,  # validating 20,000 records would add a minute; the tests check a sample
    )


def tables(**grid):
    """(runs, summary) DataFrames for a synthetic grid, as the aggregate step makes them."""
    from transfer_atlas.results.aggregate import flatten, runs_frame, summarize

    runs = runs_frame(
        [flatten(rec, f"synthetic/{i}.json") for i, rec in enumerate(records(**grid))]
    )
    return runs, summarize(runs)
