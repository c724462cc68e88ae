"""Paired comparisons between models: the evidence behind "A beats B" in the report.

Two models are compared on one dataset, each at its best setting (chosen on validation
accuracy: ``views.best_settings``), over the (size, seed) pairs both have run: the same
training subsets, the same seeds. The test is Wilcoxon's signed-rank test on the paired
differences (``paired``); the p-values of every comparison in the study are adjusted together with
Holm's step-down method, so a claim survives only if it holds for the whole family.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from transfer_atlas.results.stats.paired import ALPHA, exact_differences, holm, signed_rank_p

__all__ = ["claim", "compare_models", "verdict"]


def compare_models(runs: pd.DataFrame, best: pd.DataFrame, metric: str = "accuracy"):
    """Every pair of models per dataset, paired on (size, seed); Holm over all pairs.

    Returns one row per comparison with the number of pairs ``n_pairs``, the mean and
    median difference (a - b), wins of each side, raw and Holm-adjusted p and a verdict.
    """
    from transfer_atlas.results.views import finetune_keys, run_settings

    r = run_settings(runs).merge(finetune_keys(best), on=["dataset", "model", "setting"])
    rows = []
    for dataset, grp in r.groupby("dataset", sort=True):
        per_model = {
            m: g.set_index(["size", "seed"])[metric] for m, g in grp.groupby("model", sort=True)
        }
        setting = dict(zip(grp["model"], grp["setting"], strict=False))
        for a, b in combinations(sorted(per_model), 2):
            pair = pd.concat([per_model[a], per_model[b]], axis=1, join="inner").dropna()
            d = (pair.iloc[:, 0] - pair.iloc[:, 1]).to_numpy()
            exact = exact_differences(pair.iloc[:, 0], pair.iloc[:, 1])  # ties stay ties
            rows.append(
                {
                    "dataset": dataset,
                    "model_a": a,
                    "setting_a": setting[a],
                    "model_b": b,
                    "setting_b": setting[b],
                    "n_pairs": len(d),
                    "n_tested": int((exact != 0).sum()),  # the signed-rank test drops ties
                    # a difference that is exactly zero reads as zero, not as round-off
                    "mean_diff": float(d.mean()) * bool(exact.sum()) if len(d) else np.nan,
                    "median_diff": float(np.median(d)) * bool(np.median(exact.astype(float)))
                    if len(d)
                    else np.nan,
                    "wins_a": int((exact > 0).sum()),
                    "wins_b": int((exact < 0).sum()),
                    "p": signed_rank_p(exact),
                }
            )
    cols = ["dataset", "model_a", "setting_a", "model_b", "setting_b", "n_pairs", "n_tested"]
    cols += ["mean_diff"]
    cols += ["median_diff", "wins_a", "wins_b", "p", "p_holm", "verdict"]
    if not rows:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame(rows)
    out["p_holm"] = holm(out["p"])
    out["verdict"] = [verdict(r) for r in out.itertuples()]
    return out[cols]


def verdict(row) -> str:
    if not (row.p_holm < ALPHA):
        return "no significant difference"
    sign = row.median_diff if row.median_diff != 0 else row.mean_diff
    winner = row.model_a if sign > 0 else row.model_b
    return f"{winner} better"


def claim(top: str, other: str, verdict_text: str, diff: float) -> tuple[str, str]:
    """How the findings and the report word "top vs other" on test accuracy: (verb, the
    direction of the mean difference). A significant loss reads as a loss."""
    if verdict_text == f"{top} better":
        verb = "beats"
    elif verdict_text == f"{other} better":
        verb = "is significantly worse than"
    else:
        verb = "is not shown to differ from"
    direction = "higher" if diff > 0 else "lower" if diff < 0 else "the same"
    return verb, direction
