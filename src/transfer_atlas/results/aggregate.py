"""Aggregate run records into tidy tables with honest uncertainty.

``runs`` has one row per job. ``summary`` has one row per cell (every grid
coordinate except the seed) with the number of runs, mean, standard deviation and
a 95% t-interval per metric, and the gain over the from-scratch baseline paired by
seed (same dataset, model, size and seed). Column types: ``transfer_atlas.results.tables``,
which also reads the tables back.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from transfer_atlas.results import tables
from transfer_atlas.results.stats.paired import exact_differences, holm, signed_rank_p
from transfer_atlas.spec.names import ADAPT_METHODS

CELL = ["regime", "dataset", "model", "init", "freeze", "size", "layer", "classifier"]
SUMMARY_METRICS = [
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "cohen_kappa",
    "accuracy_density",
    "train_s",
    "latency_ms",
]


#: Columns copied as they are from a record's top level, its metrics and its timing.
RECORD_KEYS = ("study", "regime", "dataset", "model", "arch", "init", "freeze",
               "freeze_groups", "n_groups", "size", "n_train", "seed", "num_classes",
               "size_bytes", "flops")  # fmt: skip
METRIC_KEYS = ("accuracy", "balanced_accuracy", "macro_precision", "macro_recall", "macro_f1",
               "cohen_kappa", "accuracy_density", "n_test")  # fmt: skip
TIMING_KEYS = ("train_s", "throughput_img_s", "latency_ms", "epochs_run", "best_epoch",
               "startup", "fixed_cost_s", "total_s", "prefix_cached")  # fmt: skip


def flatten(rec: dict, path: str = "") -> dict:
    """One ``runs`` row of a record; its training settings as ``train_<key>`` columns."""
    m, t = rec["metrics"], rec["timing"]
    row = {k: rec[k] for k in RECORD_KEYS}
    row.update({k: m[k] for k in METRIC_KEYS})
    # The final model's validation accuracy: what best settings are chosen by (NaN in
    # records from before it was recorded; results.views.best_settings refuses those).
    row["val_accuracy"] = m.get("val_accuracy", np.nan)
    row["n_val"] = rec.get("n_val", -1)  # -1: a record from before n_val was recorded
    row["prefix_s"] = t.get("prefix_s", 0.0)  # already inside train_s
    row["peak_rss_mb"] = t.get("peak_rss_mb", np.nan)  # NaN: features records, older runs
    row.update({k: t[k] for k in TIMING_KEYS})
    row.update(_costs_and_provenance(rec))
    row.update(confusion_matrix=json.dumps(m["confusion_matrix"]),
               curve=json.dumps(rec["curve"]), record=path)  # fmt: skip
    # Features regime: which cached layer and which classifier ("" for fine-tuning).
    feats = rec.get("features") or {}
    row.update(
        layer=feats.get("layer", ""),
        classifier=feats.get("classifier", ""),
        extract_s=feats.get("extract_s", np.nan),
    )
    row.update(tables.train_columns(rec["train"]))
    return row


def _costs_and_provenance(rec: dict) -> dict:
    """Parameters, what a task stores, the adaptation method, and where the run came from."""
    p = rec["provenance"]
    return dict(
        params_total=rec["params"]["total"],
        params_trainable=rec["params"]["trainable"],
        # trainable / total (LoRA: adapters + head over the merged model's parameters)
        trainable_fraction=rec["params"]["trainable"] / rec["params"]["total"],
        # What one task stores beside the backbone (NaN: a record from before it was).
        task_bytes=rec.get("task_bytes", np.nan),
        # The adaptation method; "freeze" for a freeze-depth (or scratch) fine-tune run.
        adapt=rec.get("adapt", "freeze" if rec["regime"] == "finetune" else ""),
        device=p["device"].get("name"),
        dataset_fingerprint=p["dataset_fingerprint"],
        weights_sha256=p["weights_sha256"],
        config_hash=p["config_hash"],
        code_version=p["code_version"],
        torch=p["versions"].get("torch"),
    )


def runs_frame(rows: list[dict]) -> pd.DataFrame:
    """The ``runs`` table of flattened records: sorted, with the documented column types."""
    df = tables.typed(pd.DataFrame(rows))
    return df.sort_values(
        ["regime", "dataset", "model", "init", "freeze", "n_train", "seed"], kind="stable"
    ).reset_index(drop=True)


def load_runs(paths) -> pd.DataFrame:
    rows = [flatten(json.loads(Path(p).read_text()), str(p)) for p in paths]
    if not rows:
        raise ValueError("no run records to aggregate")
    return runs_frame(rows)


def t_critical(n: np.ndarray) -> np.ndarray:
    """Two-sided 95% Student-t critical values for n samples (NaN where n < 2)."""
    from scipy import stats

    n = np.asarray(n, dtype=float)
    out = np.full(n.shape, np.nan)
    ok = n >= 2
    out[ok] = stats.t.ppf(0.975, n[ok] - 1)
    return out


def _describe(groups, column: str) -> pd.DataFrame:
    g = groups[column]
    out = pd.DataFrame({f"{column}_mean": g.mean(), f"{column}_std": g.std(ddof=1)})
    n = g.count()
    half = t_critical(n.to_numpy()) * out[f"{column}_std"] / np.sqrt(n)
    out[f"{column}_ci95_low"] = out[f"{column}_mean"] - half
    out[f"{column}_ci95_high"] = out[f"{column}_mean"] + half
    return out


def paired_gain(runs: pd.DataFrame) -> pd.DataFrame:
    """Per pretrained run: accuracy minus the scratch run with the same dataset/model/size/seed."""
    scratch = runs[runs["init"] == "scratch"][["dataset", "model", "size", "seed", "accuracy"]]
    pre = runs[runs["init"] == "pretrained"]
    merged = pre.merge(scratch, on=["dataset", "model", "size", "seed"], suffixes=("", "_scratch"))
    merged["gain"] = merged["accuracy"] - merged["accuracy_scratch"]
    # the same differences as exact integers (counts over the test split): ties stay ties
    merged["gain_exact"] = exact_differences(merged["accuracy"], merged["accuracy_scratch"])
    return merged


def gain_tests(gains: pd.DataFrame) -> pd.DataFrame:
    """Per cell: Wilcoxon signed-rank p of the seed-paired gains, Holm-adjusted per regime.

    The family is every cell of one regime (the gain heatmap shows the fine-tune one), so
    a star survives the number of cells drawn. ``gain_n_tested`` counts the nonzero
    differences (the test drops zeros); with k of them no p can be below 2 / 2**k.
    """

    def test(d: pd.Series) -> pd.Series:
        diff = list(d)
        return pd.Series(
            {"gain_p": signed_rank_p(diff), "gain_n_tested": sum(v != 0 for v in diff)}
        )

    out = gains.groupby(CELL, sort=False)["gain_exact"].apply(test).unstack()
    out["gain_n_tested"] = out["gain_n_tested"].astype("int64")
    out["gain_p_holm"] = np.nan
    for _, idx in out.groupby(level="regime").groups.items():
        out.loc[idx, "gain_p_holm"] = holm(out.loc[idx, "gain_p"])
    return out


GAIN_COLUMNS = ["gain_mean", "gain_std", "gain_ci95_low", "gain_ci95_high", "gain_n_pairs",
                "gain_n_tested", "gain_p", "gain_p_holm"]  # fmt: skip


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    groups = runs.groupby(CELL, sort=False)
    parts = [groups.size().rename("n_runs"), groups["n_train"].first()]
    parts += [_describe(groups, c) for c in SUMMARY_METRICS]
    summary = pd.concat(parts, axis=1)
    gains = paired_gain(runs)
    if len(gains):
        g = _describe(gains.groupby(CELL, sort=False), "gain")
        g["gain_n_pairs"] = gains.groupby(CELL, sort=False).size()
        summary = summary.join(g).join(gain_tests(gains))
    else:  # no scratch baselines (e.g. study 000): the gain columns exist, empty
        for col in GAIN_COLUMNS:
            summary[col] = np.nan
    return summary.reset_index()


def size_order(sizes) -> list[str]:
    """Training sizes sorted numerically, with ``all`` last."""
    return sorted(set(map(str, sizes)), key=lambda s: (s == "all", int(s) if s != "all" else 0))


def freeze_order(values) -> list[str]:
    """Freeze depths numerically, then ``all``, then the adaptation methods in
    ``ADAPT_METHODS`` order (they share the freeze slot)."""

    def key(s):
        if s.isdigit():
            return (0, int(s))
        return (1, 0) if s == "all" else (2, ADAPT_METHODS.index(s))

    return sorted(set(map(str, values)), key=key)
