"""The across-targets view (issue 25, item 10): IQM and probability of improvement as rliable
defines them (Agarwal et al., 2021), with stratified-bootstrap intervals, in results/ and the
report's figures."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from transfer_atlas.report import figures
from transfer_atlas.results import across_targets
from transfer_atlas.results.views import Tables
from transfer_atlas.testing import synthetic


@pytest.fixture(scope="module")
def synth():
    return synthetic.tables(datasets=2, models=3, freezes=3, sizes=3, seeds=3)


def test_point_estimates_are_rliables(synth):
    runs, _ = synth
    out = across_targets.table(runs, reps=200).set_index(["statistic", "setting"])
    r = runs[runs["regime"] == "finetune"]
    full = r[(r["init"] == "pretrained") & (r["freeze"].astype(str) == "0")]
    probe = r[(r["init"] == "pretrained") & (r["freeze"].astype(str) == "all")]
    # IQM: scipy's 25%-trimmed mean of every run of every task (rliable.aggregate_iqm)
    assert out.loc[("iqm", "freeze all"), "estimate"] == pytest.approx(
        stats.trim_mean(probe["accuracy"], 0.25)
    )
    # P(X > Y): per task the Mann-Whitney U / (n m), averaged over tasks
    # (rliable.metrics.probability_of_improvement)
    keys = ["dataset", "model", "size"]
    per_task = [
        stats.mannwhitneyu(
            g["accuracy"], full.merge(g[keys].drop_duplicates())["accuracy"]
        ).statistic
        / 9
        for _, g in probe.groupby(keys)
    ]
    row = out.loc[("probability_of_improvement", "freeze all")]
    assert row["estimate"] == pytest.approx(np.mean(per_task))
    assert row["versus"] == "freeze 0" and row["n_tasks"] == 2 * 3 * 3 and row["n_runs"] == 108
    assert (out["ci95_low"] <= out["estimate"]).all() and (
        out["estimate"] <= out["ci95_high"]
    ).all()


def test_the_bootstrap_resamples_seeds_within_tasks_only():
    # Two tasks, each with 4 identical runs: resampling within a task changes nothing, so
    # the interval has no width (a bootstrap over the pooled runs would mix the tasks).
    rows = [
        dict(dataset=d, model="m", regime="finetune", init="pretrained", freeze=f, size="all",
             seed=s, accuracy=acc + (0.05 if f == "all" else 0.0))
        for d, acc in (("a", 0.2), ("b", 0.9)) for f in ("0", "all") for s in range(4)
    ]  # fmt: skip
    out = across_targets.table(pd.DataFrame(rows), reps=300)
    assert (out["ci95_low"] == out["ci95_high"]).all()
    p = out[out["statistic"] == "probability_of_improvement"].iloc[0]
    assert p["setting"] == "freeze all" and p["estimate"] == 1.0


def test_the_csv_and_the_figure(synth, tmp_path):
    runs, summary = synth
    runs.to_parquet(tmp_path / "runs.parquet", index=False)
    out = tmp_path / "across.csv"
    assert across_targets.main(["--runs", str(tmp_path / "runs.parquet"), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table.columns) == across_targets.COLUMNS
    assert set(table["statistic"]) == {"iqm", "probability_of_improvement"}
    spec = figures.FIGURES["across_targets"](Tables(summary=summary, runs=runs)).to_dict()
    drawn = [row for data in spec["datasets"].values() for row in data]
    assert {r["setting"] for r in drawn if "setting" in r} == set(table["setting"])


def test_adaptation_methods_are_settings_of_the_view():
    # config/studies/adapt.yaml's settings: freeze depths and the methods in the freeze slot
    rng = np.random.default_rng(2)
    rows = [
        dict(dataset=d, model=m, regime="finetune", init="pretrained", freeze=f, size="all",
             seed=s, accuracy=float(rng.integers(10, 30)) / 30)
        for d in ("a", "b") for m in ("x", "y")
        for f in ("0", "all", "bitfit", "lora", "lp_ft") for s in range(3)
    ]  # fmt: skip
    out = across_targets.table(pd.DataFrame(rows), reps=100)
    iqm = out[out["statistic"] == "iqm"]
    assert list(iqm["setting"]) == ["freeze 0", "freeze all", "bitfit", "lora", "lp_ft"]
    versus = out[out["statistic"] == "probability_of_improvement"]
    assert set(versus["setting"]) == {"freeze all", "bitfit", "lora", "lp_ft"}
    assert (versus["versus"] == "freeze 0").all() and (versus["n_tasks"] == 4).all()
