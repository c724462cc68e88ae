"""The real workflow on scikit-image's photographs (tiny_photos.yaml): faces as the
pretraining source, texture patches split by photo region as the target."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from conftest import ROOT, snakemake

from transfer_atlas.spec import record

pytestmark = pytest.mark.slow


def test_tiny_photo_study_runs_on_the_region_split(tmp_path):
    cfg = tmp_path / "config.yaml"
    shutil.copy(ROOT / "tests" / "configs" / "tiny_photos.yaml", cfg)
    snakemake(tmp_path, "--cores", "2", "results/runs.parquet", configfile=cfg)
    meta = json.loads((tmp_path / "results" / "prepared" / "textures" / "meta.json").read_text())
    assert meta["class_names"] == ["brick", "grass", "gravel"]
    assert meta["shape"] == [144, 8, 8, 1]
    assert meta["counts"] == {"train": [32] * 3, "val": [8] * 3, "test": [8] * 3}
    faces = json.loads((tmp_path / "results" / "prepared" / "faces" / "meta.json").read_text())
    assert faces["class_names"] == ["face", "non_face"] and faces["shape"] == [200, 25, 25, 1]
    records = sorted((tmp_path / "results" / "runs").rglob("*.json"))
    assert len(records) == 4  # 2 sizes x (freeze all + scratch)
    for path in records:
        rec = json.loads(path.read_text())
        record.validate(rec)
        assert rec["n_val"] == 24
        assert sum(map(sum, rec["metrics"]["confusion_matrix"])) == 24  # the test band
        if rec["init"] == "pretrained":
            assert rec["provenance"]["weights_sha256"]
    runs = pd.read_parquet(tmp_path / "results" / "runs.parquet")
    assert sorted(runs["n_train"].unique().tolist()) == [6, 96]
