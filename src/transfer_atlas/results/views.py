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

from transfer_atlas.results.aggregate import freeze_order, size_order

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


def setting_label(init: str, freeze) -> str:
    """A model's training setting as one label: ``scratch`` or ``freeze k``."""
    return "scratch" if init == "scratch" else f"freeze {freeze}"


def setting_order(labels) -> list[str]:
    labels = set(labels)
    frozen = freeze_order(s.removeprefix("freeze ") for s in labels if s != "scratch")
    return (["scratch"] if "scratch" in labels else []) + [f"freeze {f}" for f in frozen]


def finetune_cells(summary: pd.DataFrame, runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Fine-tune cells with a ``setting`` label, a size rank and, given runs, model costs."""
    df = summary[summary["regime"] == "finetune"].copy()
    df["freeze"] = df["freeze"].astype(str)
    df["size"] = df["size"].astype(str)
    df["setting"] = [setting_label(i, f) for i, f in zip(df["init"], df["freeze"], strict=True)]
    if runs is not None and len(runs):
        keys = ["dataset", "model", "init", "freeze", "size"]
        cols = [c for c in ("params_total", "params_trainable", "size_bytes") if c in runs]
        r = runs[runs["regime"] == "finetune"].astype({"freeze": str, "size": str})
        df = df.merge(r.groupby(keys)[cols].first().reset_index(), on=keys, how="left")
    return df


def largest_size(cells: pd.DataFrame) -> pd.DataFrame:
    """Rows of each dataset's largest training size (``all`` when present)."""
    last = cells.groupby("dataset")["size"].agg(lambda s: size_order(s)[-1])
    return cells[cells["size"] == cells["dataset"].map(last)]


def best_settings(cells: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """Per dataset x model, the setting with the highest mean ``metric`` averaged over sizes.

    Averaging over every size (rather than picking the best cell) keeps the choice from
    chasing one lucky cell; ties go to the earlier setting (scratch, then shallow freezes).
    """
    col = f"{metric}_mean"
    avg = cells.groupby(["dataset", "model", "setting"], sort=False)[col].mean().reset_index()
    order = {s: i for i, s in enumerate(setting_order(avg["setting"]))}
    avg["_o"] = avg["setting"].map(order)
    avg = avg.sort_values(["dataset", "model", col, "_o"], ascending=[True, True, False, True])
    return avg.groupby(["dataset", "model"], sort=False).head(1)[["dataset", "model", "setting"]]


def at_best(cells: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
    return cells.merge(best, on=["dataset", "model", "setting"])


def run_settings(runs: pd.DataFrame) -> pd.DataFrame:
    r = runs[runs["regime"] == "finetune"].copy()
    r["freeze"] = r["freeze"].astype(str)
    r["size"] = r["size"].astype(str)
    r["setting"] = [setting_label(i, f) for i, f in zip(r["init"], r["freeze"], strict=True)]
    return r


def curves_table(runs: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
    """Mean train / validation curves over seeds, each model's best setting, largest size."""
    r = largest_size(run_settings(runs)).merge(best, on=["dataset", "model", "setting"])
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
    r = largest_size(run_settings(runs)).merge(best, on=["dataset", "model", "setting"])
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
