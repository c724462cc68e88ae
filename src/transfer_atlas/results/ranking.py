"""Which model should I use? Selection scores per model x target, checked against the
accuracy fine-tuning actually reached.

``score`` (one job per model x dataset) reads two cached feature files of the target's
*training split* -- ``pre_logits`` for LogME, H-score, SFDA and the k-NN baseline,
``predictions`` (softmax over the source classes) for LEEP and NCE -- plus, for the
``prior`` baseline, the source model's pretraining record, and writes the scores as JSON.
``table``
joins every score with the summary table and computes, per dataset and score, the
weighted Kendall tau (``scipy.stats.weightedtau``: top ranks weigh most) between the
score's ranking of the models and their fine-tuned accuracy ranking; it flags the rows
where the H-score (shrinkage-regularised) rests on fewer than 10 training samples per
feature dimension (``hscore_small_n``). Nothing here imports torch."""

from __future__ import annotations

import json
import math
import sys
import time

import numpy as np

from transfer_atlas.core import numerics
from transfer_atlas.spec.names import BASELINE_SCORES, SELECTION_SCORES

SCORES = SELECTION_SCORES
BASELINES = BASELINE_SCORES
#: Below this many training samples per feature dimension the H-score's covariance
#: estimate is unreliable (even with shrinkage): the table flags it (``hscore_small_n``).
HSCORE_SAMPLES_PER_DIM = 10


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


def _all_scores(
    x: np.ndarray, p: np.ndarray, y: np.ndarray, strict: bool = True
) -> tuple[dict, dict]:
    """Every computed selection score of features ``x`` / source probabilities ``p``.

    ``strict=False`` (the small training subsets): a score undefined there (SFDA's
    within-class scatter with one image per class) is NaN instead of an error; a shortlist
    that ranks by it then refuses that cell by name (results.shortlist)."""
    from transfer_atlas.features import selection_scores, transferability

    values, seconds = {}, {}
    for name, fn, arg in (
        ("logme", transferability.logme, x),
        ("hscore", transferability.hscore, x),
        ("leep", transferability.leep, p),
        ("nce", transferability.nce, p.argmax(1)),
        ("sfda", selection_scores.sfda, x),
        ("knn", selection_scores.knn, x),
    ):
        t = time.perf_counter()
        try:
            values[name] = float(fn(arg, y))
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
        values, _ = _all_scores(x, p, feats.labels[idx], strict=False)
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
    from transfer_atlas.features import extract as features

    feats, probs = features.load(pre_logits_path), features.load(predictions_path)
    features.check_cache_weights(feats.meta, job, pre_logits_path)
    features.check_cache_weights(probs.meta, job, predictions_path)
    idx, y = feats.train_idx, feats.labels[feats.train_idx]
    x, p = _rows(feats, probs, idx)
    values, seconds = _all_scores(x, p, y)
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


def _at_largest(cells, best, pool: str, prefix: str, describe):
    """Per dataset x model: the test accuracy of the setting validation chose (``best``,
    results/best_settings.csv) at the largest training size, as ``<prefix>_accuracy`` and
    ``<prefix>_best`` (``describe(cell)``). No choice is made here on test accuracy."""
    import pandas as pd

    from transfer_atlas.results.aggregate import size_order
    from transfer_atlas.results.views import with_setting

    keys = ["dataset", "model", "regime", "setting"]
    cells = with_setting(cells).merge(best.loc[best["pool"] == pool, keys], on=keys)
    rows = []
    for (dataset, model), g in cells.groupby(["dataset", "model"], sort=True):
        chosen = g[g["size"].astype(str) == size_order(g["size"])[-1]].iloc[0]
        rows.append(
            {
                "dataset": dataset,
                "model": model,
                f"{prefix}_accuracy": chosen["accuracy_mean"],
                f"{prefix}_best": describe(chosen),
            }
        )
    columns = ["dataset", "model", f"{prefix}_accuracy", f"{prefix}_best"]
    return pd.DataFrame(rows, columns=columns)


def _where(cell) -> str:
    return f"{cell['setting']}, n={cell['size']}"


def finetuned_accuracy(summary, best):
    """Per dataset x model: test accuracy at the largest size of the pretrained fine-tune
    setting and of the features setting (layer + classifier) that validation accuracy chose."""
    ft = summary[summary["regime"] == "finetune"]
    out = _at_largest(ft, best, "pretrained", "finetune", _where)
    fe = summary[summary["regime"] == "features"]
    if len(fe) and "classifier" in fe:
        chosen = _at_largest(fe, best, "features", "features", _where)
        out = out.merge(chosen, on=["dataset", "model"], how="outer")
    return out


