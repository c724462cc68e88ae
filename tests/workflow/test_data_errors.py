"""Bad image data stops a real Snakemake run in prepare_dataset, naming the file, before
any model trains and without writing the dataset's prepared arrays or any result."""

from __future__ import annotations

import copy

import pytest
from conftest import ROOT, load_yaml, snakemake, write_config

from transfer_atlas.testing import standin

pytestmark = pytest.mark.slow


def study_with_image_folder(work):
    """The tiny study, its target an ImageFolder tree of PNGs under the work directory."""
    cfg = copy.deepcopy(load_yaml(ROOT / "tests" / "configs" / "tiny.yaml"))
    root = work / "data" / "shapes"
    standin.write_image_folder(root, ["circle", "square"], per_class=12, size=8)
    cfg["datasets"]["tgt"]["source"] = {
        "kind": "image_folder",
        "root": "data/shapes",
        "image_size": 8,
    }
    return write_config(work / "config.yaml", cfg), root


def test_stray_file_in_an_image_folder_fails_prepare_dataset(tmp_path):
    cfg, root = study_with_image_folder(tmp_path)
    stray = root / "square" / "notes.txt"
    stray.write_text("remember to crop these")
    proc = snakemake(tmp_path, "--cores", "2", configfile=cfg, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Error in rule prepare_dataset" in output
    log = (tmp_path / "logs" / "prepare" / "tgt.log").read_text()
    assert "error: dataset 'tgt': data/shapes/square/notes.txt: not an image file" in log, log
    # Nothing of the target was written, and no job after preparation ran.
    assert not (tmp_path / "results" / "prepared" / "tgt").exists() or not any(
        (tmp_path / "results" / "prepared" / "tgt").iterdir()
    )
    written = {p.relative_to(tmp_path / "results").as_posix() for p in _files(tmp_path)}
    npy = ("images", "labels", "train_idx", "val_idx", "test_idx")
    assert written <= {f"prepared/src/{n}.npy" for n in npy} | {"prepared/src/meta.json"}, written
    # Without the stray file the same tree prepares: the failure was the file.
    stray.unlink()
    snakemake(tmp_path, "--cores", "1", "results/prepared/tgt/meta.json", configfile=cfg)
    assert (tmp_path / "results" / "prepared" / "tgt" / "images.npy").is_file()


def _files(work):
    results = work / "results"
    return [p for p in results.rglob("*") if p.is_file()] if results.exists() else []
