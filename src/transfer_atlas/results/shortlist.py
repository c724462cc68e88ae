"""Shortlist mode, the results side: fine-tune only the k models a selection score ranks
highest (``checkpoint shortlist``, workflow/rules/shortlist.smk; the config checks are in
``spec.shortlist``, the report's section in ``report.shortlist_part``).

``select`` ranks every scored model per target x training size x seed by one score,
computed on *that* training subset (the n images the fine-tunes of that size and seed
train on: ``features.transferability_job.subset_scores``), so a shortlist for 8 labels
never looked at more than those 8; it marks the top ``k`` as selected:
results/shortlist.csv (:func:`main`, the job). :func:`kept_cells` is what the aggregate
rule reads back. ``savings`` says what skipping the rest saved; :func:`regret` (when an
audit also ran the full grid) what it cost in accuracy, per size, on the pretrained pool.

**Regret.** The pool is the pretrained models, each at its pretrained setting chosen on
validation (``best_settings.csv``, pool ``pretrained``): what the scores rank. Scratch is
not in it: no score ranks it; its best (on validation) is shown beside. Per target x size
x seed, the full grid's pick and the shortlist's pick are the models with the highest
validation accuracy among the pool and among that subset's shortlisted models; regret is
the test accuracy of the first minus the second, averaged over seeds (0 when the shortlist
kept the winner). ``weighted_tau`` is the weighted Kendall tau (top ranks weigh most)
between the shortlist score (mean over seeds of each subset's score) and the pool's test
accuracy (mean over seeds) at that size. The test split never chooses.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

COLUMNS = ["dataset", "size", "seed", "model", "by", "score", "rank", "selected",
           "finetune_jobs"]  # fmt: skip
CELL = ["dataset", "size", "seed"]
REGRET_COLUMNS = ["dataset", "size", "n_seeds", "full_grid_best", "full_grid_accuracy",
                  "shortlist_best", "shortlist_accuracy", "regret", "weighted_tau",
                  "scratch_best", "scratch_accuracy"]  # fmt: skip


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


def cells(table):
    """(dataset, model, size, seed) of each row of a shortlist or runs table."""
    return zip(table["dataset"], table["model"], table["size"].astype(str),
               table["seed"].astype(int), strict=True)  # fmt: skip


def selected_cells(table) -> set:
    """{(dataset, model, size, seed)} the shortlist fine-tunes."""
    return set(cells(table[table["selected"].astype(bool)]))


def kept_cells(path, finetune_cells) -> list[dict]:
    """The fine-tune cells (``Study.finetune_cells()``: dicts with dataset, model, size,
    seed...) that results/shortlist.csv at ``path`` keeps: what the aggregate reads."""
    kept = selected_cells(read(path))
    return [c for c in finetune_cells
            if (c["dataset"], c["model"], str(c["size"]), int(c["seed"])) in kept]  # fmt: skip


def is_audit(table, runs) -> bool:
    """Whether an audit ran the full grid: every skipped cell has fine-tune runs too."""
    ft = runs[runs["regime"] == "finetune"] if "regime" in runs else runs[:0]
    ran = set(cells(ft))
    skipped = list(cells(table[~table["selected"].astype(bool)]))
    return len(skipped) > 0 and all(c in ran for c in skipped)


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
        kept = np.array([c in keep for c in cells(ft)], bool)
        out["seconds_total"] = float(ft["total_s"].sum())
        out["seconds_skipped"] = float(ft.loc[~kept, "total_s"].sum())
    return out


def _pick(runs):
    if not len(runs):
        return None
    return runs.sort_values(["val_accuracy", "model"], ascending=[False, True]).iloc[0]


def _names(picks) -> str:
    return ", ".join(sorted({f"{p['model']} ({p['setting']})" for p in picks}))


def _scratch(r) -> tuple[str, float]:
    s = r[r["init"] == "scratch"].groupby("model")[["val_accuracy", "accuracy"]].mean()
    if not len(s):
        return "", float("nan")
    top = s.sort_values("val_accuracy", ascending=False, kind="stable").index[0]
    return f"{top} (scratch)", float(s.loc[top, "accuracy"])


def _size_row(dataset, size, pool, r, keep, table):
    from transfer_atlas.results.transferability import weighted_tau

    full, short = [], []
    for seed, g in pool.groupby("seed", sort=True):
        mine = g[[(dataset, m, size, int(seed)) in keep for m in g["model"]]]
        f, s = _pick(g), _pick(mine)
        if f is not None and s is not None:
            full.append(f)
            short.append(s)
    if not full:
        return None
    import pandas as pd

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


def regret(table, runs, best):
    """One row per target x size (``table``: results/shortlist.csv; ``runs``: the audit's
    full grid; ``best``: results/best_settings.csv)."""
    import pandas as pd

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
    return pd.DataFrame(rows, columns=REGRET_COLUMNS)


def main(argv: list[str] | None = None) -> int:
    """Rank every scored model per target x size x seed by one score on that training
    subset; mark the top k (results/shortlist.csv)."""
    from transfer_atlas.core import atomic

    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("--scores", nargs="+", required=True, help="per model x dataset score JSONs")
    p.add_argument("--by", required=True, help="the score that ranks (higher = better)")
    p.add_argument("--k", type=int, required=True, help="models kept per target")
    p.add_argument("--jobs", default="{}", help='JSON: "dataset/model/size/seed" -> fine-tune jobs')
    p.add_argument("--out", required=True, help="output shortlist.csv")
    args = p.parse_args(argv)
    try:
        table = select(args.scores, args.by, args.k, json.loads(args.jobs))
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    atomic.write_csv(args.out, table)
    print(table.to_string(index=False))
    return 0
