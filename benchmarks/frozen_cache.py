"""Benchmark 3: a frozen backbone, cached features against extracting inside every job.

A grid of sizes x seeds with every backbone group frozen (only the head trains), run
in one process with the project's own functions, three ways:

- ``inside``: the frozen backbone runs forward on every batch of every epoch (what a
  job does without any cache);
- ``per_job``: a job without a cache, ``prefix.precompute``: each job runs the
  frozen prefix once over its own images, then trains the head on the outputs;
- ``shared``: the prefix runs once over the whole dataset (the one-off ``extract``
  cost, charged to the first job), and every job trains its head on its rows: what
  the workflow's freeze-all jobs do with the study's ``pre_logits`` cache
  (``prefix.from_features``).

All three build the model, load the same weights and train with ``train.fit``; the
cumulative time after each job shows from which job on the cache has paid for itself.
"""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path

from common import device_name, print_table, write_result

NAME = "frozen_cache"
SPEC = {"arch": "timm/resnet18", "input_size": 32, "in_chans": 1, "arch_args": {}}
HP = {"epochs": 8, "min_steps": 20, "batch_size": 32}


def _setup(tmp: Path):
    import torch

    from transfer_atlas.data import prepared as data
    from transfer_atlas.data.sources import load_generated
    from transfer_atlas.nn import models, weights

    images, labels, names = load_generated(per_class=75, image_size=32, seed=5)
    tr, va, te = data.stratified_split(labels, 0.2, 0.2, 0)
    prep = data.Prepared(images, labels, names, tr, va, te, "bench")
    torch.manual_seed(0)
    path = tmp / "backbone.safetensors"
    weights.save_model(models.build(SPEC, len(names)), path)
    return prep, path


def _model(prep, wpath, seed, dev):
    import torch

    from transfer_atlas.nn import models, weights
    from transfer_atlas.nn.freezing import apply_freeze

    model = models.build(SPEC, prep.num_classes)
    weights.load_backbone(model, wpath)
    torch.manual_seed(seed)
    model.reset_classifier(prep.num_classes)
    model.to(dev)
    depth, n_groups = apply_freeze(model, "all")
    return model, depth, n_groups


def job(prep, wpath, size, seed, dev, mode, shared=None) -> float:
    """One grid cell; returns its wall seconds."""
    import torch

    from transfer_atlas.data import prepared as data
    from transfer_atlas.spec.study import TRAIN_DEFAULTS
    from transfer_atlas.train.finetune import prepare_inputs
    from transfer_atlas.train.loop import fit, predict
    from transfer_atlas.train.prefix import Suffix, precompute

    t = time.perf_counter()
    hp = {**TRAIN_DEFAULTS, **HP}
    idx = data.training_subset(prep.labels, prep.train_idx, size, seed)
    model, depth, n_groups = _model(prep, wpath, seed, dev)
    ytr = torch.from_numpy(prep.labels[idx]).to(dev)
    yva = torch.from_numpy(prep.labels[prep.val_idx]).to(dev)
    if mode == "shared":
        feats, pos = shared
        xtr, xva, xte = (feats[pos[i]] for i in (idx, prep.val_idx, prep.test_idx))
        net = Suffix(model, "head")  # what precompute returns when every group is frozen
    else:
        xtr, _, xva, _, xte, _ = prepare_inputs(prep, SPEC, dev, idx)
        cacheable = depth if mode == "per_job" else 0
        net, (xtr, xva, xte), _, _ = precompute(model, cacheable, n_groups, (xtr, xva, xte))
    fit(net, xtr, ytr, xva, yva, hp, seed, log=io.StringIO())
    predict(net, xte).argmax(1)
    return time.perf_counter() - t


def extract(prep, wpath, dev):
    """The shared cache: the frozen prefix's output for every image, once."""
    import numpy as np

    from transfer_atlas.nn.pipeline import to_model_input
    from transfer_atlas.train.prefix import precompute

    t = time.perf_counter()
    model, depth, n_groups = _model(prep, wpath, 0, dev)
    x = to_model_input(prep.images, dev, SPEC["in_chans"], SPEC["input_size"])
    _, (feats,), _, _ = precompute(model, depth, n_groups, (x,))
    pos = np.arange(len(prep.images))
    return (feats, pos), time.perf_counter() - t


def run(args) -> dict:
    import torch

    from transfer_atlas.nn.torch_device import pick_device

    torch.set_num_threads(args.threads)
    dev = pick_device(args.device)
    sizes, seeds = ([20, 60], [0, 1]) if args.quick else ([20, 60, "all"], [0, 1])
    cells = [(n, s) for n in sizes for s in seeds]
    with tempfile.TemporaryDirectory(prefix="bench-frozen-") as tmp:
        prep, wpath = _setup(Path(tmp))
        job(prep, wpath, 10, 0, dev, "per_job")  # warm-up (first-call costs)
        shared, extract_s = extract(prep, wpath, dev)
        rows, cum = [], {"inside": 0.0, "per_job": 0.0, "shared": extract_s}
        for j, (size, seed) in enumerate(cells, 1):
            row = {"job": j, "size": str(size), "seed": seed}
            for mode in ("inside", "per_job", "shared"):
                secs = job(prep, wpath, size, seed, dev, mode, shared)
                cum[mode] += secs
                row[f"{mode}_s"] = secs
                row[f"cum_{mode}_s"] = cum[mode]
            row["ratio_shared_vs_inside"] = cum["shared"] / cum["inside"]
            row["ratio_per_job_vs_inside"] = cum["per_job"] / cum["inside"]
            rows.append(row)
    print_table(
        f"frozen backbone ({SPEC['arch']}@{SPEC['input_size']}, freeze all): cumulative s "
        f"(shared includes the one-off extract, {extract_s:.2f} s)",
        rows,
        [
            "job",
            "size",
            "seed",
            "cum_inside_s",
            "cum_per_job_s",
            "cum_shared_s",
            "ratio_shared_vs_inside",
            "ratio_per_job_vs_inside",
        ],
    )
    pays_from = next((r["job"] for r in rows if r["ratio_shared_vs_inside"] < 1), None)
    beats_per_job = next((r["job"] for r in rows if r["cum_shared_s"] < r["cum_per_job_s"]), None)
    payload = {
        "goal": "the shared cache's cumulative cost (extract once + jobs) is below extracting "
        "inside every job from the second job on",
        "model": SPEC,
        "train": HP,
        "extract_once_s": extract_s,
        "rows": rows,
        "figures": {
            "shared_pays_from_job": pays_from,
            "shared_beats_per_job_cache_from_job": beats_per_job,
            "cum_ratio_shared_vs_inside_at_job_2": round(rows[1]["ratio_shared_vs_inside"], 3),
            "cum_ratio_shared_vs_inside_at_end": round(rows[-1]["ratio_shared_vs_inside"], 3),
            "cum_ratio_per_job_vs_inside_at_end": round(rows[-1]["ratio_per_job_vs_inside"], 3),
        },
        "met": pays_from is not None and pays_from <= 2,
    }
    write_result(NAME, device_name(args.device), payload, args.command)
    return payload
