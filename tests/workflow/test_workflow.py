"""The real workflow end to end on a tiny study, and its incremental reruns."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from conftest import dry_run, load_yaml, snakemake, write_config

from transfer_atlas.spec import record

pytestmark = pytest.mark.slow


def test_tiny_study_produces_records_tables_figures_report(tiny_study):
    work, cfg = tiny_study
    records = sorted((work / "results" / "runs").rglob("*.json"))
    # 1 target x 2 models x 2 sizes x 1 seed x (2 freeze depths + scratch)
    assert len(records) == 12
    for path in records:
        rec = json.loads(path.read_text())
        record.validate(rec)
        assert rec["timing"]["startup"] in ("warm", "cold")
        assert len(rec["provenance"]["dataset_fingerprint"]) == 64
        if rec["init"] == "pretrained":
            assert rec["provenance"]["weights_sha256"]
    runs = pd.read_parquet(work / "results" / "runs.parquet")
    assert len(runs) == 12 and set(runs["model"]) == {"cnn", "tres"}
    summary = pd.read_csv(work / "results" / "summary.csv")
    assert {"accuracy_mean", "accuracy_ci95_low", "gain_mean", "n_runs"} <= set(summary)
    for name in ("accuracy_heatmap", "gain_heatmap"):
        for ext in ("vl.json", "svg", "png"):
            assert (work / "results" / "figures" / f"{name}.{ext}").stat().st_size > 0
    html = (work / "results" / "report.html").read_text()
    assert "vegaEmbed" in html and "fig-accuracy_heatmap" in html and "<script src=" not in html
    logs = list((work / "logs" / "finetune").rglob("*.log"))
    assert len(logs) == 12 and all("epoch 1/" in p.read_text() for p in logs)


def test_record_schema_rejects_a_broken_record(tiny_study):
    work, _ = tiny_study
    rec = json.loads(next((work / "results" / "runs").rglob("*.json")).read_text())
    rec["metrics"]["accuracy"] = 1.5
    del rec["provenance"]
    with pytest.raises(ValueError, match="accuracy") as err:
        record.validate(rec)
    assert "provenance" in str(err.value)


def test_second_run_has_nothing_to_do(tiny_study):
    work, cfg = tiny_study
    proc = snakemake(work, "-n", configfile=cfg)
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.fixture
def tiny_copy(tiny_study, tmp_path):
    """A copy of the finished tiny study (results + Snakemake metadata) to mutate."""
    work, cfg = tiny_study
    dst = tmp_path / "w"
    shutil.copytree(work, dst, symlinks=True)
    return dst, load_yaml(cfg)


def test_adding_a_seed_schedules_exactly_that_seed(tiny_copy):
    work, cfg = tiny_copy
    cfg["grid"]["seeds"] = [0, 1]
    counts = dry_run(work, write_config(work / "config.yaml", cfg))
    assert counts == {
        "finetune": 12,
        "aggregate": 1,
        "best_settings": 1,
        "across_targets": 1,
        "findings": 1,
        "figures": 1,
        "mistakes": 1,
        "report": 1,
        "all": 1,
    }


def test_changing_one_models_hyperparameter_reruns_only_that_model(tiny_copy):
    work, cfg = tiny_copy
    cfg["models"]["cnn"]["train"] = {"lr": 0.01}
    cfg_path = write_config(work / "config.yaml", cfg)
    counts = dry_run(work, cfg_path)
    assert counts == {
        "finetune": 6,
        "aggregate": 1,
        "best_settings": 1,
        "across_targets": 1,
        "findings": 1,
        "figures": 1,
        "mistakes": 1,
        "report": 1,
        "all": 1,
    }
    out = snakemake(work, "-n", configfile=cfg_path).stdout
    jobs = [ln.split("output: ")[1] for ln in out.splitlines() if "output: results/runs/" in ln]
    assert len(jobs) == 6 and all("/cnn/" in j for j in jobs), jobs


def test_changing_pretraining_reruns_source_and_its_finetunes(tiny_copy):
    work, cfg = tiny_copy
    cfg["models"]["tres"]["weights"]["train"]["epochs"] = 2
    counts = dry_run(work, write_config(work / "config.yaml", cfg))
    # tres: pretrain, then its 4 pretrained fine-tunes (scratch runs do not use the weights)
    assert counts["pretrain"] == 1 and counts["finetune"] == 4
