"""Ties said as ties: which settings are within noise of the validation leader, and the
one setting that is then used downstream.

The leader is the setting with the highest mean validation accuracy (``views.best_settings``).
Another setting is **tied** with it when a paired test cannot tell them apart on
validation, paired over the (size, seed) runs both have, two-sided, p >= ``ALPHA`` (not
corrected: correcting would make more ties). The test is Wilcoxon's signed-rank test (exact,
ties as ties: ``paired``) where it can reject at all; with k nonzero differences its
smallest p is 2 / 2**k, so with fewer than 6 (3 seeds at one size) it never can, and every
setting, however far behind, would tie: there the paired t-test decides (a lead of 10 points
in each of 3 pairs is no tie). A setting sharing fewer than ``MIN_PAIRS`` pairs with the
leader cannot be tested and is not tied.

**Rule** (:data:`TIE_RULE`): among the tied set, the setting with the fewest trainable
parameters (the cheapest to train and to store per task), then the higher validation mean,
then the earlier setting (scratch, shallow freezes, methods; layers and classifiers by name).
The test split is never read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from transfer_atlas.results.stats.paired import ALPHA, exact_differences, signed_rank_p, smallest_p

TIE_RULE = (
    "fewest trainable parameters among the tied settings, then the higher mean validation "
    "accuracy, then the earlier setting"
)
MIN_PAIRS = 2


def per_setting(runs: pd.DataFrame, metric: str = "val_accuracy") -> dict[str, pd.Series]:
    """Each setting's ``metric`` indexed by (size, seed): what ``tie_p`` pairs."""
    return {s: g.groupby(["size", "seed"])[metric].mean() for s, g in runs.groupby("setting")}


def tie_p(per: dict[str, pd.Series], a: str, b: str) -> float:
    """Two-sided p of settings ``a`` vs ``b`` paired on (size, seed) (``per_setting``)."""
    pair = pd.concat([per[a], per[b]], axis=1, join="inner").dropna()
    if len(pair) < MIN_PAIRS:
        return float("nan")
    exact = exact_differences(pair.iloc[:, 0], pair.iloc[:, 1])
    if smallest_p(int((exact != 0).sum())) < ALPHA:
        return signed_rank_p(exact)
    return _paired_t_p((pair.iloc[:, 0] - pair.iloc[:, 1]).to_numpy(), exact)


def _paired_t_p(d: np.ndarray, exact: np.ndarray) -> float:
    """Two-sided paired t-test p; identical differences: 1 if all zero, else 0."""
    from scipy import stats

    if len(set(exact.tolist())) == 1:
        return 1.0 if exact[0] == 0 else 0.0
    return float(stats.ttest_1samp(d, 0.0).pvalue)


def resolve(candidates: pd.DataFrame, runs: pd.DataFrame) -> pd.Series:
    """One (dataset, model, pool) group: ``candidates`` sorted leader first (columns
    setting, val_accuracy_mean, _o, trainable), ``runs`` its runs with a ``setting``
    column. Returns the chosen row with ``tied`` (the tied settings, leader first, "; ")
    and ``tie_p`` (the largest p among the tied, NaN when nothing tied)."""
    leader, per = candidates.iloc[0], per_setting(runs)
    tied, ps = [0], []
    for i in range(1, len(candidates)):
        p = tie_p(per, leader["setting"], candidates.iloc[i]["setting"])
        if p >= ALPHA:  # NaN (untestable) is not a tie
            tied.append(i)
            ps.append(p)
    group = candidates.iloc[tied].assign(
        _t=lambda d: d["trainable"].fillna(np.inf), _v=lambda d: -d["val_accuracy_mean"]
    )
    chosen = group.sort_values(["_t", "_v", "_o", "setting"], kind="stable").iloc[0].copy()
    chosen["tied"] = "; ".join(candidates["setting"].iloc[tied]) if len(tied) > 1 else ""
    chosen["tie_p"] = max(ps) if ps else np.nan
    return chosen.drop(["_t", "_v"])
