"""Across targets: settings compared over every target x model x size at once, the view
that still says something with 3-10 seeds per cell (Agarwal et al., "Deep reinforcement
learning at the edge of the statistical precipice", NeurIPS 2021; the ``rliable`` method).

A **task** is one (target, model, training size); its **runs** are the seeds. Per setting
(scratch, each freeze depth, each adaptation method) on test accuracy:

- **IQM**: the interquartile mean of every run of every task (``scipy.stats.trim_mean``
  cutting 25% at each end, as ``rliable.metrics.aggregate_iqm``): robust to a few
  outlying runs, less noisy than the median.
- **P(X > Y)**, the probability of improvement of setting X over the reference Y (full
  fine-tuning, ``freeze 0``): per task shared by both, the probability that a random run
  of X beats a random run of Y (Mann-Whitney U / (n_x n_y), ties count one half), averaged
  over those tasks (``rliable.metrics.probability_of_improvement``).
- **95% intervals**: percentile intervals of the **stratified bootstrap**: each replicate
  resamples, with replacement, the seeds *within* every task (the tasks themselves stay
  fixed), ``REPS`` replicates, a fixed generator seed. They cover seed-to-seed variation
  (subset, head initialisation, data order), not the choice of targets, models or sizes.

Written with numpy and scipy rather than by importing ``rliable``: the package pulls in
``arch``, ``statsmodels``, ``matplotlib``, ``seaborn`` and ``absl-py`` (13 packages) for
these three short functions, and the report job would import them all.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

REPS = 2000
SEED = 0
REFERENCE = "freeze 0"
COLUMNS = ["statistic", "setting", "versus", "estimate", "ci95_low", "ci95_high", "n_tasks",
           "n_runs", "reps", "metric"]  # fmt: skip


def iqm(values: np.ndarray, axis=None) -> np.ndarray:
    from scipy.stats import trim_mean

    return trim_mean(values, 0.25, axis=axis)


def _resampled(tasks: list[np.ndarray], rng, reps: int) -> list[np.ndarray]:
    """Per task, ``reps`` resamples of its runs (with replacement): (reps, n_task) each."""
    return [t[rng.integers(0, len(t), size=(reps, len(t)))] for t in tasks]


def _improvement(x: list[np.ndarray], y: list[np.ndarray]) -> np.ndarray:
    """Mean over tasks of P(run of X > run of Y) + P(tie) / 2; arrays (..., n) per task."""
    per_task = []
    for a, b in zip(x, y, strict=True):
        a, b = a[..., :, None], b[..., None, :]
        per_task.append(((a > b) + 0.5 * (a == b)).mean(axis=(-2, -1)))
    return np.mean(per_task, axis=0)


def _tasks(runs: pd.DataFrame, metric: str) -> dict[str, dict[tuple, np.ndarray]]:
    from transfer_atlas.results.views import run_settings

    r = run_settings(runs)
    out: dict[str, dict[tuple, np.ndarray]] = {}
    for (setting, d, m, n), g in r.groupby(["setting", "dataset", "model", "size"], sort=True):
        out.setdefault(setting, {})[(d, m, n)] = g[metric].to_numpy(dtype=float)
    return out


def _row(stat, setting, versus, point, boot, n_tasks, runs, metric):
    low, high = np.percentile(boot, [2.5, 97.5])
    n_runs = sum(len(t) for t in runs)
    return dict(statistic=stat, setting=setting, versus=versus, estimate=float(point),
                ci95_low=float(low), ci95_high=float(high), n_tasks=n_tasks,
                n_runs=n_runs, reps=len(boot), metric=metric)  # fmt: skip


def table(runs: pd.DataFrame, metric: str = "accuracy", reps: int = REPS) -> pd.DataFrame:
    """IQM per setting and P(setting > reference) with stratified-bootstrap 95% intervals."""
    from transfer_atlas.results.views import setting_order

    by_setting = _tasks(runs, metric)
    rng = np.random.default_rng(SEED)
    rows = []
    order = setting_order(by_setting)
    for s in order:
        tasks = list(by_setting[s].values())
        boot = iqm(np.concatenate(_resampled(tasks, rng, reps), axis=1), axis=1)
        point = iqm(np.concatenate(tasks))
        rows.append(_row("iqm", s, "", point, boot, len(tasks), tasks, metric))
    ref = REFERENCE if REFERENCE in by_setting else (order[0] if order else None)
    for s in order:
        shared = sorted(set(by_setting[s]) & set(by_setting.get(ref, {})))
        if s == ref or not shared:
            continue
        x = [by_setting[s][k] for k in shared]
        y = [by_setting[ref][k] for k in shared]
        boot = _improvement(_resampled(x, rng, reps), _resampled(y, rng, reps))
        point = _improvement(x, y)
        rows.append(_row("probability_of_improvement", s, ref, point, boot, len(x), x + y, metric))
    return pd.DataFrame(rows, columns=COLUMNS)


def main(argv: list[str] | None = None) -> int:
    """Write results/across_targets.csv (IQM and probability of improvement per setting)."""
    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("--runs", required=True, help="runs.parquet")
    p.add_argument("--out", required=True, help="output CSV")
    args = p.parse_args(argv)
    from transfer_atlas.core import atomic
    from transfer_atlas.results.tables import read_runs

    out = table(read_runs(args.runs))
    atomic.write_csv(args.out, out)
    print(out.to_string(index=False))
    return 0