def weighted_tau(a, b) -> float:
    """Weighted Kendall tau of two score vectors (NaN rows dropped; NaN if < 2 remain)."""
    from scipy.stats import rankdata, weightedtau

    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = ~(np.isnan(a) | np.isnan(b))
    if ok.sum() < 2:
        return float("nan")
    # Ranks first: LogME may be +inf, which weightedtau cannot order.
    return float(weightedtau(rankdata(a[ok]), rankdata(b[ok])).statistic)


def table(score_paths, summary, best, runs=None):
    """(per dataset x model scores + accuracies, per dataset x score weighted tau).

    ``best``: results/best_settings.csv; accuracies are taken at those settings. ``runs``:
    per-seed results, for tau's bootstrap interval (``results.tau_intervals``)."""
    import pandas as pd

    from transfer_atlas.results.stats import tau_intervals

    rows = []
    for path in score_paths:
        rec = json.loads(open(path).read())
        scores = {k: float(v) for k, v in rec["scores"].items()}
        rows.append(
            {
                "dataset": rec["dataset"],
                "model": rec["model"],
                **scores,
                "n_train": rec["n_train"],
                "feature_dim": rec["feature_dim"],
                "hscore_small_n": rec["n_train"] < HSCORE_SAMPLES_PER_DIM * rec["feature_dim"],
                "score_s": sum(rec["score_s"].values()),
            }
        )
    scores = pd.DataFrame(rows)
    merged = scores.merge(finetuned_accuracy(summary, best), on=["dataset", "model"], how="left")
    taus = []
    for dataset, g in merged.groupby("dataset", sort=True):
        for name in SCORES:
            taus.append(
                {
                    "dataset": dataset,
                    "score": name,
                    "baseline": name in BASELINES,
                    "n_models": len(g),
                    "weighted_tau": weighted_tau(g[name], g["finetune_accuracy"]),
                }
            )
        merged.loc[g.index, "logme_rank"] = g["logme"].rank(ascending=False, method="min")
        merged.loc[g.index, "accuracy_rank"] = g["finetune_accuracy"].rank(
            ascending=False, method="min"
        )
    taus = tau_intervals.finish(pd.DataFrame(taus), merged, weighted_tau, runs, best)
    return merged.sort_values(["dataset", "logme_rank"]), taus


def tau_wide(taus):
    """The tau table one row per dataset, one column per score: "tau [low, high]" (the
    95% bootstrap interval over seeds), or "–" where tau is not reported."""
    import pandas as pd

    def cell(r) -> str:
        if np.isnan(r["weighted_tau"]):
            return "–"
        if "tau_ci95_low" in r and not np.isnan(r["tau_ci95_low"]):
            return f"{r['weighted_tau']:.2f} [{r['tau_ci95_low']:.2f}, {r['tau_ci95_high']:.2f}]"
        return f"{r['weighted_tau']:.2f}"

    rows = {}
    for _, r in taus.iterrows():
        rows.setdefault(r["dataset"], {"dataset": r["dataset"]})[r["score"]] = cell(r)
    order = [s for s in SCORES if s in set(taus["score"])]
    return pd.DataFrame(list(rows.values()), columns=["dataset", *order])


def beats_baselines(taus) -> dict:
    """Per dataset: the non-baseline scores whose tau is above every baseline's (a baseline
    without a tau counts as not beaten). Point estimates; the intervals say how firmly."""
    out = {}
    for dataset, g in taus.groupby("dataset", sort=True):
        tau = dict(zip(g["score"], g["weighted_tau"], strict=True))
        bars = [tau.get(b, np.nan) for b in BASELINES]
        if any(np.isnan(b) for b in bars):
            out[dataset] = []
            continue
        out[dataset] = [s for s in SCORES if s not in BASELINES and tau.get(s, np.nan) > max(bars)]
    return out


def recommendations(merged):
    """One row per dataset: the model each score picks, and the one fine-tuning favoured."""
    import pandas as pd

    rows = []
    for dataset, g in merged.groupby("dataset", sort=True):
        row = {"dataset": dataset}
        for name in SCORES:
            scored = g.dropna(subset=[name])  # prior: NaN for weights it has no record of
            row[f"by_{name}"] = scored.loc[scored[name].idxmax(), "model"] if len(scored) else None
        acc = g.dropna(subset=["finetune_accuracy"])
        row["by_finetune_accuracy"] = (
            acc.loc[acc["finetune_accuracy"].idxmax(), "model"] if len(acc) else None
        )
        if "features_accuracy" in g and g["features_accuracy"].notna().any():
            row["by_features_accuracy"] = g.loc[g["features_accuracy"].idxmax(), "model"]
        rows.append(row)
    return pd.DataFrame(rows)


def main_score(argv=None, t_start=None, startup="cold") -> int:
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
