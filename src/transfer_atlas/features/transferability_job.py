"""The transferability job: every registered score of one model on one target's training
split, and on each (size, seed) training subset the fine-tunes use (JSON).

One job per model x target (``rule transferability``). It reads two cached feature files
of the target's *training split* -- ``pre_logits`` for the scores that read features,
``predictions`` (softmax over the source classes) for those that read source
probabilities or source labels -- plus, for the ``prior`` baseline, the source model's
pretraining record. The scores themselves are short numpy functions beside this module
(``transferability``: LogME, LEEP, NCE, H-score; ``selection_scores``: SFDA, k-NN);
:data:`REGISTRY` names each one and what it reads. ``results.transferability`` joins the
records with the accuracy fine-tuning reached. Nothing here imports torch.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from transfer_atlas.core import numerics
from transfer_atlas.features import selection_scores, transferability


class Score(NamedTuple):
    """A registered score: ``fn(values, labels) -> float`` (higher = better; ValueError
    where it is undefined), and which input ``values`` is (one of :data:`INPUTS`)."""

    fn: Callable[[np.ndarray, np.ndarray], float]
    reads: str


#: What a score can read: the features (pre_logits), the source model's class
#: probabilities (predictions), or its predicted source class (their argmax).
INPUTS = ("features", "source_probs", "source_labels")
#: Every score computed from the cached features, in the order a record lists them. The
#: ``prior`` baseline (:func:`source_accuracy`) reads the pretraining record instead.
REGISTRY: dict[str, Score] = {
    "logme": Score(transferability.logme, "features"),
    "hscore": Score(transferability.hscore, "features"),
    "leep": Score(transferability.leep, "source_probs"),
    "nce": Score(transferability.nce, "source_labels"),
    "sfda": Score(selection_scores.sfda, "features"),
    "knn": Score(selection_scores.knn, "features"),
}


def source_accuracy(info_path: str | None) -> float:
    """The ``prior`` baseline: the source model's test accuracy on its own source task, as
    its pretraining recorded it (results/weights/<model>.json). It is what a user knows
    before touching the target (a model card's accuracy; the "better on ImageNet first"
    ranking the critiques found hard to beat). NaN for weights the workflow did not train
    (hub or local files), whose source accuracy the project does not record."""
    if not info_path:
        return float("nan")
    value = json.loads(open(info_path).read()).get("source_test_accuracy")
    return float("nan") if value is None else float(value)


def finite_json(obj):
    """``obj`` with every non-finite float as the string ``float()`` reads back ("inf",
    "-inf", "nan"): LogME is +inf on an exact fit, a baseline NaN without a source accuracy,
    and JSON has neither. Only numbers change: a model named ``NaNet`` stays ``NaNet``."""
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


def all_scores(
    x: np.ndarray, p: np.ndarray, y: np.ndarray, strict: bool = True
) -> tuple[dict, dict]:
    """Every registered score of features ``x`` / source probabilities ``p``, and the
    seconds each took.

    ``strict=False`` (the small training subsets): a score undefined there (SFDA's
    within-class scatter with one image per class) is NaN instead of an error; a shortlist
    that ranks by it then refuses that cell by name (results.shortlist)."""
    given = {"features": x, "source_probs": p, "source_labels": p.argmax(1)}
    values, seconds = {}, {}
    for name, entry in REGISTRY.items():
        t = time.perf_counter()
        try:
            values[name] = float(entry.fn(given[entry.reads], y))
        except ValueError:
            if strict:
                raise
            values[name] = float("nan")
        seconds[name] = time.perf_counter() - t
    return values, seconds


def subset_scores(feats, probs, subsets, prior: float) -> list[dict]:
    """The scores on each (size, seed) training subset the fine-tunes of that size and
    seed use (``data.training_subset``): what a user with that many labels could compute.
    The shortlist chooses from these, never from the whole split (issue 25)."""
    from transfer_atlas.data.prepared import training_subset

    out = []
    for size, seed in subsets:
        idx = training_subset(feats.labels, feats.train_idx, str(size), int(seed))
        x, p = _rows(feats, probs, idx)
        values, _ = all_scores(x, p, feats.labels[idx], strict=False)
        values["prior"] = prior
        out.append({"size": str(size), "seed": int(seed), "n_train": int(len(idx)),
                    "scores": values})  # fmt: skip
    return out


def _rows(feats, probs, idx):
    x, p = feats.features[idx].astype(np.float64), probs.features[idx].astype(np.float64)
    return x, p / p.sum(1, keepdims=True)  # float32 softmax rows: renormalise in float64


def score(
    pre_logits_path: str, predictions_path: str, job: dict, out: str, source_info=None
) -> dict:
    """Every selection score of one model on one target's training split, and on each
    (size, seed) subset of ``job['subsets']`` (``subsets`` in the record)."""
    from transfer_atlas.core import atomic
    from transfer_atlas.data import feature_cache
    from transfer_atlas.features import extract as features

    feats, probs = feature_cache.load(pre_logits_path), feature_cache.load(predictions_path)
    features.check_cache_weights(feats.meta, job, pre_logits_path)
    features.check_cache_weights(probs.meta, job, predictions_path)
    idx, y = feats.train_idx, feats.labels[feats.train_idx]
    x, p = _rows(feats, probs, idx)
    values, seconds = all_scores(x, p, y)
    values["prior"], seconds["prior"] = source_accuracy(source_info), 0.0
    rec = {
        **{k: job[k] for k in ("study", "dataset", "model")},
        "n_train": int(len(idx)),
        "feature_dim": int(x.shape[1]),
        "source_classes": int(p.shape[1]),
        "scores": values,
        "score_s": seconds,
        "subsets": subset_scores(feats, probs, job.get("subsets", []), values["prior"]),
        "extract_s": feats.meta["extract_s"] + probs.meta["extract_s"],
        "weights_sha256": feats.meta["weights_sha256"],
        "dataset_fingerprint": feats.meta["dataset_fingerprint"],
    }
    atomic.write_json(out, finite_json(rec))
    print(f"{job['model']} on {job['dataset']}: {values}", flush=True)
    return rec


def main(argv=None, t_start=None, startup="cold") -> int:
    """Score one model on one target (``scripts/transferability.py``)."""
    import argparse

    p = argparse.ArgumentParser(prog="transferability", description=__doc__.splitlines()[0])
    p.add_argument("--job", required=True, help="JSON: study, dataset, model")
    p.add_argument("--pre-logits", required=True, help="pre_logits feature cache (.npz)")
    p.add_argument("--predictions", required=True, help="predictions feature cache (.npz)")
    p.add_argument("--out", required=True, help="scores (.json)")
    p.add_argument("--source-info", help="the pretraining's record (.json), for 'prior'")
    args = p.parse_args(argv)
    try:
        job = json.loads(args.job)
        numerics.check(job.get("numerics"))
        score(args.pre_logits, args.predictions, job, args.out, args.source_info)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0
