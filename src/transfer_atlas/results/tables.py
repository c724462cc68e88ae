"""The runs and summary tables on disk, and the one reader that owns their column types.

``results/runs.parquet`` and ``runs.csv`` hold one row per job, ``summary.csv`` one row per
cell. :func:`read_runs` / :func:`read_summary` read either format and return frames with
these types (a CSV keeps none of them by itself; the aggregate step applies them too):

* names and grid coordinates are strings (pandas' ``str`` dtype): ``freeze`` and ``size``
  ("all" or a number, as in the records), ``layer`` and ``classifier`` ("" for
  fine-tuning), hashes, fingerprints;
* ``seed``, ``n_train``, ``n_runs`` and the other counts are int64;
* the training settings a run actually used (its record's ``train`` block, e.g. the batch
  size after an out-of-memory retry halved it) are ``train_<key>`` columns, one per
  top-level key (``train_s``, the training time, is older and not one of them). Numbers
  and flags keep their type, nullable (a classifier run has no learning rate):
  :data:`TRAIN_DTYPES`. Nested settings (``augment``, ``unfreeze``, ``grid_search``) and
  lists are compact JSON text with sorted keys, so equal settings are equal strings and
  group together; ``json.loads`` gives the dict back.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

#: Read as strings from a CSV: names, coordinates and hex digests that may look numeric.
STRINGS = [
    "study", "regime", "dataset", "model", "arch", "init", "freeze", "size", "layer",
    "classifier", "startup", "device", "dataset_fingerprint", "weights_sha256", "config_hash",
    "code_version", "torch", "confusion_matrix", "curve", "record", "adapt",
]  # fmt: skip
#: Never missing; "" where a coordinate does not apply (fine-tuning has no layer).
COORDINATES = ["freeze", "size", "layer", "classifier", "adapt"]
RUN_INTS = [
    "freeze_groups", "n_groups", "n_train", "seed", "num_classes", "size_bytes", "flops",
    "n_test", "epochs_run", "best_epoch", "prefix_cached", "params_total", "params_trainable",
]  # fmt: skip
SUMMARY_INTS = ["n_runs", "n_train"]

#: ``train_<key>`` columns by the type of the setting (config schema: ``$defs.train`` and
#: ``grid.features``; ``oom_retry_from`` is added by the out-of-memory retry). Nested and
#: list settings are JSON text. Unknown train keys keep what pandas makes of them.
TRAIN_DTYPES = {
    **dict.fromkeys(["optimizer", "schedule", "classifier"], "str"),
    **dict.fromkeys(["augment", "unfreeze", "grid_search", "oom_retry_from"], "str"),
    **dict.fromkeys(
        ["lr", "backbone_lr_scale", "momentum", "weight_decay", "gamma", "label_smoothing"],
        "float64",
    ),
    **dict.fromkeys(
        ["epochs", "min_steps", "batch_size", "step_size", "early_stopping", "oom_min_batch"],
        "Int64",
    ),
    **dict.fromkeys(["oom_retry", "standardize", "pca"], "boolean"),
}


def train_columns(train: dict) -> dict:
    """A record's ``train`` block as ``train_<key>`` columns (nested values as JSON text)."""
    return {
        f"train_{k}": json.dumps(v, sort_keys=True, separators=(",", ":"))
        if isinstance(v, (dict, list))
        else v
        for k, v in train.items()
    }


def typed(df: pd.DataFrame, ints=RUN_INTS) -> pd.DataFrame:
    """``df`` with the documented column types (columns it lacks are skipped)."""
    df = df.copy()
    for col in STRINGS:
        if col in df:
            df[col] = df[col].astype("str")  # pandas' string dtype; missing stays NaN
    for col in COORDINATES:
        if col in df:
            df[col] = df[col].fillna("")
    for col in ints:
        if col in df:
            df[col] = df[col].astype("int64")
    for key, dtype in TRAIN_DTYPES.items():
        if f"train_{key}" in df:
            df[f"train_{key}"] = df[f"train_{key}"].astype(dtype)
    return df


def _read(path) -> pd.DataFrame:
    path = Path(path)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        header = pd.read_csv(path, nrows=0).columns
        text = {f"train_{k}" for k, v in TRAIN_DTYPES.items() if v == "str"}
        as_text = {c: str for c in header if c in STRINGS or c in text}
        return pd.read_csv(path, dtype=as_text)
    raise ValueError(f"{path}: a runs or summary table is .parquet or .csv")


def read_runs(path) -> pd.DataFrame:
    """``runs.parquet`` or ``runs.csv``, one row per job, with the documented types."""
    return typed(_read(path), RUN_INTS)


def read_summary(path) -> pd.DataFrame:
    """``summary.csv`` (or a parquet of it), one row per cell, with the documented types."""
    return typed(_read(path), SUMMARY_INTS)
