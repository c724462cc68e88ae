"""Figures, statistics and the HTML report on synthetic records (no training, seconds)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from transfer_atlas.report import figures
from transfer_atlas.report import html as report
from transfer_atlas.results.stats import comparisons as stats_comparisons
from transfer_atlas.results.stats import paired
from transfer_atlas.results.views import Tables, best_settings, pareto_flags
from transfer_atlas.spec.names import FIGURE_NAMES
from transfer_atlas.testing import synthetic


@pytest.fixture(scope="module")
def synth():
    runs, summary = synthetic.tables(datasets=2, models=3, freezes=2, sizes=3, seeds=3)
    return runs, summary


def test_figure_registry_matches_the_workflow_and_has_captions():
    # The rule files expect exactly these outputs (workflow/rules/paths.smk).
    names = list(FIGURE_NAMES)
    assert names == list(figures.FIGURES)
    for name in names:
        assert (ROOT / "report" / "captions" / f"{name}.txt").read_text().strip(), name


@pytest.mark.slow  # a job in a subprocess, or seconds of training
def test_every_figure_draws_and_declares_its_selections(synth):
    import vl_convert as vlc

    runs, summary = synth
    tables = Tables(summary=summary, runs=runs)
    for name, make in figures.FIGURES.items():
        spec = make(tables).to_dict()
        if name in figures.POOLED:  # across targets and models: no selection applies
            assert "params" not in spec and vlc.vegalite_to_svg(spec).count("role-mark") > 0
            continue
        params = {p["name"] for p in spec.get("params", [])}
        assert {"dataset", "model"} <= params, name
        svg = vlc.vegalite_to_svg(spec)
        assert svg.count("role-mark") > 0 and "dataset_1" in svg, name
        # filtering to one dataset through the parameter leaves the other out
        spec["params"] = [
            {**p, "value": "dataset_0"} if p["name"] == "dataset" else p for p in spec["params"]
        ]
        assert "dataset_1" not in vlc.vegalite_to_svg(spec), name


def test_holm_matches_hand_computation():
    adj = paired.holm([0.01, 0.04, 0.03, np.nan])
    # sorted 0.01, 0.03, 0.04 -> 3*0.01, max(0.03, 2*0.03), max(0.06, 1*0.04)
    assert adj[:3] == pytest.approx([0.03, 0.06, 0.06]) and np.isnan(adj[3])


def test_paired_comparison_finds_a_real_difference_and_not_a_fake_one(synth):
    runs, summary = synth
    runs = runs.copy()
    best = best_settings(runs)
    # model_01 := model_00 + 0.05 at every (size, seed) of their best settings; model_02 := model_00
    base = runs[runs["model"] == "model_00"].set_index(
        ["dataset", "init", "freeze", "size", "seed"]
    )
    for model, shift in (("model_01", 0.05), ("model_02", 0.0)):
        mask = runs["model"] == model
        key = runs.loc[mask, ["dataset", "init", "freeze", "size", "seed"]]
        runs.loc[mask, "accuracy"] = (
            base.loc[pd.MultiIndex.from_frame(key), "accuracy"].to_numpy() + shift
        )
    best = best.assign(setting=best["dataset"].map(lambda d: "freeze 0"))
    table = stats_comparisons.compare_models(runs, best)
    row = table[(table.model_a == "model_00") & (table.model_b == "model_01")].iloc[0]
    assert row.n_pairs == row.n_tested == 9
    assert row.verdict == "model_01 better" and row.p_holm < 0.05
    same = table[(table.model_a == "model_00") & (table.model_b == "model_02")].iloc[0]
    assert same.verdict == "no significant difference" and same.p == 1.0
    assert same.n_pairs == 9 and same.n_tested == 0  # all ties: the test drops every pair


def test_pareto_front():
    flags = pareto_flags(np.array([1.0, 2.0, 3.0, 2.5]), np.array([0.5, 0.8, 0.7, 0.9]))
    assert flags.tolist() == [True, True, False, True]


@pytest.mark.slow  # a job in a subprocess, or seconds of training
def test_report_is_self_contained_compact_and_says_n(synth, tmp_path):
    runs, summary = synth
    tables = Tables(summary=summary, runs=runs)
    specs = {k: make(tables).to_dict() for k, make in figures.FIGURES.items()}
    out = tmp_path / "report.html"
    size = report.build(runs, summary, specs, {"study": "synthetic"}, out, ROOT, tmp_path / "c.csv")
    html = out.read_text()
    assert size == len(html.encode()) < 1.6e6
    assert "<script src=" not in html and "https://cdn" not in html
    assert html.count("vegaEmbed=") + html.count("vegaEmbed =") <= 1  # the library once
    # data sets are stored once, column-wise, not inside each spec
    data = json.loads(re.search(r"const DATASETS = (\{.*?\});\n", html).group(1))
    assert data and all(set(d) == {"columns", "values"} for d in data.values())
    assert '"datasets":{"data-' not in html
    assert "n runs" in html and "over n =" in html and "Holm-adjusted p" in html
    comparisons = pd.read_csv(tmp_path / "c.csv")
    assert len(comparisons) == 2 * 3 and (comparisons["n_pairs"] == 9).all()
    for key in ("git commit", "total compute", "dataset dataset_0", "weights model_00"):
        assert key in html, key


def test_repeated_names_are_stored_once_per_column_and_rows_survive():
    from transfer_atlas.report.parts import _columns

    records = [{"dataset": f"d{i % 2}", "x": i, "note": None if i else "n"} for i in range(6)]
    packed = _columns(records)
    values = dict(zip(packed["columns"], packed["values"], strict=True))
    assert values["dataset"] == {"levels": ["d0", "d1"], "codes": [0, 1, 0, 1, 0, 1]}
    assert values["x"] == list(range(6))  # numbers stay as they are
    assert values["note"] == ["n", None, None, None, None, None]  # mixed: left alone
    unique = _columns([{"id": f"r{i}"} for i in range(4)])
    assert unique["values"] == [["r0", "r1", "r2", "r3"]]  # no gain: left alone


def test_names_from_the_data_are_escaped_in_the_page(synth, tmp_path):
    runs, summary = synth
    evil = '<b id="x">&'
    mistakes = [
        {
            "dataset": "dataset_0",
            "model": "model_00",
            "setting": "freeze 0",
            "size": "all",
            "n_runs": 3,
            "runs_without_mistakes_field": 0,
            "items": [],
            "confusion": {
                "classes": [evil, "ok"],
                "of": 2,
                "counts": [[1, 0], [0, 1]],
                "shares": [[1.0, 0.0], [0.0, 1.0]],
            },
        }
    ]
    out = tmp_path / "report.html"
    report.build(runs, summary, {}, {"study": "s"}, out, ROOT, mistakes=mistakes)
    html = out.read_text()
    assert evil not in html and "&lt;b id=&#34;x&#34;&gt;&amp;" in html


def test_report_says_what_each_picture_section_weighs(synth, tmp_path):
    from transfer_atlas.features import embedding

    runs, summary = synth
    labels = np.repeat(np.arange(2), 30)
    x = np.random.default_rng(0).normal(size=(60, 5)) + labels[:, None] * 4
    split = np.array(["train"] * 60, dtype=object)
    maps = [embedding.describe(x, labels, ["a", "b"], split, dataset="dataset_0", source="pixels")]
    explore = [{"dataset": "dataset_0", "shape": [60, 8, 8, 1], "num_classes": 2,
                "counts": [], "strips": [{"class": "a", "png": "QUJD", "n": 1}]}]  # fmt: skip
    sections: dict = {}
    out = tmp_path / "report.html"
    size = report.build(runs, summary, {}, {"study": "s"}, out, ROOT, explore=explore,
                        embeddings=maps, sections=sections)  # fmt: skip
    assert sections["sample images (PNG)"] == 4
    assert 0 < sections["2-D maps (spec + data)"] < size
    assert (
        sections["confidently wrong images (PNG)"]
        == sections["filters and feature maps (PNG)"]
        == 0
    )
