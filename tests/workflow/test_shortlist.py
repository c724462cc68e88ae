"""Shortlist mode through the real workflow (tiny_shortlist.yaml): one plain run scores
every model, fine-tunes only the top k per target, and reruns incrementally."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from conftest import ROOT, dry_run, load_yaml, snakemake, write_config

pytestmark = pytest.mark.slow

CONFIG = ROOT / "tests" / "configs" / "tiny_shortlist.yaml"
MODELS = ("cnn", "cnn_narrow", "tres")


def _finetuned(work) -> set:
    return {p.parent.name for p in (work / "results" / "runs" / "tgt").glob("*/*.json")}


@pytest.fixture(scope="module")
def shortlist_study(tmp_path_factory):
    work = tmp_path_factory.mktemp("shortlist")
    cfg = work / "config.yaml"
    shutil.copy(CONFIG, cfg)
    snakemake(work, "--cores", "2", configfile=cfg)
    return work, cfg


def test_one_run_fine_tunes_exactly_the_top_k(shortlist_study):
    work, _ = shortlist_study
    recs = {
        m: json.loads((work / f"results/transferability/tgt/{m}.json").read_text()) for m in MODELS
    }
    # the score of the n = 8, seed 0 subset the fine-tunes train on (not the whole split)
    (sub,) = [s for r in recs.values() for s in r["subsets"] if r["model"] == "cnn"]
    assert (sub["size"], sub["seed"], sub["n_train"]) == ("8", 0, 8)
    knn = {m: r["subsets"][0]["scores"]["knn"] for m, r in recs.items()}
    assert all(r["n_train"] > 8 for r in recs.values())  # the whole split, for tau only
    top2 = set(sorted(MODELS, key=lambda m: (-knn[m], m))[:2])  # ties: by name
    table = pd.read_csv(work / "results" / "shortlist.csv")
    assert list(table.columns) == [
        "dataset", "size", "seed", "model", "by", "score", "rank", "selected", "finetune_jobs"
    ]  # fmt: skip
    assert (table["by"] == "knn").all() and sorted(table["rank"]) == [1, 2, 3]
    assert dict(zip(table["model"], table["score"], strict=True)) == pytest.approx(knn)
    assert set(table.loc[table["selected"], "model"]) == top2
    assert (table["finetune_jobs"] == 2).all()  # freeze all + scratch, one size, one seed
    # Exactly the shortlisted models were fine-tuned, with their scratch baselines.
    assert _finetuned(work) == top2
    runs = pd.read_parquet(work / "results" / "runs.parquet")
    ft = runs[runs["regime"] == "finetune"]
    assert set(ft["model"]) == top2 and sorted(ft["init"].unique()) == ["pretrained", "scratch"]
    html = " ".join((work / "results" / "report.html").read_text().split())
    skipped = (set(MODELS) - top2).pop()
    assert "Shortlist: fine-tune only the top 2 by knn" in html
    assert f"Skipped: {skipped} on tgt (n=8, seed 0)" in html
    assert "2 of 6 fine-tune jobs (33%)" in html
    assert "knn (baseline)" in html and "prior (baseline)" in html


def test_rerun_is_incremental(shortlist_study, tmp_path):
    work, cfg = shortlist_study
    assert dry_run(work, cfg) == {}  # nothing to redo once the shortlist exists
    dst = tmp_path / "w"
    shutil.copytree(work, dst, symlinks=True)
    before = {p: p.stat().st_mtime_ns for p in (dst / "results" / "runs").rglob("*.json")}
    conf = load_yaml(cfg)
    conf["grid"]["shortlist"]["k"] = 3  # widen it: only the new model's jobs run
    cfg3 = write_config(dst / "config.yaml", conf)
    snakemake(dst, "--cores", "2", configfile=cfg3)
    assert _finetuned(dst) == set(MODELS)
    after = {p: p.stat().st_mtime_ns for p in (dst / "results" / "runs").rglob("*.json")}
    assert len(after) == len(before) + 2
    assert all(after[p] == t for p, t in before.items())  # earlier fine-tunes kept
    assert pd.read_csv(dst / "results" / "shortlist.csv")["selected"].all()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"k": 4}, "'grid.shortlist.k': 4 is more than the 3 grid models"),
        ({"by": "accuracy"}, "shortlist"),
    ],
)
def test_hostile_shortlist_config_fails_before_any_job(tmp_path, change, message):
    conf = load_yaml(CONFIG)
    conf["grid"]["shortlist"].update(change)
    cfg = write_config(tmp_path / "config.yaml", conf)
    proc = snakemake(tmp_path, "-n", configfile=cfg, check=False)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()
