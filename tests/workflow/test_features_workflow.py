"""The features regime and transferability through the real workflow (tiny_features.yaml).

The cache contract: the backbone runs over a dataset once per model x dataset x layer,
however many classifiers, sizes and seeds read the result.
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from conftest import ROOT, dry_run, load_yaml, snakemake, write_config

from transfer_atlas.spec import record

pytestmark = pytest.mark.slow

CONFIG = ROOT / "tests" / "configs" / "tiny_features.yaml"
# 1 target x 2 models x (pre_logits, stage0 + predictions for transferability)
N_CACHES = 6
# 2 layers x 2 models x 2 classifiers x 2 sizes x 2 seeds
N_CLASSIFY = 32


@pytest.fixture(scope="module")
def features_study(tmp_path_factory):
    work = tmp_path_factory.mktemp("features")
    cfg = work / "config.yaml"
    shutil.copy(CONFIG, cfg)
    planned = dry_run(work, cfg)
    snakemake(work, "--cores", "2", configfile=cfg)
    return work, cfg, planned


def test_backbone_runs_once_per_model_dataset_layer(features_study):
    work, _, planned = features_study
    assert planned["extract_features"] == N_CACHES and planned["classify"] == N_CLASSIFY
    caches = sorted((work / "results" / "features").rglob("*.npz"))
    assert [p.relative_to(work / "results" / "features").as_posix() for p in caches] == [
        f"tgt/{m}/{layer}.npz"
        for m in ("cnn", "tres")
        for layer in ("pre_logits", "predictions", "stage0")
    ]
    assert len(list((work / "logs" / "features").rglob("*.log"))) == N_CACHES
    records = sorted((work / "results" / "runs").rglob("features_*.json"))
    assert len(records) == N_CLASSIFY
    for path in records:
        rec = json.loads(path.read_text())
        record.validate(rec)
        assert rec["regime"] == "features" and rec["freeze"] == "all"
        assert rec["features"]["torch_imported"] is False  # classifier jobs never load torch
        assert rec["provenance"]["weights_sha256"]


def test_freeze_all_fine_tunes_read_their_backbone_output_from_the_cache(features_study):
    """The frozen backbone's pre_logits are the features regime's cache: the study's
    freeze-all fine-tunes train their heads on its rows instead of running it again."""
    work, cfg, _ = features_study
    runs = sorted((work / "results" / "runs").rglob("pretrained_fall_*.json"))
    assert len(runs) == 2 * 2 * 2  # models x sizes x seeds
    for path in runs:
        t = json.loads(path.read_text())["timing"]
        assert t["prefix_from"] == "feature cache" and t["prefix_cached"] > 0, path
    cmd = snakemake(work, "-n", "-p", "-f", runs[0].relative_to(work).as_posix(), configfile=cfg)
    model = runs[0].parent.name
    assert f"--features results/features/tgt/{model}/pre_logits.npz" in cmd.stdout


def test_more_classifiers_and_seeds_reuse_the_cache(features_study, tmp_path):
    work, cfg, _ = features_study
    dst = tmp_path / "w"
    shutil.copytree(work, dst, symlinks=True)
    conf = load_yaml(cfg)
    conf["grid"]["features"]["classifiers"].append("svm_rbf")
    conf["grid"]["seeds"].append(2)
    counts = dry_run(dst, write_config(dst / "config.yaml", conf))
    assert "extract_features" not in counts  # nothing recomputes the backbone
    assert counts["classify"] == 2 * 2 * 3 * 2 * 3 - N_CLASSIFY
    # run the new classifier's jobs for real: the caches stay untouched
    caches = {p: p.stat().st_mtime_ns for p in (dst / "results" / "features").rglob("*.npz")}
    conf["grid"]["seeds"].remove(2)
    cfg2 = write_config(dst / "config.yaml", conf)
    targets = [
        f"results/runs/tgt/{m}/features_{layer}_svm_rbf_n{n}_s1.json"
        for m, layer in (("cnn", "pre_logits"), ("tres", "stage0"))
        for n in ("8", "all")
    ]
    proc = snakemake(dst, "--cores", "2", *targets, configfile=cfg2)
    assert "extract_features" not in proc.stdout + proc.stderr
    assert {p: p.stat().st_mtime_ns for p in caches} == caches
    assert all((dst / t).exists() for t in targets)


def test_tables_and_report_show_features_and_model_selection(features_study):
    work, _, _ = features_study
    summary = pd.read_csv(work / "results" / "summary.csv")
    fe = summary[summary["regime"] == "features"]
    assert len(fe) == N_CLASSIFY // 2  # seeds pooled per cell
    assert set(fe["classifier"]) == {"logreg", "gaussian_nb"}
    assert (fe["n_runs"] == 2).all() and fe["gain_mean"].notna().all()
    table = pd.read_csv(work / "results" / "transferability.csv")
    assert sorted(table["model"]) == ["cnn", "tres"]
    scores = ["logme", "leep", "nce", "hscore", "sfda", "knn", "prior"]
    assert table[[*scores, "finetune_accuracy"]].notna().all().all()
    assert table[["sfda", "knn", "prior"]].apply(lambda c: c.between(0, 1)).all().all()
    assert (table["leep"] <= 0).all() and (table["nce"] <= 0).all()
    tau = pd.read_csv(work / "results" / "transferability_tau.csv")
    assert sorted(tau["score"]) == sorted(scores)
    assert set(tau.loc[tau["baseline"], "score"]) == {"knn", "prior"}
    # Two models: a rank correlation of two points is +-1 whatever the scores say, so the
    # table leaves tau blank and says why (results/stats/tau_intervals.py, MIN_MODELS = 3).
    assert (tau["n_models"] == 2).all() and tau["weighted_tau"].isna().all()
    assert tau["note"].str.contains("models").all()
    html = (work / "results" / "report.html").read_text()
    for text in ("Which model should I use?", "Feature extraction", "fig-transferability_scatter"):
        assert text in html


def test_report_maps_each_models_cached_features_without_another_pass(features_study):
    """The 2-D maps of the models' features read the pre_logits caches the study already
    writes: no extraction job of their own, and each map's log names the cache it read."""
    work, _, planned = features_study
    assert planned["embed"] == 1 + 2  # tgt's pixels, then cnn's and tres's features
    assert planned["extract_features"] == N_CACHES  # the same caches as without the maps
    for model in ("cnn", "tres"):
        log = (work / "logs" / "explore" / "embeddings" / "tgt" / f"{model}.log").read_text()
        assert f"read from results/features/tgt/{model}/pre_logits.npz" in log
        out = json.loads(
            (work / "results" / "explore" / "embeddings" / "tgt" / f"{model}.json").read_text()
        )
        assert out["source"] == model and out["n"] == out["of"] == 96
    html = (work / "results" / "report.html").read_text()
    assert "dataset_embeddings" in html and "t-SNE" in html


def test_the_maps_of_every_representation_draw_in_chromium(features_study):
    from test_report_browser import _chromium

    from transfer_atlas.testing import browser

    work, _, _ = features_study
    probe = """(() => [...document.querySelectorAll('#fig-dataset_embeddings svg text')]
      .map(t => t.textContent))()"""
    result = browser.open_page(
        work / "results" / "report.html", probe=probe, executable=_chromium()
    )
    assert result.console_errors == [] and result.remote_requests == []
    texts = set(result.probe)
    assert {"pixels", "cnn", "tres", "tgt · PCA", "tgt · t-SNE"} <= texts, texts
