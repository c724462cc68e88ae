"""Shortlist mode: fine-tune only the k models a selection score ranks highest per target.

``select`` ranks every scored model per target by one score (from the transferability
jobs, which read the target's *training split* only: no test data chooses) and marks the
top ``k`` as selected: results/shortlist.csv. ``savings`` says what skipping the rest
saved, ``regret`` (when an audit also ran the full grid) what it cost in accuracy.
"""

from __future__ import annotations

import json

import numpy as np

COLUMNS = ["dataset", "model", "by", "score", "rank", "selected", "finetune_jobs"]


def select(score_paths, by: str, k: int, jobs: dict | None = None):
    """One row per dataset x model: its ``by`` score, rank (1 = best) and whether it is in
    the top ``k``. Ties keep the model names' order, so the choice is reproducible.
    ``jobs``: ``"dataset/model"`` -> its fine-tune jobs in the full grid (for ``savings``)."""
    import pandas as pd

    rows = []
    for path in score_paths:
        rec = json.loads(open(path).read())
        if by not in rec["scores"]:
            raise ValueError(f"{path}: no '{by}' score (a record from an older version?)")
        value = float(rec["scores"][by])
        if np.isnan(value):
            raise ValueError(f"{path}: the '{by}' score is NaN, so it cannot rank this model")
        key = f"{rec['dataset']}/{rec['model']}"
        n_jobs = (jobs or {}).get(key, 0)
        rows.append({"dataset": rec["dataset"], "model": rec["model"], "by": by, "score": value})
        rows[-1]["finetune_jobs"] = n_jobs
    table = pd.DataFrame(rows, columns=["dataset", "model", "by", "score", "finetune_jobs"])
    table = table.sort_values(["dataset", "score", "model"], ascending=[True, False, True])
    table["rank"] = table.groupby("dataset").cumcount() + 1
    table["selected"] = table["rank"] <= k
    return table[COLUMNS].reset_index(drop=True)


def selected_pairs(table) -> set:
    """{(dataset, model)} the shortlist keeps."""
    kept = table[table["selected"].astype(bool)]
    return set(zip(kept["dataset"], kept["model"], strict=True))


def savings(table, runs=None) -> dict:
    """Fine-tune jobs run and skipped; given the runs table of an audit (the full grid), also
    the measured wall time of each part (sum of per-job ``total_s``)."""
    sel = table["selected"].astype(bool)
    out = {
        "jobs_total": int(table["finetune_jobs"].sum()),
        "jobs_skipped": int(table.loc[~sel, "finetune_jobs"].sum()),
    }
    if runs is not None and len(runs):
        ft = runs[runs["regime"] == "finetune"]
        keep = selected_pairs(table)
        kept = [(d, m) in keep for d, m in zip(ft["dataset"], ft["model"], strict=True)]
        out["seconds_total"] = float(ft["total_s"].sum())
        out["seconds_skipped"] = float(ft.loc[~np.array(kept, bool), "total_s"].sum())
    return out


def regret(table, best):
    """Per target: the best fine-tuned model of the shortlist and of the full grid, each
    chosen on validation accuracy (``best``: results/best_settings.csv, pool ``finetune``:
    every init and freeze; accuracies are means over training sizes), their test accuracy,
    and the regret (full grid minus shortlist; 0 when the shortlist kept the winner)."""
    import pandas as pd

    pool = best[best["pool"] == "finetune"]
    keep = selected_pairs(table)
    rows = []
    for dataset, g in pool.groupby("dataset", sort=True):
        g = g.sort_values(["val_accuracy_mean", "model"], ascending=[False, True], kind="stable")
        mine = g[[(dataset, m) in keep for m in g["model"]]]
        if not len(mine):
            continue
        full, short = g.iloc[0], mine.iloc[0]
        rows.append(
            {
                "dataset": dataset,
                "full_grid_best": f"{full['model']} ({full['setting']})",
                "full_grid_accuracy": float(full["accuracy_mean"]),
                "shortlist_best": f"{short['model']} ({short['setting']})",
                "shortlist_accuracy": float(short["accuracy_mean"]),
                "regret": float(full["accuracy_mean"] - short["accuracy_mean"]),
            }
        )
    return pd.DataFrame(rows)
