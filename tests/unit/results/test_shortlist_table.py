"""results.shortlist: ranking the scored models per target x size x seed on that training
subset's scores (issue 25, item 6), the compute saved, and the regret and tau per size on the
pretrained pool (item 7)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from transfer_atlas.results import shortlist



def _scores(tmp_path, values: dict, subsets=(("8", 0),)) -> list:
    """Score records: ``values[(dataset, model)]`` is the subsets' scores; the whole-split
    ``scores`` say the opposite, so a shortlist that read them would pick other models."""
    paths = []
    for (dataset, model), value in values.items():
        path = tmp_path / f"{dataset}_{model}.json"
        flipped = {k: -float(v) for k, v in value.items()}
        subs = [{"size": n, "seed": s, "n_train": int(n), "scores": value} for n, s in subsets]
        path.write_text(json.dumps({"dataset": dataset, "model": model, "scores": flipped,
                                    "subsets": subs}))  # fmt: skip
        paths.append(path)
    return paths


def test_select_keeps_the_top_k_of_each_subset_ties_by_name(tmp_path):
    paths = _scores(
        tmp_path,
        {
            ("d", "a"): {"knn": 0.5}, ("d", "b"): {"knn": 0.9}, ("d", "c"): {"knn": 0.5},
            ("e", "a"): {"knn": "inf"}, ("e", "b"): {"knn": 0.1}, ("e", "c"): {"knn": 0.2},
        },
    )  # fmt: skip
    jobs = {"d/a/8/0": 4, "d/b/8/0": 4, "d/c/8/0": 2, "e/a/8/0": 4, "e/b/8/0": 4, "e/c/8/0": 2}
    t = shortlist.select(paths, "knn", 2, jobs)
    assert list(t.columns) == shortlist.COLUMNS
    ranks = {(d, m): r for d, m, r in zip(t["dataset"], t["model"], t["rank"], strict=True)}
    assert ranks == {
        ("d", "b"): 1, ("d", "a"): 2, ("d", "c"): 3,  # a and c tie: a first by name
        ("e", "a"): 1, ("e", "c"): 2, ("e", "b"): 3,
    }  # fmt: skip
    assert shortlist.selected_cells(t) == {
        ("d", "b", "8", 0), ("d", "a", "8", 0), ("e", "a", "8", 0), ("e", "c", "8", 0)
    }  # fmt: skip
    assert shortlist.savings(t) == {"jobs_total": 20, "jobs_skipped": 6}


def test_each_size_and_seed_is_shortlisted_on_its_own_subset(tmp_path):
    paths = []
    for model, by_subset in {"a": [0.9, 0.1], "b": [0.1, 0.9]}.items():
        path = tmp_path / f"{model}.json"
        subs = [{"size": n, "seed": 0, "n_train": 8, "scores": {"logme": v}}
                for n, v in zip(("8", "all"), by_subset, strict=True)]  # fmt: skip
        path.write_text(json.dumps({"dataset": "d", "model": model, "scores": {"logme": 0},
                                    "subsets": subs}))  # fmt: skip
        paths.append(path)
    t = shortlist.select(paths, "logme", 1)
    assert shortlist.selected_cells(t) == {("d", "a", "8", 0), ("d", "b", "all", 0)}


def test_select_refuses_a_missing_or_nan_score_and_records_without_subsets(tmp_path):
    with pytest.raises(ValueError, match="no 'sfda' score"):
        shortlist.select(_scores(tmp_path, {("d", "a"): {"knn": 1.0}}), "sfda", 1)
    with pytest.raises(ValueError, match="'prior' score is NaN"):
        shortlist.select(_scores(tmp_path, {("d", "a"): {"prior": "nan"}}), "prior", 1)
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"dataset": "d", "model": "a", "scores": {"knn": 1.0}}))
    with pytest.raises(ValueError, match="no per-subset scores"):
        shortlist.select([old], "knn", 1)


def _audit():
    """Target d, sizes 8 and all, seeds 0-1; models a, b (pretrained) and their scratch
    runs. Scratch has the best validation and test accuracy: it must stay out of the pool."""
    rows = []
    quality = {("a", "pretrained", "all"): 0.8, ("a", "pretrained", "0"): 0.7,
               ("b", "pretrained", "all"): 0.6, ("b", "pretrained", "0"): 0.65,
               ("a", "scratch", "0"): 0.95, ("b", "scratch", "0"): 0.9}  # fmt: skip
    for (model, init, freeze), q in quality.items():
        for size, bump in (("8", -0.2), ("all", 0.0)):
            for seed in (0, 1):
                rows.append(dict(regime="finetune", dataset="d", model=model, init=init,
                                 freeze=freeze, size=size, seed=seed, val_accuracy=q + bump,
                                 accuracy=q + bump - 0.01 * seed, total_s=1.0))  # fmt: skip
    runs = pd.DataFrame(rows)
    best = pd.DataFrame(
        [dict(dataset="d", model=m, pool="pretrained", setting="freeze all") for m in "ab"]
        + [dict(dataset="d", model=m, pool="finetune", setting="scratch") for m in "ab"]
    )
    # the shortlist (k = 1) kept b at n = 8 (both seeds) and a at n = all
    table = pd.DataFrame(
        [dict(dataset="d", size=n, seed=s, model=m, by="knn", score=sc, rank=r,
              selected=r == 1, finetune_jobs=3)
         for n in ("8", "all") for s in (0, 1)
         for m, sc, r in ((("b", 0.9, 1), ("a", 0.1, 2)) if n == "8"
                          else (("a", 0.9, 1), ("b", 0.1, 2)))]
    )  # fmt: skip
    return table, runs, best


def test_regret_and_tau_per_size_on_the_pretrained_pool():
    table, runs, best = _audit()
    r = shortlist.regret(table, runs, best).set_index("size")
    assert list(r.index) == ["8", "all"]
    # n = 8: the pool's best is a (freeze all), the shortlist had only b: regret 0.2
    assert r.loc["8", "full_grid_best"] == "a (freeze all)"
    assert r.loc["8", "shortlist_best"] == "b (freeze all)"
    assert r.loc["8", "regret"] == pytest.approx(0.2)
    assert r.loc["8", "weighted_tau"] == pytest.approx(-1.0)  # the score ranked b first
    assert r.loc["all", "regret"] == pytest.approx(0.0) and r.loc["all", "weighted_tau"] == 1.0
    # scratch is beside the pool, not in it (it was the best on validation and test)
    assert r.loc["all", "scratch_best"] == "a (scratch)"
    assert r.loc["all", "scratch_accuracy"] == pytest.approx(0.945)
    assert not r["full_grid_best"].str.contains("scratch").any()
    assert (r["n_seeds"] == 2).all() and np.isfinite(r["full_grid_accuracy"]).all()


def test_savings_counts_the_skipped_cells_seconds():
    table, runs, _ = _audit()
    saved = shortlist.savings(table, runs)
    assert saved["jobs_total"] == 24 and saved["jobs_skipped"] == 12
    assert saved["seconds_total"] == 24.0 and saved["seconds_skipped"] == 12.0
