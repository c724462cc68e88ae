"""Which model should I use? The transferability tables: each model's selection scores per
target (``features.transferability_job`` computes them, one record per model x target),
checked against the accuracy fine-tuning actually reached.

``table`` joins every score with the summary table and computes, per dataset and score, the
weighted Kendall tau (``scipy.stats.weightedtau``: top ranks weigh most) between the
score's ranking of the models and their fine-tuned accuracy ranking; it flags the rows
where the H-score (shrinkage-regularised) rests on fewer than 10 training samples per
feature dimension (``hscore_small_n``). Nothing here imports torch."""

from __future__ import annotations

import json

import numpy as np

from transfer_atlas.spec.names import BASELINE_SCORES, SELECTION_SCORES

SCORES = SELECTION_SCORES
BASELINES = BASELINE_SCORES
#: Below this many training samples per feature dimension the H-score's covariance
#: estimate is unreliable (even with shrinkage): the table flags it (``hscore_small_n``).
HSCORE_SAMPLES_PER_DIM = 10


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
    per-seed results, for tau's bootstrap interval (``results.stats.tau_intervals``)."""
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


def write_tables(score_paths, summary_path, best_path, runs_path, table_out, tau_out):
    """The ``transferability_table`` job's tables: read summary.csv, best_settings.csv and
    (for tau's interval) runs.parquet, write :func:`table`'s two tables as CSV
    (results/transferability.csv and results/transferability_tau.csv); return them."""
    from transfer_atlas.core import atomic
    from transfer_atlas.results.tables import read_runs, read_summary
    from transfer_atlas.results.views import read_best

    summary = read_summary(summary_path)
    runs = read_runs(runs_path) if runs_path else None
    merged, taus = table(score_paths, summary, read_best(best_path), runs)
    for df, path in ((merged, table_out), (taus, tau_out)):
        atomic.write_csv(path, df)
    return merged, taus


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
