"""Fine-tune and pretrain jobs: prepared arrays + model spec -> record / weights.

Each job is deterministic in its spec and seed on CPU. Frozen leading stages whose
input is not augmented are computed once per job (``prefix_cached``) rather than
in every epoch, or read from the study's feature cache (``train.prefix``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from transfer_atlas.core import atomic, faults, memory, numerics
from transfer_atlas.data import prepared as data
from transfer_atlas.nn import adapt, costs, models, weights
from transfer_atlas.nn.freezing import apply_freeze, count_params
from transfer_atlas.nn.pipeline import RowsInput, spec_input
from transfer_atlas.nn.torch_device import device_info, pick_device
from transfer_atlas.spec import record
from transfer_atlas.train import determinism, oom, prefix
from transfer_atlas.train.loop import fit, predict
from transfer_atlas.train.metrics import classification_metrics


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def prepare_inputs(prep, spec, device, idx_train, hub_cfg=None, idx_val=None):
    """Model-ready train tensors, val / test inputs converted per batch when large
    (``pipeline.RowsInput``: only the rows in use are read from the memory map), and
    labels; ``idx_val``: the run's validation images (default: the whole val split)."""
    idx_val = prep.val_idx if idx_val is None else idx_val
    to = lambda idx: spec_input(prep.images[idx], spec, device, hub_cfg)  # noqa: E731
    rows = lambda idx: RowsInput(prep.images, idx, spec, device, hub_cfg)  # noqa: E731
    lab = lambda idx: torch.from_numpy(prep.labels[idx]).to(device)  # noqa: E731
    return (
        to(idx_train),
        lab(idx_train),
        rows(idx_val),
        lab(idx_val),
        rows(prep.test_idx),
        lab(prep.test_idx),
    )


def unfreeze_phase(model, first: dict, tensors, hp: dict, seed: int) -> dict:
    """Fine-tuning proper (study 003): after the unfrozen part has trained, unfreeze
    every group and train on at ``hp['unfreeze']['lr']``; curves and times add up.
    ``min_steps`` is 0 unless the phase names it (LP-FT: full fine-tuning's)."""
    apply_freeze(model, 0)
    hp2 = {k: v for k, v in hp.items() if k != "unfreeze"}
    hp2.update({"min_steps": 0, **hp["unfreeze"]})
    second = fit(model, *tensors, hp2, seed + 1)
    offset = first["epochs_run"]
    curve = first["curve"] + [{**p, "epoch": p["epoch"] + offset} for p in second["curve"]]
    seen = first["images_seen"] + second["images_seen"]
    train_s = first["train_s"] + second["train_s"]
    return {
        "curve": curve,
        "epochs_run": offset + second["epochs_run"],
        "best_epoch": offset + second["best_epoch"],
        "train_s": train_s,
        "images_seen": seen,
        "throughput_img_s": seen / train_s if train_s > 0 else 0.0,
    }


