"""grid.adapt through the real workflow: config/studies/adapt.yaml, scaled down (two of its
models, one seed, a few epochs), writes records with the adapt values, BitFit and LoRA
train fewer parameters than full fine-tuning, and the tables, figures and report carry them
as settings (its across-targets comparison drawn in Chromium). A LoRA pattern that
matches no module fails its job before training, naming the pattern."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import ROOT, load_yaml, snakemake, write_config

from transfer_atlas.spec import record

pytestmark = pytest.mark.slow

METHODS = ["bitfit", "norm", "lora", "lp_ft"]  # config/studies/adapt.yaml's


@pytest.fixture(scope="module")
def adapt_study(tmp_path_factory):
    """config/studies/adapt.yaml at test scale, run to its report: its two targets, every
    setting (freeze 0 / 2 / all, the four methods, scratch), two of its models, one seed
    and a few epochs (32 fine-tunes of seconds each)."""
    work = tmp_path_factory.mktemp("adapt")
    cfg = load_yaml(ROOT / "config" / "studies" / "adapt.yaml")
    assert cfg["grid"]["adapt"] == METHODS and cfg["grid"]["freeze"] == [0, 2, "all"]
    cfg["grid"].update(models=["small_cnn", "test_resnet"], seeds=[0])
    for name in cfg["grid"]["models"]:
        cfg["models"][name]["weights"]["train"] = {"epochs": 2}
    cfg["train"].update(epochs=2, min_steps=10)
    cfg["adapt_args"]["lp_ft"].update(probe_epochs=1, epochs=1)
    path = write_config(work / "config.yaml", cfg)
    snakemake(work, "--cores", "2", configfile=path)
    return work


def test_adapt_records_tables_and_figures(adapt_study):
    work = adapt_study
    recs = {}
    for path in (work / "results" / "runs").rglob("*.json"):
        rec = json.loads(path.read_text())
        record.validate(rec)
        if (rec["dataset"], rec["seed"]) == ("digits_5to9", 0):
            recs[(rec["model"], rec["init"], rec["freeze"])] = rec
    for model in ("small_cnn", "test_resnet"):
        full = recs[(model, "pretrained", "0")]
        assert "adapt" not in full and full["task_bytes"] > 0
        for method in METHODS:
            rec = recs[(model, "pretrained", method)]
            assert rec["adapt"] == method and rec["regime"] == "finetune"
        for method in ("bitfit", "norm", "lora"):
            rec = recs[(model, "pretrained", method)]
            assert rec["params"]["trainable"] < full["params"]["trainable"], (model, method)
            assert rec["task_bytes"] < full["task_bytes"], (model, method)
        lp_ft = recs[(model, "pretrained", "lp_ft")]
        assert lp_ft["train"]["unfreeze"]["epochs"] == 1 and lp_ft["timing"]["epochs_run"] == 2
        assert lp_ft["params"]["trainable"] == lp_ft["params"]["total"]
        lora = recs[(model, "pretrained", "lora")]
        assert lora["adapt_args"]["r"] == 8
        # measured merged (issue 25, item 5): inference costs what the base model costs
        assert lora["flops"] == full["flops"] and lora["size_bytes"] == full["size_bytes"]
        assert lora["params"]["total"] == full["params"]["total"]
    runs = pd.read_parquet(work / "results" / "runs.parquet")
    assert set(runs["adapt"]) == {"freeze", *METHODS}
    spec = (work / "results" / "figures" / "accuracy_vs_trainable.vl.json").read_text()
    assert all(f'"{m}"' in spec for m in METHODS)


def test_a_lora_pattern_matching_nothing_fails_the_job_before_training(tmp_path):
    cfg = load_yaml(ROOT / "tests" / "configs" / "tiny.yaml")
    cfg["grid"].update(models=["cnn"], freeze=["all"], adapt=["lora"], sizes=["all"])
    cfg["grid"]["scratch"] = False
    cfg["adapt_args"] = {"lora": {"target_modules": ["attn\\.qkv"]}}
    path = write_config(tmp_path / "config.yaml", cfg)
    proc = snakemake(tmp_path, "--cores", "1", configfile=path, check=False)
    assert proc.returncode != 0
    log = (tmp_path / "logs/finetune/tgt/cnn/pretrained_flora_nall_s0.log").read_text()
    assert "['attn\\\\.qkv'] match no Linear" in log and "epoch 1/" not in log
    assert not (tmp_path / "results/runs/tgt/cnn/pretrained_flora_nall_s0.json").exists()


def test_adapt_report_draws_the_across_targets_comparison(adapt_study):
    """The report of adapt.yaml's settings shows the across-targets view (IQM, probability
    of improvement) with every freeze depth and method, drawn in a real Chromium."""
    from test_report_browser import check_across_targets

    check_across_targets(adapt_study / "results", ["freeze 0", "freeze 2", *METHODS])
