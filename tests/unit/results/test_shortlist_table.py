"""results.shortlist: ranking the scored models, the compute saved and the regret."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from transfer_atlas.results import shortlist


def _scores(tmp_path, values: dict) -> list:
    paths = []
    for (dataset, model), value in values.items():
        path = tmp_path / f"{dataset}_{model}.json"
        path.write_text(json.dumps({"dataset": dataset, "model": model, "scores": value}))
        paths.append(path)
    return paths


def test_select_keeps_the_top_k_per_target_ties_by_name(tmp_path):
    paths = _scores(
        tmp_path,
        {
            ("d", "a"): {"knn": 0.5}, ("d", "b"): {"knn": 0.9}, ("d", "c"): {"knn": 0.5},
            ("e", "a"): {"knn": "inf"}, ("e", "b"): {"knn": 0.1}, ("e", "c"): {"knn": 0.2},
        },
    )  # fmt: skip
    jobs = {"d/a": 4, "d/b": 4, "d/c": 2, "e/a": 4, "e/b": 4, "e/c": 2}
    t = shortlist.select(paths, "knn", 2, jobs)
    assert list(t.columns) == shortlist.COLUMNS
    ranks = {(d, m): r for d, m, r in zip(t["dataset"], t["model"], t["rank"], strict=True)}
    assert ranks == {
        ("d", "b"): 1, ("d", "a"): 2, ("d", "c"): 3,  # a and c tie: a first by name
        ("e", "a"): 1, ("e", "c"): 2, ("e", "b"): 3,
    }  # fmt: skip
    assert shortlist.selected_pairs(t) == {("d", "b"), ("d", "a"), ("e", "a"), ("e", "c")}
    assert shortlist.savings(t) == {"jobs_total": 20, "jobs_skipped": 6}


def test_select_refuses_a_missing_or_nan_score(tmp_path):
    with pytest.raises(ValueError, match="no 'sfda' score"):
        shortlist.select(_scores(tmp_path, {("d", "a"): {"knn": 1.0}}), "sfda", 1)
    with pytest.raises(ValueError, match="'prior' score is NaN"):
        shortlist.select(_scores(tmp_path, {("d", "a"): {"prior": "nan"}}), "prior", 1)


def test_regret_chooses_on_validation_and_reports_test():
    table = pd.DataFrame(
        {"dataset": "d", "model": ["a", "b", "c"], "selected": [True, True, False]}
    )
    best = pd.DataFrame(
        {
            "dataset": "d",
            "model": ["a", "b", "c", "c"],
            "pool": ["finetune", "finetune", "finetune", "pretrained"],
            "setting": ["freeze 0", "scratch", "freeze all", "freeze all"],
            "val_accuracy_mean": [0.80, 0.70, 0.90, 0.99],
            "accuracy_mean": [0.75, 0.95, 0.85, 0.50],  # b's test accuracy never chooses
        }
    )
    r = shortlist.regret(table, best).iloc[0]
    assert r["full_grid_best"] == "c (freeze all)" and r["shortlist_best"] == "a (freeze 0)"
    assert r["regret"] == pytest.approx(0.85 - 0.75)
    runs = pd.DataFrame(
        {"regime": "finetune", "dataset": "d", "model": ["a", "c", "c"], "total_s": [1, 2, 3.0]}
    )
    table["finetune_jobs"] = [1, 0, 2]
    saved = shortlist.savings(table, runs)
    assert saved["seconds_total"] == 6.0 and saved["seconds_skipped"] == 5.0