def run_finetune(
    job: dict,
    data_dir: str,
    weights_path: str | None,
    out: str,
    device: str = "auto",
    t_start: float | None = None,
    startup: str = "cold",
    features: str | None = None,
) -> dict:
    """Train one grid cell and write its record atomically to ``out`` (``features``: the
    ``pre_logits`` cache a freeze-all job reads its frozen backbone's output from)."""
    t_start, peak = t_start or time.time(), memory.PeakSampler()  # peak: timing.peak_rss_mb
    memory.return_freed_memory()
    pretrained = job["init"] == "pretrained"
    # Checked first, before the file is parsed or any work is done: a swapped or
    # corrupted file is never read as weights.
    weights_sha = _checked_weights(job, weights_path) if pretrained else None
    spec, hp, seed = job["model_spec"], job["model_spec"]["train"], int(job["seed"])
    if not pretrained:  # nothing pretrained to preserve
        hp = {**hp, "backbone_lr_scale": 1.0}
    dev = pick_device(device)
    deterministic = determinism.configure(dev)
    prep = data.load(data_dir)
    idx_train, idx_val = _subsets(job, prep, seed)
    model, depth, n_groups, hp, method = _build_model(job, prep, weights_path, hp, dev, seed)
    total, trainable = count_params(model)
    hub_cfg = weights.input_config(weights_path) if pretrained else {}
    tensors = prepare_inputs(prep, spec, dev, idx_train, hub_cfg, idx_val)
    run = f"n={len(idx_train)} n_val={len(idx_val)} seed={seed} device={dev}"  # for the log
    rows = (idx_train, idx_val, prep.test_idx)
    read = None
    if features:
        read = lambda: prefix.from_features(features, job, prep, weights_sha, rows, dev)  # noqa: E731
    trained = _train(job, model, tensors, depth, n_groups, hp, seed, run, read)
    total, trainable, stored = _as_deployed(model, method, total, trainable)
    metrics, logits = _evaluate(trained, tensors, prep.num_classes)
    size_bytes = costs.size_on_disk(model)
    mistakes = confident_mistakes(logits, tensors[5])
    flops = costs.flops(model, tensors[4][:1])  # before the timing below, which counts it
    rec = record.build(
        job,
        "finetune",
        arch=spec["arch"],
        freeze_groups=depth,
        n_groups=n_groups,
        n_train=len(idx_train),
        n_val=len(idx_val),
        num_classes=prep.num_classes,
        metrics=metrics,
        curve=trained.result["curve"],
        timing=_timing(trained, model, tensors[4], startup, t_start, peak),
        params={"total": total, "trainable": trainable},
        size_bytes=size_bytes,
        task_bytes=stored,
        flops=flops,
        train=trained.hp,
        device={**device_info(dev), "deterministic": deterministic},
        dataset_fingerprint=prep.fingerprint,
        weights_sha256=weights_sha,
        weights_origin=weights.origin(weights_path) if pretrained else None,
        mistakes=mistakes,
    )
    atomic.write_json(out, rec)
    print(f"test accuracy {metrics['accuracy']:.4f} -> {out}", flush=True)
    return rec


def _checked_weights(job: dict, weights_path) -> str:
    """The weights file's sha256, checked against the pinned one (``weights.check_weights``)."""
    return weights.check_weights(weights_path, job.get("weights_sha256"), job["model"])


def _subsets(job: dict, prep, seed: int) -> tuple:
    """The run's training and validation images (indices), errors naming the config key."""
    try:
        idx_train = data.training_subset(prep.labels, prep.train_idx, job["size"], seed)
    except ValueError as exc:
        raise ValueError(
            f"config key 'grid.sizes' ({job['size']}) for dataset '{job['dataset']}': {exc}"
        ) from None
    try:
        idx_val = data.validation_subset(
            prep.labels, prep.val_idx, len(idx_train), seed, prep.val_size
        )
    except ValueError as exc:
        raise ValueError(f"dataset '{job['dataset']}' at size {job['size']}: {exc}") from None
    return idx_train, idx_val


def _build_model(job: dict, prep, weights_path, hp: dict, dev, seed: int) -> tuple:
    """The job's model on ``dev``: the pretrained backbone with a new head (or a scratch
    model), adapted or frozen as the job says. Returns (model, frozen groups, groups,
    training settings, adaptation method or None)."""
    spec, pretrained = job["model_spec"], job["init"] == "pretrained"
    seed_everything(seed)
    model = models.build(spec, prep.num_classes)
    if pretrained:
        weights.load_backbone(model, weights_path)
        torch.manual_seed(seed)  # the new head's init depends on the seed only
        model.reset_classifier(prep.num_classes)
    method = job.get("adapt") if pretrained else None
    if method:  # before .to(dev): LoRA's adapters are made on the CPU with the model
        try:
            depth, n_groups, hp = adapt.apply(model, method, job.get("adapt_args") or {}, hp)
        except ValueError as exc:
            raise ValueError(f"model '{job['model']}' ({spec['arch']}), {method}: {exc}") from None
    model.to(dev)
    if dev.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    try:
        if not method:
            depth, n_groups = apply_freeze(model, job["freeze"] if pretrained else 0)
    except ValueError as exc:
        raise ValueError(
            f"config key 'grid.freeze' ({job['freeze']}) for model '{job['model']}' "
            f"({spec['arch']}): {exc}"
        ) from None
    return model, depth, n_groups, hp, method


@dataclass
class _Trained:
    """What training left: the module that predicts (the model, or its tail over the
    cached prefix) and its inputs (train, val, test), fit's result, the settings used."""

    net: nn.Module
    inputs: tuple
    result: dict
    hp: dict
    cached: int  # groups whose output was computed once (``prefix_cached``)
    prefix_from: str  # where that output came from: "job" or "feature cache"
    prefix_s: float  # seconds of that prefix pass over the train and val images
    first_step_t: float  # clock time of the first optimiser step


