"""Tables the figures draw from, derived once from the runs and the summary.

Figures never plot one mark per run: a study of thousands of runs must still give a
small report. Everything here is per cell (mean over seeds) or per model x dataset at
that model's best setting, so the size of each figure is bounded by the grid's shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from transfer_atlas.results.stats import ties
from transfer_atlas.results.aggregate import freeze_order, size_order
from transfer_atlas.spec.names import ADAPT_METHODS

# Metrics a reader can switch between in the report (summary columns <metric>_mean etc.).
METRICS = ["accuracy", "balanced_accuracy", "macro_f1", "cohen_kappa"]
ALL = "(all)"  # the report's "no filter" value for the dataset / model selections


@dataclass
class Tables:
    """What figure functions receive. ``extra`` holds tables other stages add (by name)."""

    summary: pd.DataFrame
    runs: pd.DataFrame | None = None
    class_names: dict[str, list[str]] = field(default_factory=dict)
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: results/best_settings.csv (``best_settings``); computed from ``runs`` when not given.
    best: pd.DataFrame | None = None

    def chosen(self) -> pd.DataFrame:
        if self.best is None:
            if self.runs is None:
                raise ValueError("best settings need the runs table (or best_settings.csv)")
            self.best = best_settings(self.runs)
        return self.best


def setting_label(init: str, freeze) -> str:
    """A model's training setting as one label: ``scratch``, ``freeze k`` or an
    adaptation method's name (``bitfit``, ``lora``, ...: it sits in the freeze slot)."""
    if init == "scratch":
        return "scratch"
    return str(freeze) if str(freeze) in ADAPT_METHODS else f"freeze {freeze}"


def setting_order(labels) -> list[str]:
    """Scratch, the freeze depths (shallow to ``all``), then the adaptation methods."""
    labels = set(labels)
    frozen = freeze_order(s.removeprefix("freeze ") for s in labels if s != "scratch")
    return (["scratch"] if "scratch" in labels else []) + [
        f if f in ADAPT_METHODS else f"freeze {f}" for f in frozen
    ]


