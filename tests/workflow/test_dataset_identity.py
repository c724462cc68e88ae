"""A dataset is its content: file changes rerun its preparation; mtime-only moves do not.

Real Snakemake runs on the tiny study with its target read from files (an ImageFolder
tree, then a CSV-labelled folder): a changed image (its old mtime restored), an added
one or an edited CSV reruns that dataset's preparation and not the other dataset's; a
no-change run and a byte-for-byte copy with new mtimes and inodes (what `dvc pull` or
`cp -r` leave) plan nothing.
"""

from __future__ import annotations

import copy
import os
import shutil

import numpy as np
import pytest
from conftest import ROOT, job_counts, load_yaml, snakemake, write_config

from transfer_atlas.testing import standin

pytestmark = pytest.mark.slow
TARGETS = ("results/prepared/tgt/meta.json", "results/prepared/src/meta.json")


def _study(work, source: dict):
    cfg = copy.deepcopy(load_yaml(ROOT / "tests" / "configs" / "tiny.yaml"))
    cfg["datasets"]["tgt"]["source"] = source
    return write_config(work / "config.yaml", cfg)


def _run(work, cfg):
    # targets before --configfile, which takes several values
    snakemake(work, *TARGETS, "--cores", "2", "--configfile", str(cfg))


def _planned(work, cfg) -> dict:
    proc = snakemake(work, *TARGETS, "-n", "--quiet", "rules", "--configfile", str(cfg))
    return job_counts(proc.stdout + proc.stderr)


def _recopy(folder):
    """The same bytes with new mtimes and inodes, as `dvc pull` or `cp -r` leave them."""
    tmp = folder.with_name(folder.name + ".copy")
    shutil.copytree(folder, tmp, copy_function=shutil.copyfile)
    shutil.rmtree(folder)
    tmp.rename(folder)


def _new_png(seed: int) -> bytes:
    """An image no other one equals (preparation refuses duplicate pictures)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    return standin.png_bytes(pixels, "PNG")


def _overwrite_keeping_mtime(path, data: bytes):
    st = os.stat(path)
    path.write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_image_folder_content_decides_reruns(tmp_path):
    root = tmp_path / "data" / "shapes"
    standin.write_image_folder(root, ["circle", "square"], per_class=12, size=8)
    cfg = _study(tmp_path, {"kind": "image_folder", "root": "data/shapes", "image_size": 8})
    _run(tmp_path, cfg)
    images = np.load(tmp_path / "results/prepared/tgt/images.npy")
    assert _planned(tmp_path, cfg) == {}, "a no-change run plans nothing"

    _recopy(root)
    assert _planned(tmp_path, cfg) == {}, "new mtimes and inodes, same bytes: nothing"

    # Other pixels in one image, its old mtime restored: only tgt is prepared again.
    victim = sorted((root / "circle").iterdir())[0]
    _overwrite_keeping_mtime(victim, _new_png(1))
    assert _planned(tmp_path, cfg) == {"prepare_dataset": 1}
    _run(tmp_path, cfg)
    changed = np.load(tmp_path / "results/prepared/tgt/images.npy")
    assert not np.array_equal(images, changed), "the new pixels reached the arrays"
    assert _planned(tmp_path, cfg) == {}

    # One image more: prepared again, and the arrays have it.
    (root / "square" / "new.png").write_bytes(_new_png(2))
    assert _planned(tmp_path, cfg) == {"prepare_dataset": 1}
    _run(tmp_path, cfg)
    assert len(np.load(tmp_path / "results/prepared/tgt/labels.npy")) == len(changed) + 1

    # One image fewer.
    (root / "square" / "new.png").unlink()
    assert _planned(tmp_path, cfg) == {"prepare_dataset": 1}


def test_csv_folder_rows_and_images_decide_reruns(tmp_path):
    csv = tmp_path / "data" / "leaves" / "labels.csv"
    standin.write_csv_folder(csv, {"oak": 12, "ash": 12}, size=8)
    source = {"kind": "csv_folder", "csv_path": "data/leaves/labels.csv", "image_size": 8}
    cfg = _study(tmp_path, source)
    _run(tmp_path, cfg)
    assert _planned(tmp_path, cfg) == {}
    _recopy(csv.parent)
    assert _planned(tmp_path, cfg) == {}
    lines = csv.read_text().splitlines()
    _overwrite_keeping_mtime(csv, ("\n".join(lines[:-1]) + "\n").encode())  # one row fewer
    assert _planned(tmp_path, cfg) == {"prepare_dataset": 1}
