"""The most confidently wrong test images per model x dataset, for the report.

Fine-tune records carry their ``mistakes`` (test-split positions, true and predicted
label, confidence). For each model at its best setting and the largest training size,
the mistakes of all seeds are pooled, the most confident ones kept, and their images read
from the prepared arrays, once per dataset, as small PNGs; the same runs' confusion
matrices, summed, go beside them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from transfer_atlas.report.explore import _png, enlarged
from transfer_atlas.results.views import (
    finetune_keys,
    largest_size,
    run_settings,
    summed_confusion,
)

PER_CELL = 8
MIN_SIDE = 48


def _thumb(image: np.ndarray) -> str:
    return _png(enlarged(image, MIN_SIDE))


def collect(runs: pd.DataFrame, best: pd.DataFrame, prepared: dict[str, str | Path],
            per_cell: int = PER_CELL) -> list[dict]:  # fmt: skip
    """One entry per dataset x model: its best setting's most confidently wrong test images
    (``best``: results/best_settings.csv)."""
    from transfer_atlas.data import prepared as data

    keys = ["dataset", "model", "setting"]
    r = largest_size(run_settings(runs)).merge(finetune_keys(best), on=keys)
    loaded, out = {}, []
    for (dataset, model, setting), grp in r.groupby(["dataset", "model", "setting"]):
        pooled, missing = {}, 0
        for path, seed in zip(grp["record"], grp["seed"], strict=True):
            rec = json.loads(Path(path).read_text())
            if "mistakes" not in rec:
                missing += 1
                continue
            for m in rec["mistakes"]:
                if m["index"] not in pooled or pooled[m["index"]]["confidence"] < m["confidence"]:
                    pooled[m["index"]] = {**m, "seed": int(seed)}
        top = sorted(pooled.values(), key=lambda m: -m["confidence"])[:per_cell]
        if dataset not in loaded and dataset in prepared:
            loaded[dataset] = data.load(prepared[dataset])
        prep = loaded.get(dataset)
        items = []
        for m in top:
            if prep is None:
                break
            img = prep.images[prep.test_idx[m["index"]]]
            items.append(
                {
                    "png": _thumb(img),
                    "true": prep.class_names[m["true"]],
                    "predicted": prep.class_names[m["predicted"]],
                    "confidence": m["confidence"],
                    "seed": m["seed"],
                }
            )
        out.append(
            {
                "dataset": dataset,
                "model": model,
                "setting": setting,
                "size": str(grp["size"].iloc[0]),
                "n_runs": int(len(grp)),
                "runs_without_mistakes_field": missing,
                "items": items,
                "confusion": _confusion(grp, prep),
            }
        )
    return out


def _confusion(grp: pd.DataFrame, prep) -> dict | None:
    """The cell's test confusion matrix summed over seeds, as counts and row shares."""
    if "confusion_matrix" not in grp:
        return None
    keep, cm = summed_confusion(grp["confusion_matrix"])
    names = prep.class_names if prep is not None else [str(i) for i in range(cm.shape[0])]
    support = np.maximum(cm.sum(1, keepdims=True)[keep], 1)  # whole rows: all classes
    cm = cm[np.ix_(keep, keep)]
    return {
        "classes": [names[i] for i in keep],
        "of": len(names),
        "counts": cm.astype(int).tolist(),
        "shares": np.round(cm / support, 2).tolist(),
    }
