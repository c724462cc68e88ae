"""The model-selection baselines in the tables: the ``prior`` score's source, the tau table's
baseline marks and the "which score beats both baselines" verdict."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from transfer_atlas.features.transferability_job import source_accuracy
from transfer_atlas.results import transferability as ranking


def test_prior_reads_the_source_accuracy_and_is_nan_without_a_record(tmp_path):
    info = tmp_path / "m.json"
    info.write_text(json.dumps({"model": "m", "source_test_accuracy": 0.875}))
    assert source_accuracy(str(info)) == 0.875
    assert np.isnan(source_accuracy(None))  # hub / local weights: no record
    info.write_text(json.dumps({"model": "m"}))
    assert np.isnan(source_accuracy(str(info)))


def _taus(values: dict) -> pd.DataFrame:
    rows = [
        {"dataset": d, "score": s, "weighted_tau": t, "tau_ci95_low": t - 0.1, "tau_ci95_high": 1.0}
        for d, per in values.items()
        for s, t in per.items()
    ]
    return pd.DataFrame(rows)


def test_beats_baselines_needs_both_and_is_strict():
    taus = _taus(
        {
            "a": {"logme": 0.5, "sfda": 0.9, "knn": 0.8, "prior": 0.2, "leep": 0.8},
            "b": {"logme": 0.5, "sfda": 0.9, "knn": np.nan, "prior": 0.2},
        }
    )
    got = ranking.beats_baselines(taus)
    assert got == {"a": ["sfda"], "b": []}  # leep ties knn: not beaten; b: knn has no tau
    assert set(ranking.BASELINES) == {"knn", "prior"}


def test_tau_wide_shows_intervals_and_blanks():
    taus = _taus({"a": {"logme": 0.5, "knn": np.nan}})
    wide = ranking.tau_wide(taus)
    assert list(wide.columns) == ["dataset", "logme", "knn"]
    assert wide.iloc[0].tolist() == ["a", "0.50 [0.40, 1.00]", "–"]