def _train(job, model, tensors, depth, n_groups, hp, seed, run: str, read=None) -> _Trained:
    """Precompute the frozen prefix where it can be (or ``read`` it from a feature cache),
    then fit (under the OOM policy), then the unfreeze phase if the settings ask for one."""
    xtr, ytr, xva, yva, xte, _ = tensors
    # A later unfreeze phase trains the whole model, so nothing can be precomputed.
    cacheable = depth if not (hp.get("augment") or hp.get("unfreeze")) else 0
    if read and cacheable != n_groups:
        raise ValueError(
            f"a feature cache stands for a frozen backbone; this job has {depth} of {n_groups} "
            "groups frozen, or augmentation or an unfreeze phase (run it without --features)"
        )
    if read:
        model.eval()
        net, cached = prefix.Suffix(model, "head"), depth
        (xtr_c, xva_c, xte_c), prefix_s = read()
    else:
        net, (xtr_c, xva_c, xte_c), cached, prefix_s = prefix.precompute(
            model, cacheable, n_groups, (xtr, xva, xte)
        )
    print(
        f"{job['model']} on {job['dataset']}: init={job['init']} freeze={job['freeze']} "
        f"({depth}/{n_groups} groups) {run} prefix_cached={cached}"
        + (" (read from the feature cache)" if read else ""),
        flush=True,
    )
    label = "{dataset}/{model}/{init}_f{freeze}_n{size}_s{seed}".format(**job)
    first_step = {}

    def first():
        first_step.setdefault("t", time.time())
        faults.pause_point(f"finetune:{label}")  # test-only hook; a no-op in real runs

    result, hp = oom.fit_with_oom_policy(
        lambda h: fit(net, xtr_c, ytr, xva_c, yva, h, seed, on_first_step=first),
        net,
        hp,
        what=f"finetune {label}",
    )
    if hp.get("unfreeze") and depth:
        result = unfreeze_phase(model, result, (xtr, ytr, xva, yva), hp, seed)
    # the test pass is prediction, not training: its prefix seconds are not counted
    train_val_s = prefix_s[0] + prefix_s[1]
    source = "feature cache" if read else "job"
    return _Trained(
        net, (xtr_c, xva_c, xte_c), result, hp, cached, source, train_val_s, first_step["t"]
    )


def _as_deployed(model, method, total: int, trainable: int) -> tuple[int, int, int]:
    """(total, trainable parameters, bytes stored per task) of the trained model; a LoRA
    model is merged here, so that inference, FLOPs, latency and size are the deployed one's."""
    if method:  # LP-FT ends with every parameter trained
        total, trainable = count_params(model)
    stored = adapt.task_bytes(model)  # LoRA: the adapters (and head), before merging
    if method == "lora":
        adapt.merge_lora(model)
        total = count_params(model)[0]  # the base model's; trainable stays the adapters'
    return total, trainable, stored


def _evaluate(trained: _Trained, tensors, num_classes: int) -> tuple[dict, torch.Tensor]:
    """Test metrics, then validation metrics; and the test logits."""
    _, xva_c, xte_c = trained.inputs
    yva, yte = tensors[3], tensors[5]
    logits = predict(trained.net, xte_c)
    y_pred = logits.argmax(1).cpu().numpy()
    metrics = {
        **classification_metrics(yte.cpu().numpy(), y_pred, num_classes),
        **validation_metrics(predict(trained.net, xva_c), yva, num_classes),
    }
    return metrics, logits


def _timing(trained: _Trained, model, xte, startup: str, t_start: float, peak) -> dict:
    """The record's ``timing``: training compute, throughput, latency, start-up cost."""
    result, example = trained.result, xte[:1]
    train_s = trained.prefix_s + result["train_s"]
    return {
        "train_s": train_s,
        "prefix_s": trained.prefix_s,
        # Images through the whole model (prefix once + the rest every epoch) per second.
        "throughput_img_s": result["images_seen"] / train_s if train_s > 0 else 0.0,
        "latency_ms": costs.latency_ms(model, example),
        "inference_img_s": costs.inference_throughput(model, xte),
        "epochs_run": result["epochs_run"],
        "best_epoch": result["best_epoch"],
        "startup": startup,
        "fixed_cost_s": trained.first_step_t - t_start,
        "total_s": time.time() - t_start,
        "prefix_cached": trained.cached,
        **({"prefix_from": trained.prefix_from} if trained.cached else {}),
        "peak_rss_mb": peak.stop(),
    }


