"""scikit-image's bundled photographs as sources: the faces' labels, and the textures'
region split (no pixel of a photo is in two splits), through ``data.prepare`` and the
``prepare_dataset`` entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from transfer_atlas.data import photos
from transfer_atlas.data import prepared as data
from transfer_atlas.spec import registry
from transfer_atlas.spec.names import DEFAULT_TEXTURES, TEXTURE_PHOTOS

ROOT = Path(__file__).resolve().parents[3]
SPLIT = {"val": 0.2, "test": 0.2, "seed": 0}


def split_masks(layout, height, width, patch):
    """One boolean pixel mask per split: the pixels its patches cover."""
    masks = np.zeros((3, height, width), dtype=bool)
    for code, y, x in layout:
        masks[code, y : y + patch, x : x + patch] = True
    return masks


@pytest.mark.parametrize(
    "height, width, patch, stride, val, test",
    [
        (512, 512, 32, 32, 0.2, 0.2),
        (512, 512, 48, 16, 0.2, 0.2),  # overlapping patches within a split
        (512, 512, 64, 64, 0.15, 0.25),
        (872, 1000, 40, 24, 0.1, 0.3),  # hubble_deep_field's shape, odd band heights
    ],
)
def test_patches_of_different_splits_share_no_pixel(height, width, patch, stride, val, test):
    layout = photos.patch_layout(height, width, patch, stride, val, test)
    bands = photos.split_bands(height, val, test)
    assert set(layout[:, 0]) == {0, 1, 2}
    for code, y, x in layout:  # inside the photo and inside its own band
        top, bottom = bands[code]
        assert top <= y and y + patch <= bottom and 0 <= x and x + patch <= width
    masks = split_masks(layout, height, width, patch)
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        assert not (masks[a] & masks[b]).any(), f"splits {a} and {b} share pixels"
    heights = [bottom - top for top, bottom in bands]
    assert heights[1:] == [round(height * val), round(height * test)] and sum(heights) == height


def test_a_band_too_thin_for_a_patch_is_refused():
    with pytest.raises(ValueError, match="the val band is 26 of 512 rows, too few for patch_size"):
        photos.patch_layout(512, 512, 32, 32, 0.05, 0.2)


def test_prepared_textures_are_the_photo_patches_of_the_layout():
    """The prepared arrays hold exactly the layout's crops, in the layout's splits."""
    src = {"kind": "skimage_textures", "photos": ["brick", "gravel"], "patch_size": 64}
    prep = data.prepare({"source": src, "split": SPLIT})
    assert prep.class_names == ["brick", "gravel"]
    assert prep.images.shape[1:] == (64, 64, 1) and prep.images.dtype == np.uint8
    split_of = np.empty(len(prep.labels), dtype=np.int64)
    for code, idx in enumerate((prep.train_idx, prep.val_idx, prep.test_idx)):
        split_of[idx] = code
    row = 0
    for label, name in enumerate(src["photos"]):
        photo = photos.read_photo(name)
        layout = photos.patch_layout(*photo.shape, 64, 64, 0.2, 0.2)
        for code, y, x in layout:
            assert prep.labels[row] == label and split_of[row] == code
            assert np.array_equal(prep.images[row, ..., 0], photo[y : y + 64, x : x + 64])
            row += 1
    assert row == len(prep.labels)
    # 512 rows: train band 308 (4 patch rows), val and test 102 (1 row each); 8 per row
    for idx, per_class in ((prep.train_idx, 32), (prep.val_idx, 8), (prep.test_idx, 8)):
        assert np.bincount(prep.labels[idx]).tolist() == [per_class, per_class]


def test_textures_defaults_image_size_and_fixed_split():
    prep = data.prepare({"source": {"kind": "skimage_textures"}, "split": SPLIT})
    assert prep.class_names == list(DEFAULT_TEXTURES)
    assert prep.images.shape == (720, 32, 32, 1)  # 3 photos x (144 + 48 + 48) patches
    small = data.prepare(
        {"source": {"kind": "skimage_textures", "image_size": 16}, "split": {**SPLIT, "seed": 5}}
    )
    assert small.images.shape == (720, 16, 16, 1)
    # the split is the photos' regions: the split seed does not move it
    for a, b in zip(
        (prep.train_idx, prep.val_idx, prep.test_idx),
        (small.train_idx, small.val_idx, small.test_idx),
        strict=True,
    ):
        assert np.array_equal(a, b)


def test_textures_class_selection_keeps_the_region_split():
    spec = {"source": {"kind": "skimage_textures", "patch_size": 64}, "split": SPLIT}
    prep = data.prepare({**spec, "classes": ["gravel", "brick"]})
    assert prep.class_names == ["gravel", "brick"]
    counts = [np.bincount(prep.labels[i]).tolist() for i in (prep.train_idx, prep.val_idx)]
    assert counts == [[32, 32], [8, 8]]


def test_a_band_too_thin_is_named_with_its_photo():
    spec = {"source": {"kind": "skimage_textures", "patch_size": 128}, "split": SPLIT}
    with pytest.raises(ValueError, match="photo 'brick': the val band is 102 of 512 rows"):
        data.prepare(spec)


def test_textures_refuse_a_source_test_split():
    spec = {"source": {"kind": "skimage_textures"}, "split": {"val": 0.2, "test": "source"}}
    with pytest.raises(ValueError, match="no test split of their own"):
        data.prepare(spec)


def test_faces_labels_follow_scikit_image():
    """skimage.data.lfw_subset(): the first 100 images are faces, the rest non-faces."""
    from skimage.data import lfw_subset

    prep = data.prepare({"source": {"kind": "skimage_faces"}, "split": SPLIT})
    assert prep.class_names == ["face", "non_face"]
    assert prep.images.shape == (200, 25, 25, 1) and prep.images.dtype == np.uint8
    assert prep.labels.tolist() == [0] * 100 + [1] * 100
    reference = np.round(np.asarray(lfw_subset(), dtype=np.float64) * 255).astype(np.uint8)
    assert np.array_equal(prep.images[..., 0], reference)
    for idx, n in ((prep.train_idx, 60), (prep.val_idx, 20), (prep.test_idx, 20)):
        assert np.bincount(prep.labels[idx]).tolist() == [n, n]


@pytest.mark.parametrize(
    "source, message",
    [
        ({"kind": "skimage_textures", "photos": ["brick", "marble"]}, "unknown texture photo"),
        ({"kind": "skimage_textures", "photos": ["brick"]}, "at least 2 texture photos"),
        ({"kind": "skimage_textures", "photos": ["brick", "brick"]}, "lists a photo twice"),
        ({"kind": "skimage_textures", "size": 32}, "unknown key"),
        ({"kind": "skimage_faces", "patch_size": 32}, "unknown key"),
    ],
)
def test_bad_photo_sources_are_named(source, message):
    with pytest.raises(ValueError, match=message):
        registry.check_source(source)


def test_every_texture_photo_is_in_the_installed_wheel():
    for name in TEXTURE_PHOTOS:
        assert photos.read_photo(name).ndim == 2


def test_prepare_dataset_entry_point_writes_the_region_split(tmp_path):
    spec = {"source": {"kind": "skimage_textures", "patch_size": 64}, "split": SPLIT}
    out = tmp_path / "textures"
    cmd = [sys.executable, str(ROOT / "scripts" / "prepare_dataset.py"), "--name", "textures"]
    cmd += ["--spec", json.dumps(spec), "--out", str(out), "--workers", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "144 images (64, 64, 1), 3 classes, train/val/test = 96/24/24" in proc.stdout
    meta = json.loads((out / "meta.json").read_text())
    assert meta["counts"] == {"train": [32] * 3, "val": [8] * 3, "test": [8] * 3}
    assert data.load(out).fingerprint == data.prepare(spec).fingerprint


def test_bad_patch_keys_are_named_before_any_job(tmp_path):
    import yaml

    from transfer_atlas.spec.study import ConfigError
    from transfer_atlas.spec.validate import load_study

    config = yaml.safe_load((ROOT / "tests" / "configs" / "tiny_photos.yaml").read_text())
    config["datasets"]["textures"]["source"].update(patch_size="64", stride=0)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as err:
        load_study(path)
    assert "'datasets.textures.source.patch_size': expected an integer >= 4" in str(err.value)
    assert "'datasets.textures.source.stride': expected an integer >= 1" in str(err.value)
