"""Transferability tau: a bootstrap interval over seeds, and no tau below 3 models."""

import numpy as np
import pandas as pd
import pytest

from transfer_atlas.results.stats import tau_intervals as ti
from transfer_atlas.results.transferability import weighted_tau


def _runs(acc: dict, sizes=("5", "all")) -> pd.DataFrame:
    """Fine-tune runs at freeze all: ``acc[model]`` is the per-seed accuracy at size all
    (smaller sizes get a constant that must not be used)."""
    rows = []
    for model, per_seed in acc.items():
        for size in sizes:
            for seed, a in enumerate(per_seed):
                rows.append(dict(regime="finetune", dataset="d", model=model, init="pretrained",
                                 freeze="all", size=size, layer="", classifier="", seed=seed,
                                 accuracy=a if size == "all" else 0.1))  # fmt: skip
    return pd.DataFrame(rows)


def _best(models) -> pd.DataFrame:
    return pd.DataFrame(
        [
            dict(dataset="d", model=m, pool="pretrained", regime="finetune", setting="freeze all")
            for m in models
        ]  # fmt: skip
    )


def _merged(scores: dict, acc: dict) -> pd.DataFrame:
    return pd.DataFrame(
        [
            dict(dataset="d", model=m, logme=s, finetune_accuracy=np.mean(acc[m]))
            for m, s in scores.items()
        ]  # fmt: skip
    )


def _taus(merged):
    return pd.DataFrame(
        [{"dataset": "d", "score": "logme", "n_models": len(merged),
          "weighted_tau": weighted_tau(merged["logme"], merged["finetune_accuracy"])}]
    )  # fmt: skip


def test_per_seed_accuracy_takes_the_chosen_setting_at_the_largest_size():
    acc = {"a": [0.9, 0.8, 0.7], "b": [0.5, 0.6, 0.7]}
    table = ti.per_seed_accuracy(_runs(acc), _best(acc))["d"]
    assert table.loc["a"].tolist() == [0.9, 0.8, 0.7] and table.shape == (2, 3)


def test_interval_is_a_point_when_seeds_agree_and_wide_when_they_flip_the_order():
    scores = {"a": 4.0, "b": 3.0, "c": 2.0, "e": 1.0}
    steady = {"a": [0.9] * 3, "b": [0.8] * 3, "c": [0.7] * 3, "e": [0.6] * 3}
    merged = _merged(scores, steady)
    row = ti.finish(_taus(merged), merged, weighted_tau, _runs(steady), _best(steady)).iloc[0]
    assert row["weighted_tau"] == pytest.approx(1.0)
    assert row["tau_ci95_low"] == pytest.approx(1.0) and row["tau_ci95_high"] == pytest.approx(1.0)
    assert row["n_models"] == 4 and row["n_seeds"] == 3 and row["note"] == ""
    # Seed 2 reverses the order of every model: the resamples disagree about the ranking.
    noisy = {"a": [0.9, 0.9, 0.5], "b": [0.8, 0.8, 0.6], "c": [0.7, 0.7, 0.7], "e": [0.6, 0.6, 0.9]}
    merged = _merged(scores, noisy)
    row = ti.finish(_taus(merged), merged, weighted_tau, _runs(noisy), _best(noisy)).iloc[0]
    assert row["tau_ci95_low"] < 0 < row["tau_ci95_high"]
    assert row["tau_ci95_low"] <= row["weighted_tau"] <= row["tau_ci95_high"]


def test_tau_is_not_reported_below_three_models_and_says_why():
    scores, acc = {"a": 2.0, "b": 1.0}, {"a": [0.9, 0.8, 0.85], "b": [0.7, 0.6, 0.65]}
    merged = _merged(scores, acc)
    assert _taus(merged)["weighted_tau"].iloc[0] == pytest.approx(1.0)  # +-1 by construction
    row = ti.finish(_taus(merged), merged, weighted_tau, _runs(acc), _best(acc)).iloc[0]
    assert np.isnan(row["weighted_tau"]) and np.isnan(row["tau_ci95_low"])
    assert "fewer than 3 models" in row["note"]


def test_bootstrap_is_reproducible_and_ignores_models_without_a_score():
    acc = pd.DataFrame([[0.9, 0.8, 0.85], [0.7, 0.75, 0.9], [0.6, 0.7, 0.65], [0.5, 0.5, 0.5]],
                       index=list("abce"))  # fmt: skip
    scores = pd.Series({"a": 3.0, "b": 2.0, "c": 1.0, "e": np.nan})
    first = ti.bootstrap_tau(scores, acc, weighted_tau)
    assert first == ti.bootstrap_tau(scores, acc, weighted_tau)
    assert first == ti.bootstrap_tau(scores, acc.drop(index="e"), weighted_tau)


def test_one_tau_per_distinct_order_gives_the_loops_interval():
    """bootstrap_tau computes tau once per distinct order of the resampled means; the
    interval is the one a plain loop over every replicate gives."""
    import numpy as np
    import pandas as pd

    from transfer_atlas.results.transferability import weighted_tau
    from transfer_atlas.results.stats.tau_intervals import bootstrap_tau

    rng = np.random.default_rng(3)
    models = [f"m{i}" for i in range(5)]
    acc = pd.DataFrame(rng.integers(0, 4, size=(5, 4)) / 4, index=models)  # ties too
    scores = pd.Series(rng.normal(size=5), index=models)
    draws = np.random.default_rng(0).integers(0, 4, size=(300, 4))
    means = acc.to_numpy()[:, draws].mean(axis=2)
    loop = [weighted_tau(scores.to_numpy(), means[:, b]) for b in range(300)]
    expected = tuple(float(v) for v in np.nanpercentile(loop, [2.5, 97.5]))
    assert bootstrap_tau(scores, acc, weighted_tau, replicates=300, seed=0) == expected