def finetune_cells(summary: pd.DataFrame, runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Fine-tune cells with a ``setting`` label, a size rank and, given runs, model costs."""
    df = summary[summary["regime"] == "finetune"].copy()
    df["freeze"] = df["freeze"].astype(str)
    df["size"] = df["size"].astype(str)
    df["setting"] = [setting_label(i, f) for i, f in zip(df["init"], df["freeze"], strict=True)]
    if runs is not None and len(runs):
        keys = ["dataset", "model", "init", "freeze", "size"]
        costs = ("params_total", "params_trainable", "trainable_fraction", "size_bytes",
                 "task_bytes")  # fmt: skip
        cols = [c for c in costs if c in runs]
        r = runs[runs["regime"] == "finetune"].astype({"freeze": str, "size": str})
        df = df.merge(r.groupby(keys)[cols].first().reset_index(), on=keys, how="left")
    return df


def largest_size(cells: pd.DataFrame) -> pd.DataFrame:
    """Rows of each dataset's largest training size (``all`` when present)."""
    last = cells.groupby("dataset")["size"].agg(lambda s: size_order(s)[-1])
    return cells[cells["size"] == cells["dataset"].map(last)]


#: What a model's best setting is chosen by: validation only, never the test split, so the
#: test accuracy reported at that setting is an unbiased estimate (issue 15).
SELECT_BY = "val_accuracy"
BEST_COLUMNS = ["dataset", "model", "pool", "regime", "setting", "init", "freeze", "layer",
                "classifier", "val_accuracy_mean", "accuracy_mean", "n_runs", "tied",
                "tie_p"]  # fmt: skip


def with_setting(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs with a ``setting`` label: ``scratch`` / ``freeze k``, or ``<layer> + <classifier>``."""
    r = runs.assign(**{c: "" for c in ("layer", "classifier") if c not in runs})
    r = r.astype({"freeze": str, "size": str, "layer": str, "classifier": str})
    ft = r["regime"] == "finetune"
    r["setting"] = [
        setting_label(i, f) if is_ft else f"{layer} + {clf}"
        for is_ft, i, f, layer, clf in zip(
            ft, r["init"], r["freeze"], r["layer"], r["classifier"], strict=True
        )
    ]
    return r


def best_settings(runs: pd.DataFrame) -> pd.DataFrame:
    """Per dataset x model x pool, the setting with the highest mean validation accuracy.

    The one place a setting is chosen; the workflow writes it to results/best_settings.csv
    and every figure, table and test downstream reads that. Pools: ``finetune`` chooses
    among every (init, freeze), ``pretrained`` among the pretrained ones only (the accuracy
    transferability scores are checked against), ``features`` among (layer, classifier).
    The mean is over sizes of the per-size means over seeds, so every size weighs the same
    and the choice does not chase one lucky cell. Settings within noise of the leader (a
    paired test on validation over sizes x seeds) are a tie: ``tied`` names them, and the
    one chosen follows ``ties.TIE_RULE`` (fewest trainable parameters first; ``results.ties``).
    Test accuracy is carried along (``accuracy_mean``) but never looked at when choosing.
    """
    if SELECT_BY not in runs or runs[SELECT_BY].isna().any():
        bad = len(runs) if SELECT_BY not in runs else int(runs[SELECT_BY].isna().sum())
        raise ValueError(
            f"runs table: {bad} run(s) without a '{SELECT_BY}' column value; best settings are "
            "chosen on validation accuracy only, and these records predate it: rerun their jobs "
            "(e.g. `snakemake --forcerun finetune classify`)"
        )
    r = with_setting(runs)
    if "params_trainable" not in r:
        r["params_trainable"] = np.nan
    keys = ["dataset", "model", "regime", "setting"]
    first = ["init", "freeze", "layer", "classifier"]
    per_size = r.groupby(keys + ["size"], sort=False).agg(
        val=(SELECT_BY, "mean"), acc=("accuracy", "mean"), n=("seed", "size"),
        trainable=("params_trainable", "mean"), **{c: (c, "first") for c in first},
    )  # fmt: skip
    avg = per_size.groupby(keys, sort=False).agg(
        val_accuracy_mean=("val", "mean"), accuracy_mean=("acc", "mean"), n_runs=("n", "sum"),
        trainable=("trainable", "mean"), **{c: (c, "first") for c in first},
    ).reset_index()  # fmt: skip
    order = {s: i for i, s in enumerate(setting_order(avg["setting"][avg["regime"] == "finetune"]))}
    avg["_o"] = avg["setting"].map(order).fillna(len(order))
    avg = avg.sort_values(
        ["dataset", "model", "val_accuracy_mean", "_o", "setting"],
        ascending=[True, True, False, True, True],
        kind="stable",
    )
    ft = avg["regime"] == "finetune"
    pools = {  # pool -> the settings it chooses among
        "finetune": ft,
        "pretrained": ft & (avg["init"] == "pretrained"),  # what transferability is checked on
        "features": avg["regime"] == "features",
    }
    by_group = {k: g for k, g in r.groupby(["dataset", "model", "regime"], sort=False)}
    chosen = []
    for pool, mask in pools.items():
        for (dataset, model), cands in avg[mask].groupby(["dataset", "model"], sort=True):
            runs_of = by_group[(dataset, model, cands["regime"].iloc[0])]
            pick = ties.resolve(cands, runs_of[runs_of["setting"].isin(cands["setting"])])
            chosen.append({**pick.to_dict(), "pool": pool})
    out = pd.DataFrame(chosen, columns=BEST_COLUMNS)
    numbers = {"n_runs": "int64", "val_accuracy_mean": float, "accuracy_mean": float}
    text = dict.fromkeys(BEST_COLUMNS[:9] + ["tied"], "str")
    return out.astype({**text, **numbers, "tie_p": float})


def read_best(path) -> pd.DataFrame:
    """``results/best_settings.csv`` with its coordinates as strings."""
    text = BEST_COLUMNS[:9] + ["tied"]  # names and coordinates
    df = pd.read_csv(path, dtype=dict.fromkeys(text, str))
    if "tied" not in df:  # a file from before ties were named
        df["tied"] = ""
    for col in text:  # fine-tuning has no layer, the features regime no freeze: ""
        df[col] = df[col].fillna("").astype("str")
    return df


def finetune_keys(best: pd.DataFrame) -> pd.DataFrame:
    """The fine-tune rows of ``best`` as merge keys (dataset, model, setting)."""
    return best.loc[best["pool"] == "finetune", ["dataset", "model", "setting"]]


def at_best(cells: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
    return cells.merge(finetune_keys(best), on=["dataset", "model", "setting"])


def run_settings(runs: pd.DataFrame) -> pd.DataFrame:
    r = runs[runs["regime"] == "finetune"].copy()
    r["freeze"] = r["freeze"].astype(str)
    r["size"] = r["size"].astype(str)
    r["setting"] = [setting_label(i, f) for i, f in zip(r["init"], r["freeze"], strict=True)]
    return r


def curves_table(runs: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
    """Mean train / validation curves over seeds, each model's best setting, largest size."""
    r = largest_size(run_settings(runs)).merge(
        finetune_keys(best), on=["dataset", "model", "setting"]
    )
    rows = []
    for (dataset, model, setting), grp in r.groupby(["dataset", "model", "setting"]):
        points = []
        for seed, curve in zip(grp["seed"], grp["curve"], strict=True):
            for p in json.loads(curve) if isinstance(curve, str) else curve:
                points.append({"seed": seed, **p})
        if not points:
            continue
        pts = pd.DataFrame(points)
        mean = pts.groupby("epoch").agg(
            n=("seed", "nunique"),
            train_accuracy=("train_accuracy", "mean"),
            val_accuracy=("val_accuracy", "mean"),
            train_loss=("train_loss", "mean"),
            val_loss=("val_loss", "mean"),
        )
        for split in ("train", "val"):
            part = mean[["n", f"{split}_accuracy", f"{split}_loss"]].reset_index()
            part.columns = ["epoch", "n", "accuracy", "loss"]
            part["split"] = "train" if split == "train" else "validation"
            part[["dataset", "model", "setting"]] = dataset, model, setting
            rows.append(part)
    if not rows:
        return pd.DataFrame(
            columns=["dataset", "model", "setting", "split", "epoch", "n", "accuracy", "loss"]
        )
    return pd.concat(rows, ignore_index=True)


def summed_confusion(matrices, max_classes: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """(kept class indices, confusion counts summed over runs).

    Past ``max_classes`` classes only the classes with the most errors (as true or
    predicted label) are kept, so a 176-class dataset stays a readable, small figure.
    """
    cm = np.sum([np.asarray(json.loads(m) if isinstance(m, str) else m) for m in matrices], 0)
    keep = np.arange(cm.shape[0])
    if len(keep) > max_classes:
        errors = cm.sum(0) + cm.sum(1) - 2 * np.diag(cm)
        keep = np.sort(np.argsort(-errors, kind="stable")[:max_classes])
    return keep, cm


def confusion_table(
    runs: pd.DataFrame,
    best: pd.DataFrame,
    class_names: dict[str, list[str]] | None = None,
    max_classes: int = 20,
) -> pd.DataFrame:
    """Confusion counts summed over seeds (best setting, largest size), long format."""
    class_names = class_names or {}
    r = largest_size(run_settings(runs)).merge(
        finetune_keys(best), on=["dataset", "model", "setting"]
    )
    rows = []
    for (dataset, model, setting), grp in r.groupby(["dataset", "model", "setting"]):
        keep, cm = summed_confusion(grp["confusion_matrix"], max_classes)
        names = class_names.get(dataset) or [str(i) for i in range(cm.shape[0])]
        support = cm.sum(1)
        for i in keep:
            for j in keep:
                rows.append(
                    (dataset, model, setting, names[i], names[j], int(cm[i, j]),
                     float(cm[i, j] / support[i]) if support[i] else 0.0, len(grp))
                )  # fmt: skip
    return pd.DataFrame(
        rows,
        columns=["dataset", "model", "setting", "true", "predicted", "count", "share", "n"],
    )


def pareto_flags(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True where no other point has lower-or-equal x and higher-or-equal y (one strictly)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    flags = np.zeros(len(x), bool)
    for i in range(len(x)):
        if np.isnan(x[i]) or np.isnan(y[i]):
            continue
        dominated = (x <= x[i]) & (y >= y[i]) & ((x < x[i]) | (y > y[i]))
        flags[i] = not dominated.any()
    return flags


def compact(df: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """Round floats so that the embedded data stays small (4 significant digits is plenty)."""
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            v = out[c].to_numpy(dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                mag = np.where(np.isfinite(v) & (v != 0), np.floor(np.log10(np.abs(v))), 0)
            scale = 10.0 ** (digits - 1 - mag)
            out[c] = np.round(v * scale) / scale
    return out
