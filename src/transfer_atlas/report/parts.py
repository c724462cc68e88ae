"""Pieces of the HTML report that keep it small and honest at thousands of runs.

- ``pack_figures``: the figures' data sets are taken out of their specs, stored once
  (Altair names a data set by a hash of its content, so figures drawing the same table
  share it) and column-wise (keys are not repeated per row, repeated names are stored
  once per column); the page rebuilds rows.
- ``summary_rows``: the summary table as columns for the page to filter and show.
- ``claims``: the sentences saying which model beats which, each with its test.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from transfer_atlas.results.aggregate import size_order
from transfer_atlas.results.stats.comparisons import claim
from transfer_atlas.results.views import ALL, METRICS, compact, finetune_cells, setting_order


def _encode(values: list):
    """A column as stored in the page: a string column with few distinct values becomes
    ``{"levels": [...], "codes": [...]}`` (names like datasets and models repeat per row)."""
    if not values or not all(isinstance(v, str) for v in values):
        return values
    levels = list(dict.fromkeys(values))
    if len(levels) * 2 > len(values):
        return values
    code = {v: i for i, v in enumerate(levels)}
    return {"levels": levels, "codes": [code[v] for v in values]}


def _columns(records: list[dict]) -> dict:
    cols: list[str] = []
    for r in records:
        for k in r:
            if k not in cols:
                cols.append(k)
    return {"columns": cols, "values": [_encode([r.get(c) for r in records]) for c in cols]}


def pack_figures(specs: dict[str, dict]) -> tuple[dict, dict]:
    """Return (specs without inline data sets, shared column-wise data sets)."""
    shared, out = {}, {}
    for name, spec in specs.items():
        spec = dict(spec)
        datasets = spec.pop("datasets", {}) or {}
        for key, records in datasets.items():
            if key not in shared:
                shared[key] = _columns(records)
        spec["usermeta"] = {**spec.get("usermeta", {}), "datasets": sorted(datasets)}
        out[name] = spec
    return out, shared


def controls_of(spec: dict) -> list[str]:
    """Which report selections (dataset / model / metric) a figure spec declares."""
    return [p["name"] for p in spec.get("params", []) if p.get("name") in METRICS_PARAMS]


METRICS_PARAMS = ("dataset", "model", "metric")

SUMMARY_COLUMNS = [
    ("dataset", "dataset"),
    ("model", "model"),
    ("setting", "setting"),
    ("size", "size"),
    ("n_train", "train examples"),
    ("n_runs", "n runs"),
]


def summary_rows(summary: pd.DataFrame) -> dict:
    """The per-cell table: identity, n, then mean / 95% CI per metric, gain with its n."""
    cells = finetune_cells(summary)
    sizes = {s: i for i, s in enumerate(size_order(cells["size"]))}
    settings = {s: i for i, s in enumerate(setting_order(cells["setting"]))}
    cells = cells.assign(
        _s=cells["size"].map(sizes), _f=cells["setting"].map(settings)
    ).sort_values(["dataset", "model", "_f", "_s"])
    cols = [c for c, _ in SUMMARY_COLUMNS]
    for m in METRICS + ["train_s", "latency_ms"]:
        cols += [f"{m}_mean", f"{m}_ci95_low", f"{m}_ci95_high"]
    cols += ["gain_mean", "gain_ci95_low", "gain_ci95_high", "gain_n_pairs"]
    df = compact(cells[[c for c in cols if c in cells]])
    return {
        "columns": list(df.columns),
        "values": [[_json_value(v) for v in df[c]] for c in df.columns],
    }


def _json_value(v):
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(v) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def choices(summary: pd.DataFrame) -> dict:
    cells = summary[summary["regime"] == "finetune"]
    return {
        "dataset": [ALL] + sorted(cells["dataset"].unique().tolist()),
        "model": [ALL] + sorted(cells["model"].unique().tolist()),
        "metric": list(METRICS),
    }


def _comparison(comparisons: pd.DataFrame, dataset: str, a: str, b: str) -> pd.DataFrame:
    """The row comparing models ``a`` and ``b`` on ``dataset`` (either order)."""
    c = comparisons
    pair = ((c["model_a"] == a) & (c["model_b"] == b)) | ((c["model_a"] == b) & (c["model_b"] == a))
    return c[(c["dataset"] == dataset) & pair]


def claims(comparisons: pd.DataFrame, ranking: pd.DataFrame) -> list[dict]:
    """Per dataset: the top model and, for every other model, whether the test backs it.

    ``ranking`` has dataset, model, setting and the mean validation and test accuracy over
    all (size, seed) pairs; the top model is the one validation ranks first (the test
    split only reports); ``comparisons`` is ``stats.compare_models``' table.
    """
    out = []
    for dataset, grp in ranking.groupby("dataset", sort=True):
        grp = grp.sort_values(["val_mean", "model"], ascending=[False, True])
        top = grp.iloc[0]
        lines = []
        for other in grp.iloc[1:].itertuples():
            c = _comparison(comparisons, dataset, top["model"], other.model)
            if c.empty:
                continue
            c = c.iloc[0]
            flip = c["model_a"] != top["model"]
            wins = (c["wins_b"], c["wins_a"]) if flip else (c["wins_a"], c["wins_b"])
            diff = -c["mean_diff"] if flip else c["mean_diff"]
            verb, direction = claim(top["model"], other.model, c["verdict"], diff)
            lines.append(
                {
                    "other": other.model,
                    "beats": verb == "beats",
                    "loses": verb == "is significantly worse than",
                    "verb": verb,
                    "direction": direction,
                    "diff": diff,
                    "wins": wins,
                    "n": int(c["n_pairs"]),
                    "n_tested": int(c["n_tested"]),
                    "p": c["p"],
                    "p_holm": c["p_holm"],
                }
            )
        out.append(
            {
                "dataset": dataset,
                "top": top["model"],
                "setting": top["setting"],
                "mean": top["mean"],
                "val_mean": top["val_mean"],
                "n": int(top["n"]),
                "tied": [t for t in str(top.get("tied") or "").split("; ") if t],
                "tie_p": top.get("tie_p"),
                "lines": lines,
            }
        )
    return out


def ranking_table(runs: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
    """Mean test and validation accuracy per dataset x model at its best setting, over all
    (size, seed) runs."""
    from transfer_atlas.results.views import finetune_keys, run_settings

    r = run_settings(runs).merge(finetune_keys(best), on=["dataset", "model", "setting"])
    out = (
        r.groupby(["dataset", "model", "setting"])
        .agg(mean=("accuracy", "mean"), val_mean=("val_accuracy", "mean"), n=("accuracy", "count"))
        .reset_index()
    )
    ties = best.loc[best["pool"] == "finetune", ["dataset", "model"]].assign(
        tied=best.get("tied", pd.Series("", index=best.index)).fillna(""),
        tie_p=best.get("tie_p", pd.Series(np.nan, index=best.index)),
    )
    return out.merge(ties, on=["dataset", "model"], how="left")


def section_bytes(
    explore: list[dict], mistakes: list[dict], pictures: list[dict], maps_bytes: int
) -> dict[str, int]:
    """The bulk of each picture section: its embedded PNGs, or the 2-D maps' spec and data
    as the page stores them (``maps_bytes``, from ``report.build``); the HTML around them
    is a few kB more (README gives sizes measured with and without)."""

    def pngs(obj) -> int:
        if isinstance(obj, dict):
            return sum(len(v) if k == "png" or k in ("filters", "image") else pngs(v)
                       for k, v in obj.items() if v is not None)  # fmt: skip
        if isinstance(obj, list):
            return sum(pngs(v) for v in obj)
        return 0

    return {
        "sample images (PNG)": pngs(explore),
        "2-D maps (spec + data)": maps_bytes,
        "confidently wrong images (PNG)": pngs(mistakes),
        "filters and feature maps (PNG)": pngs(pictures),
    }
