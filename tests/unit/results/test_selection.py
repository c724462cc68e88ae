"""Settings are chosen on validation accuracy only; gain stars need a corrected paired test."""

import numpy as np
import pandas as pd
import pytest

from transfer_atlas.report import figures
from transfer_atlas.report.figures import runs as run_figures
from transfer_atlas.results import transferability as ranking
from transfer_atlas.results.aggregate import summarize
from transfer_atlas.results.findings import findings, main_best
from transfer_atlas.results.tables import read_runs
from transfer_atlas.results.views import Tables, best_settings, read_best
from transfer_atlas.testing import synthetic


@pytest.fixture(scope="module")
def synth():
    return synthetic.tables(datasets=2, models=3, freezes=3, sizes=3, seeds=3)


def _chosen(best):
    return best.set_index(["dataset", "model", "pool"])["setting"].sort_index()


def test_permuting_test_accuracy_changes_no_selection(synth):
    runs, _ = synth
    rng = np.random.default_rng(1)
    shuffled = runs.copy()
    # Shuffle test accuracies among the runs of each model x dataset (every setting, size
    # and seed): whatever the test split says, the chosen settings must stay.
    for _, idx in shuffled.groupby(["dataset", "model"]).groups.items():
        shuffled.loc[idx, "accuracy"] = rng.permutation(shuffled.loc[idx, "accuracy"].to_numpy())
    before, after = best_settings(runs), best_settings(shuffled)
    pd.testing.assert_series_equal(_chosen(before), _chosen(after))

    # Not vacuous: choosing on test accuracy (as before issue 15) would have moved.
    def by_test(r):
        mean = r[r["regime"] == "finetune"].groupby(["dataset", "model", "init", "freeze"])
        return mean["accuracy"].mean().groupby(["dataset", "model"]).idxmax()

    assert not by_test(runs).equals(by_test(shuffled))

    # Downstream reads the choice: the accuracy transferability is checked against and the
    # ranking figure's rows follow the same settings under either test split.
    shuffled_summary = summarize(shuffled)
    for r, best in ((runs, before), (shuffled, after)):
        summary = summarize(r)
        acc = ranking.finetuned_accuracy(summary, best)
        pre = best[best["pool"] == "pretrained"].set_index(["dataset", "model"])["setting"]
        described = acc.set_index(["dataset", "model"])["finetune_best"].str.split(",").str[0]
        assert described.sort_index().tolist() == pre.sort_index().tolist()
    spec = run_figures.ranking(Tables(summary=shuffled_summary, runs=shuffled, best=after))
    rows = pd.DataFrame(next(iter(spec.to_dict()["datasets"].values())))
    chosen = after[after["pool"] == "finetune"]
    assert set(zip(rows["dataset"], rows["model"], rows["setting"], strict=True)) == set(
        zip(chosen["dataset"], chosen["model"], chosen["setting"], strict=True)
    )


def test_selection_refuses_runs_without_validation_accuracy(synth, tmp_path):
    runs, _ = synth
    old = runs.drop(columns="val_accuracy")
    old.to_parquet(tmp_path / "runs.parquet", index=False)
    with pytest.raises(ValueError, match="val_accuracy.*rerun"):
        main_best(["--runs", str(tmp_path / "runs.parquet"), "--out", str(tmp_path / "b.csv")])
    assert not (tmp_path / "b.csv").exists()


def test_best_settings_file_round_trips(synth, tmp_path):
    runs, _ = synth
    runs.to_parquet(tmp_path / "runs.parquet", index=False)
    argv = ["--runs", str(tmp_path / "runs.parquet"), "--out", str(tmp_path / "b.csv")]
    assert main_best(argv) == 0
    back = read_best(tmp_path / "b.csv")
    pd.testing.assert_frame_equal(back, best_settings(read_runs(tmp_path / "runs.parquet")))
    assert {"dataset", "model", "init", "freeze", "val_accuracy_mean", "accuracy_mean"} <= set(back)
    # each pool picks its own: scratch is never the "pretrained" choice
    assert (back[back["pool"] == "pretrained"]["init"] == "pretrained").all()


def _gain_labels(summary):
    spec = figures.gain_heatmap(summary).to_dict()
    data = pd.DataFrame(next(iter(spec["datasets"].values())))
    return data, spec["title"]


def test_three_identical_seed_gains_get_no_star(synth):
    """Three seeds with the same gain have a zero-width interval; that is no evidence."""
    runs, _ = synth
    r = runs.copy()
    pre = r["init"] == "pretrained"
    scratch = r[~pre].set_index(["dataset", "model", "size", "seed"])["accuracy"]
    key = pd.MultiIndex.from_frame(r.loc[pre, ["dataset", "model", "size", "seed"]])
    r.loc[pre, "accuracy"] = scratch.loc[key].to_numpy() + 0.05  # +5 points, every seed
    summary = summarize(r)
    cells = summary[(summary["regime"] == "finetune") & (summary["init"] == "pretrained")]
    assert np.allclose(cells["gain_ci95_low"], cells["gain_ci95_high"])  # zero-width intervals
    data, title = _gain_labels(summary)
    assert (data["star"] == "").all()
    assert data["gain"].round(6).eq(5.0).all()  # percentage points, not fractions
    assert "no cell can be starred" in " ".join(title["subtitle"])


def test_ten_seed_gains_survive_holm(synth):
    runs, _ = synthetic.tables(datasets=1, models=1, freezes=2, sizes=1, seeds=10)
    rng = np.random.default_rng(0)
    pre = runs["init"] == "pretrained"
    runs.loc[pre, "accuracy"] = runs.loc[pre, "accuracy"] + 0.2 + rng.uniform(0, 0.01, pre.sum())
    summary = summarize(runs)
    data, title = _gain_labels(summary)
    assert (data["star"] == "*").all() and (data["p_holm"] < 0.05).all()
    assert "no cell can be starred" not in " ".join(title["subtitle"])
    # and the findings say so, from the same numbers
    best = best_settings(runs)
    text = findings(runs, summary, best)
    assert "significant" in text and "not significant" not in text


def test_findings_name_the_validation_choice(synth):
    runs, summary = synth
    best = best_settings(runs)
    text = findings(runs, summary, best)
    for dataset, b in best[best["pool"] == "finetune"].groupby("dataset"):
        top = b.sort_values("val_accuracy_mean", ascending=False).iloc[0]
        assert f"**{dataset}**" in text and f"**{top['model']}** at **{top['setting']}**" in text
    assert "no gain can be declared significant" in text  # 3 seeds
    claims = [ln for ln in text.splitlines() if ln.startswith("- model_")]
    assert len(claims) == len(set(claims)) == 2 * (3 - 1)  # each other model once per target
    assert text == findings(runs, summary, best)  # deterministic: the README quotes it