def validation_metrics(logits: torch.Tensor, y: torch.Tensor, num_classes: int) -> dict:
    """The final model on the run's validation images: what settings are selected on."""
    pred = logits.argmax(1).cpu().numpy()
    m = classification_metrics(y.cpu().numpy(), pred, num_classes)
    return {
        "val_accuracy": m["accuracy"],
        "val_balanced_accuracy": m["balanced_accuracy"],
        "val_loss": float(torch.nn.functional.cross_entropy(logits.float(), y).item()),
    }


def confident_mistakes(logits: torch.Tensor, y: torch.Tensor, k: int = 16) -> list[dict]:
    """The ``k`` test images predicted wrong with the highest confidence (for the report).

    ``index`` is the position in the test split; a few dozen bytes each, so records stay
    small while the report can show the images (study 002's "most confidently wrong").
    """
    probs = torch.softmax(logits.float(), 1)
    conf, pred = probs.max(1)
    wrong = torch.nonzero(pred != y).flatten()
    order = wrong[torch.argsort(conf[wrong], descending=True)][:k]
    return [
        {
            "index": int(i),
            "true": int(y[i]),
            "predicted": int(pred[i]),
            "confidence": round(float(conf[i]), 4),
        }
        for i in order
    ]


def run_pretrain(job: dict, data_dir: str, out: str, device: str = "auto") -> dict:
    """Train a source model on the full training split of its source dataset."""
    spec, hp, seed = job["model_spec"], job["train"], int(job.get("seed", 0))
    dev = pick_device(device)
    determinism.configure(dev)
    prep = data.load(data_dir)
    seed_everything(seed)
    model = models.build(spec, prep.num_classes).to(dev)
    if dev.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    xtr, ytr, xva, yva, xte, yte = prepare_inputs(prep, spec, dev, prep.train_idx)
    print(f"pretraining {job['model']} on {job['source']} (n={len(ytr)}) device={dev}", flush=True)
    pause = lambda: faults.pause_point(f"pretrain:{job['model']}")  # noqa: E731 (test hook)
    result, hp = oom.fit_with_oom_policy(
        lambda h: fit(model, xtr, ytr, xva, yva, h, seed, on_first_step=pause),
        model,
        hp,
        what=f"pretrain {job['model']}",
    )
    acc = (predict(model, xte).argmax(1) == yte).float().mean().item()
    sha = weights.save_model(
        model, out, {"source": job["source"], "arch": spec["arch"], "test_accuracy": f"{acc:.4f}"}
    )
    info = {
        "model": job["model"],
        "source": job["source"],
        "arch": spec["arch"],
        "source_test_accuracy": acc,
        "epochs_run": result["epochs_run"],
        "train_s": result["train_s"],
        "sha256": sha,
        "dataset_fingerprint": prep.fingerprint,
        "train": hp,
    }
    atomic.write_json(os.path.splitext(out)[0] + ".json", info)
    print(f"source test accuracy {acc:.4f} -> {out} (sha256 {sha[:12]})", flush=True)
    return info


def main(argv: list[str] | None = None, t_start: float | None = None, startup: str = "cold"):
    import argparse

    p = argparse.ArgumentParser(prog="finetune", description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["finetune", "pretrain"])
    p.add_argument("--job", required=True, help="job spec as JSON (grid cell + model spec)")
    p.add_argument("--data", required=True, help="prepared dataset directory")
    p.add_argument("--weights", default=None, help="source weights (.safetensors)")
    p.add_argument("--out", required=True, help="record (.json) or weights (.safetensors) path")
    p.add_argument("--features", help="pre_logits feature cache (.npz) of a freeze-all job")
    p.add_argument("--device", default=os.environ.get("TA_DEVICE", "auto"))
    p.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    args = p.parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    job = json.loads(args.job)
    try:
        numerics.check(job.get("numerics"))
        if args.mode == "pretrain":
            run_pretrain(job, args.data, args.out, args.device)
        else:
            run_finetune(
                job, args.data, args.weights, args.out, args.device, t_start, startup, args.features
            )
    except (ValueError, FileNotFoundError, oom.GpuOutOfMemory) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0
