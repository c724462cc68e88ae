"""What a shortlist cost (an audit ran the full grid too): regret and weighted tau on one
pool, per training size.

The **pool** is the pretrained models, each at its pretrained setting chosen on validation
(``best_settings.csv``, pool ``pretrained``): what the scores rank. Scratch is not in it:
no score ranks it; its best (on validation) is shown beside. Per target x size x seed,
the full grid's pick and the shortlist's pick are the models with the highest validation
accuracy among the pool and among that subset's shortlisted models; **regret** is the
test accuracy of the first minus the second, averaged over seeds (0 when the shortlist
kept the winner). **tau** is the weighted Kendall tau (top ranks weigh most) between the
shortlist score (mean over seeds of each subset's score) and the pool's test accuracy
(mean over seeds) at that size. The test split never chooses.
"""

from __future__ import annotations

import pandas as pd

from transfer_atlas.results.shortlist import selected_cells

COLUMNS = ["dataset", "size", "n_seeds", "full_grid_best", "full_grid_accuracy",
           "shortlist_best", "shortlist_accuracy", "regret", "weighted_tau", "scratch_best",
           "scratch_accuracy"]  # fmt: skip


def _pick(runs: pd.DataFrame) -> pd.Series | None:
    if not len(runs):
        return None
    return runs.sort_values(["val_accuracy", "model"], ascending=[False, True]).iloc[0]


def _names(picks) -> str:
    return ", ".join(sorted({f"{p['model']} ({p['setting']})" for p in picks}))


def _scratch(r: pd.DataFrame) -> tuple[str, float]:
    s = r[r["init"] == "scratch"].groupby("model")[["val_accuracy", "accuracy"]].mean()
    if not len(s):
        return "", float("nan")
    top = s.sort_values("val_accuracy", ascending=False, kind="stable").index[0]
    return f"{top} (scratch)", float(s.loc[top, "accuracy"])


def _size_row(dataset, size, pool, r, keep, table):
    from transfer_atlas.results.ranking import weighted_tau

    full, short = [], []
    for seed, g in pool.groupby("seed", sort=True):
        mine = g[[(dataset, m, size, int(seed)) in keep for m in g["model"]]]
        f, s = _pick(g), _pick(mine)
        if f is not None and s is not None:
            full.append(f)
            short.append(s)
    if not full:
        return None
    scores = table[(table["dataset"] == dataset) & (table["size"] == size)]
    mean_score = scores.groupby("model")["score"].mean()
    acc = pool.groupby("model")["accuracy"].mean()
    both = pd.concat([mean_score, acc], axis=1, join="inner")
    scratch_best, scratch_acc = _scratch(r)
    f_acc = sum(p["accuracy"] for p in full) / len(full)
    s_acc = sum(p["accuracy"] for p in short) / len(short)
    return dict(dataset=dataset, size=size, n_seeds=len(full), full_grid_best=_names(full),
                full_grid_accuracy=f_acc, shortlist_best=_names(short), shortlist_accuracy=s_acc,
                regret=f_acc - s_acc, weighted_tau=weighted_tau(both.iloc[:, 0], both.iloc[:, 1]),
                scratch_best=scratch_best, scratch_accuracy=scratch_acc)  # fmt: skip


def regret(table: pd.DataFrame, runs: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
    """One row per target x size (``table``: results/shortlist.csv; ``runs``: the audit's
    full grid; ``best``: results/best_settings.csv)."""
    from transfer_atlas.results.aggregate import size_order
    from transfer_atlas.results.views import run_settings

    r = run_settings(runs)
    keys = best.loc[best["pool"] == "pretrained", ["dataset", "model", "setting"]]
    pool = r.merge(keys, on=["dataset", "model", "setting"])
    pool = pool[pool["init"] == "pretrained"]
    keep = selected_cells(table)
    table = table.assign(size=table["size"].astype(str))
    rows = []
    for dataset, rd in r.groupby("dataset", sort=True):
        for size in size_order(rd["size"]):
            p = pool[(pool["dataset"] == dataset) & (pool["size"] == size)]
            row = _size_row(dataset, size, p, rd[rd["size"] == size], keep, table)
            if row:
                rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)
