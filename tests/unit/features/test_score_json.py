"""Transferability records are JSON with non-finite scores as strings, names untouched."""

from __future__ import annotations

import json
import math

from transfer_atlas.core import atomic
from transfer_atlas.features import transferability_job as job


def test_a_model_named_nanet_survives_non_finite_scores(tmp_path):
    # The old writer replaced "NaN" in the JSON text: NaNet became ""nan"et" (not JSON).
    rec = {
        "model": "NaNet",
        "dataset": "InfinityShapes",
        "scores": {"logme": math.inf, "hscore": -math.inf, "prior": math.nan, "leep": -1.5},
        "extra": [math.nan, 2.0],
    }
    out = tmp_path / "NaNet.json"
    atomic.write_json(out, job.finite_json(rec))
    back = json.loads(out.read_text())
    assert back["model"] == "NaNet" and back["dataset"] == "InfinityShapes"
    assert back["scores"] == {"logme": "inf", "hscore": "-inf", "prior": "nan", "leep": -1.5}
    assert back["extra"] == ["nan", 2.0]
    scores = {k: float(v) for k, v in back["scores"].items()}  # how the readers take them
    assert scores["logme"] == math.inf and scores["hscore"] == -math.inf
    assert math.isnan(scores["prior"])
