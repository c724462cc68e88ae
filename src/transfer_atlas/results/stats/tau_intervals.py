"""How far to trust a transferability ranking: weighted tau with a bootstrap interval.

The ground truth a score is checked against (each model's test accuracy at the setting
validation chose, at the largest training size) is a mean over seeds, so it carries seed
noise. The interval resamples seeds with replacement -- the same draw for every model,
because seed s means the same training subset for all of them -- recomputes each model's
mean accuracy and the weighted tau, and reports the 2.5 and 97.5 percentiles. The scores
themselves are computed once on the full training split and are held fixed; the interval
covers seed variation only (one pretraining, one test split). With 3 seeds there are only
10 distinct resamples, so the interval is coarse.

Below :data:`MIN_MODELS` models tau is not reported: with two models the weighted tau is
+1 or -1 whatever the scores, so it says nothing about them.
"""

from __future__ import annotations

import numpy as np

#: Fewest models a rank correlation is reported for (two models: tau is always +-1).
MIN_MODELS = 3
REPLICATES = 2000
TOO_FEW = f"not reported: fewer than {MIN_MODELS} models (with 2, tau is +-1 whatever the scores)"


def per_seed_accuracy(runs, best, pool: str = "pretrained") -> dict:
    """Per dataset: a models x seeds table of test accuracy at the setting ``best`` chose for
    ``pool`` (results/best_settings.csv), at the dataset's largest training size."""
    from transfer_atlas.results.aggregate import size_order
    from transfer_atlas.results.views import with_setting

    keys = ["dataset", "model", "regime", "setting"]
    r = with_setting(runs).merge(best.loc[best["pool"] == pool, keys], on=keys)
    out = {}
    for dataset, g in r.groupby("dataset", sort=True):
        g = g[g["size"] == size_order(g["size"])[-1]]
        out[dataset] = g.pivot_table(
            index="model", columns="seed", values="accuracy", aggfunc="mean"
        )
    return out


def bootstrap_tau(scores, acc, tau, replicates: int = REPLICATES, seed: int = 0):
    """(low, high) 95% percentile interval of ``tau`` (``results.transferability.weighted_tau``) between
    ``scores`` (a Series by model) and mean accuracy over seeds resampled from ``acc``
    (models x seeds)."""
    models = [m for m in acc.index if m in scores.index and not np.isnan(scores[m])]
    a = acc.loc[models].dropna(axis=1).to_numpy(float)  # seeds every model ran
    if len(models) < MIN_MODELS or a.shape[1] == 0:
        return float("nan"), float("nan")
    s = scores[models].to_numpy(float)
    draws = np.random.default_rng(seed).integers(0, a.shape[1], size=(replicates, a.shape[1]))
    means = a[:, draws].mean(axis=2)  # models x replicates
    # tau depends on the accuracies' order (ties included) only, and a few models have few
    # orders: compute it once per distinct order (2000 scipy calls took 2.3 s per score).
    from scipy.stats import rankdata

    orders, which = np.unique(rankdata(means, axis=0), axis=1, return_inverse=True)
    taus = np.array([tau(s, orders[:, k]) for k in range(orders.shape[1])])[which.ravel()]
    low, high = np.nanpercentile(taus, [2.5, 97.5])
    return float(low), float(high)


def finish(taus, merged, tau, runs=None, best=None):
    """The tau table as written: ``tau`` blanked (with the reason) below :data:`MIN_MODELS`
    models with a score and an accuracy, and, given the runs, its bootstrap interval."""
    taus = taus.copy()
    n = []
    for dataset, name in zip(taus["dataset"], taus["score"], strict=True):
        g = merged[merged["dataset"] == dataset]
        n.append(int((g[name].notna() & g["finetune_accuracy"].notna()).sum()))
    taus["n_models"] = n
    few = taus["n_models"] < MIN_MODELS
    taus.loc[few, "weighted_tau"] = np.nan
    taus["note"] = np.where(few, TOO_FEW, "")
    taus["tau_ci95_low"], taus["tau_ci95_high"], taus["n_seeds"] = np.nan, np.nan, np.nan
    if runs is None or best is None:
        return taus
    acc = per_seed_accuracy(runs, best)
    for i in taus.index[~few]:
        dataset, name = taus.at[i, "dataset"], taus.at[i, "score"]
        if dataset not in acc:
            continue
        g = merged[merged["dataset"] == dataset].set_index("model")[name]
        low, high = bootstrap_tau(g, acc[dataset], tau)
        taus.at[i, "tau_ci95_low"], taus.at[i, "tau_ci95_high"] = low, high
        taus.at[i, "n_seeds"] = acc[dataset].shape[1]
    return taus
