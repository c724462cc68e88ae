"""The workflow writes best_settings.csv and findings.md, and the README quotes a fresh
default study's findings.md word for word."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import ROOT

from transfer_atlas.results.findings import findings, readme_block
from transfer_atlas.results.tables import read_runs, read_summary
from transfer_atlas.results.views import best_settings, read_best

pytestmark = pytest.mark.slow


def test_tiny_study_writes_best_settings_and_findings(tiny_study):
    work, _ = tiny_study
    res = work / "results"
    runs, summary = read_runs(res / "runs.parquet"), read_summary(res / "summary.csv")
    assert runs["val_accuracy"].notna().all()  # every record carries its validation accuracy
    best = read_best(res / "best_settings.csv")
    # the file is the one selection, made from the runs on validation accuracy
    pd.testing.assert_frame_equal(best, best_settings(runs))
    text = (res / "findings.md").read_text()
    assert text == findings(runs, summary, best)
    for dataset, b in best[best["pool"] == "finetune"].groupby("dataset"):
        top = b.sort_values("val_accuracy_mean", ascending=False).iloc[0]
        assert f"**{dataset}**: by validation accuracy" in text
        assert f"**{top['model']}** at **{top['setting']}**" in text
    # one seed: nothing can be significant, and the text says so rather than claim a gain
    assert "no gain can be declared significant" in text
    # the report's findings name the same choice
    html = (res / "report.html").read_text()
    assert "ranks first by validation" in html


def test_readme_quotes_a_fresh_default_study(default_study):
    """The default study (config/config.yaml), run up to its findings by the session's
    ``default_study`` fixture (a few minutes on 2 cores), against the README's block. After
    changing the default study or anything its numbers depend on, refresh the block from a
    fresh run with ``scripts/findings.py ... --readme README.md`` (docs/report.md)."""
    work, _ = default_study
    fresh = (work / "results" / "findings.md").read_text()
    assert readme_block(ROOT / "README.md") == fresh


def test_default_study_report_draws_the_across_targets_comparison(default_study):
    """The default study's report, in Chromium: its across-targets view (IQM, probability
    of improvement) has a row for each setting."""
    from test_report_browser import check_across_targets

    work, _ = default_study
    check_across_targets(work / "results", ["scratch", "freeze 0", "freeze 2", "freeze all"])
