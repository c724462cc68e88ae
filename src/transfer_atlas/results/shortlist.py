"""Shortlist mode: fine-tune only the k models a selection score ranks highest.

``select`` ranks every scored model per target x training size x seed by one score,
computed on *that* training subset (the n images the fine-tunes of that size and seed
train on: ``ranking.subset_scores``), so a shortlist for 8 labels never looked at more
than those 8; it marks the top ``k`` as selected: results/shortlist.csv. ``savings`` says
what skipping the rest saved; ``regret`` (when an audit also ran the full grid) what it
cost in accuracy, per size, on the pretrained pool (``results.shortlist_regret``).
"""

from __future__ import annotations

import json

import numpy as np

COLUMNS = ["dataset", "size", "seed", "model", "by", "score", "rank", "selected",
           "finetune_jobs"]  # fmt: skip
CELL = ["dataset", "size", "seed"]


def _subset_rows(path, by: str, jobs: dict) -> list[dict]:
    rec = json.loads(open(path).read())
    if "subsets" not in rec or not rec["subsets"]:
        raise ValueError(
            f"{path}: no per-subset scores (a record from an older version?): rerun the "
            "transferability jobs (`snakemake --forcerun transferability`)"
        )
    rows = []
    for sub in rec["subsets"]:
        if by not in sub["scores"]:
            raise ValueError(f"{path}: no '{by}' score (a record from an older version?)")
        value = float(sub["scores"][by])
        if np.isnan(value):
            raise ValueError(f"{path}: the '{by}' score is NaN, so it cannot rank this model")
        key = f"{rec['dataset']}/{rec['model']}/{sub['size']}/{sub['seed']}"
        rows.append({"dataset": rec["dataset"], "size": str(sub["size"]),
                     "seed": int(sub["seed"]), "model": rec["model"], "by": by,
                     "score": value, "finetune_jobs": jobs.get(key, 0)})  # fmt: skip
    return rows


def select(score_paths, by: str, k: int, jobs: dict | None = None):
    """One row per target x size x seed x model: its ``by`` score on that subset, rank
    (1 = best) and whether it is in that subset's top ``k``. Ties keep the model names'
    order, so the choice is reproducible. ``jobs``: ``"dataset/model/size/seed"`` -> its
    fine-tune jobs in the full grid (for ``savings``)."""
    import pandas as pd

    rows = [row for path in score_paths for row in _subset_rows(path, by, jobs or {})]
    table = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("rank", "selected")])
    table = table.sort_values(CELL + ["score", "model"], ascending=[True] * 3 + [False, True])
    table["rank"] = table.groupby(CELL).cumcount() + 1
    table["selected"] = table["rank"] <= k
    return table[COLUMNS].reset_index(drop=True)


def read(path):
    """results/shortlist.csv with its coordinates as strings (sizes may look numeric)."""
    import pandas as pd

    return pd.read_csv(path, dtype={"dataset": str, "size": str, "model": str, "by": str})


def selected_cells(table) -> set:
    """{(dataset, model, size, seed)} the shortlist fine-tunes."""
    kept = table[table["selected"].astype(bool)]
    return set(zip(kept["dataset"], kept["model"], kept["size"].astype(str),
                   kept["seed"].astype(int), strict=True))  # fmt: skip


def _cells(runs):
    return zip(runs["dataset"], runs["model"], runs["size"].astype(str),
               runs["seed"].astype(int), strict=True)  # fmt: skip


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
        keep = selected_cells(table)
        kept = np.array([c in keep for c in _cells(ft)], bool)
        out["seconds_total"] = float(ft["total_s"].sum())
        out["seconds_skipped"] = float(ft.loc[~kept, "total_s"].sum())
    return out
