"""The prepared-data layout of issue 16: memory-mapped ``.npy`` files, streaming
preparation in worker processes, resize modes, crash safety, and jobs that read the
rows they use a batch at a time."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from transfer_atlas.data import checks, decode, stream
from transfer_atlas.data import prepared as data
from transfer_atlas.nn import pipeline
from transfer_atlas.testing import standin

SPLIT = {"val": 0.2, "test": 0.2, "seed": 0}


@pytest.fixture
def tree(tmp_path):
    """An ImageFolder tree of JPEGs of several sizes and aspects (3 classes x 20)."""
    rng = np.random.default_rng(3)
    root = tmp_path / "tree"
    for c in ("a", "b", "c"):
        (root / c).mkdir(parents=True)
        for i in range(20):
            w, h = (int(v) for v in rng.integers(12, 40, 2))
            pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / c / f"{i:02d}.jpg", quality=90)
    return root


def _spec(root, **source):
    return {"source": {"kind": "image_folder", "root": str(root), "image_size": 16, **source},
            "split": SPLIT}  # fmt: skip


def test_streamed_preparation_equals_decoding_every_file_in_memory(tree, tmp_path):
    # What preparation did before: decode each file in order, stack, fingerprint.
    paths = sorted(tree.glob("*/*.jpg"))
    old = np.stack([decode.read_image(p, 16, 3) for p in paths])
    labels = np.repeat(np.arange(3), 20)
    streamed = data.prepare_to(_spec(tree), tmp_path / "out", workers=2)
    assert isinstance(streamed.images, np.memmap)
    np.testing.assert_array_equal(streamed.images, old)
    np.testing.assert_array_equal(streamed.labels, labels)
    split = data.stratified_split(labels, 0.2, 0.2, 0)
    assert streamed.fingerprint == data.fingerprint(old, labels, *split)
    in_memory = data.prepare(_spec(tree))  # one process, into an array
    assert in_memory.fingerprint == streamed.fingerprint
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted([*(f"{n}.npy" for n in data.ARRAYS), "meta.json"])


def test_loaded_arrays_are_memory_mapped_and_equal_what_was_saved(tmp_path):
    prep = data.prepare({"source": {"kind": "generated", "per_class": 30}, "split": SPLIT})
    data.save(prep, tmp_path / "p")
    back = data.load(tmp_path / "p")
    assert isinstance(back.images, np.memmap) and back.images.mode == "r"
    for name in data.ARRAYS:
        np.testing.assert_array_equal(getattr(back, name), getattr(prep, name))
    assert back.fingerprint == prep.fingerprint
    with pytest.raises(ValueError, match="read-only"):
        back.images[0, 0, 0, 0] = 1


def test_resize_modes(tree, tmp_path):
    wide = np.zeros((20, 40, 3), np.uint8)
    wide[:, 10:30] = 255  # a white centre band, black sides
    Image.fromarray(wide).save(tmp_path / "w.png")
    stretch = decode.read_image(tmp_path / "w.png", 10, 3)
    crop = decode.read_image(tmp_path / "w.png", 10, 3, "center_crop")
    pad = decode.read_image(tmp_path / "w.png", 10, 3, "pad")
    assert stretch.shape == crop.shape == pad.shape == (10, 10, 3)
    # the centre 20x20 of the 40x20 image is white (its edge columns blur into black)
    assert crop[:, 1:-1].min() == 255 and crop[:, 0].max() > 128
    assert pad[:2].max() == 0 and pad[-2:].max() == 0  # 10x5 image centred on black
    assert stretch[:, 0].max() < 128 < stretch[:, 5].min()  # sides squeezed, not cut
    # center_crop follows torchvision's Resize(shorter side) + CenterCrop.
    from torchvision.transforms import CenterCrop, Resize

    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (31, 47, 3), np.uint8))
    img.save(tmp_path / "r.png")
    want = np.asarray(CenterCrop(16)(Resize(16, antialias=True)(img)))
    np.testing.assert_array_equal(decode.read_image(tmp_path / "r.png", 16, 3, "center_crop"), want)
    with pytest.raises(ValueError, match="resize 'squash' is not one of"):
        data.prepare(_spec(tree, resize="squash"))


def test_a_kill_while_committing_leaves_no_prepared_dataset(tree, tmp_path, monkeypatch):
    out = tmp_path / "out"
    data.prepare_to(_spec(tree), out)
    real_replace, moved = os.replace, []

    def dies_after_one(src, dst):
        if moved:
            raise KeyboardInterrupt("killed")  # a BaseException, like a signal
        moved.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", dies_after_one)
    with pytest.raises(KeyboardInterrupt):
        data.prepare_to(_spec(tree, resize="pad"), out)
    monkeypatch.setattr(os, "replace", real_replace)
    # meta.json went first: no job reads a mix of old and new arrays as prepared
    assert not (out / "meta.json").exists()
    with pytest.raises(FileNotFoundError):
        data.load(out)
    assert not list(out.glob(".staging*"))  # the staging folder was cleaned up
    again = data.prepare_to(_spec(tree, resize="pad"), out)
    assert data.load(out).fingerprint == again.fingerprint


def test_a_dead_writers_staging_folder_is_removed(tree, tmp_path):
    out = tmp_path / "out"
    stale = out / f".staging~{os.uname().nodename}~999999999"
    stale.mkdir(parents=True)
    (stale / "images.npy").write_bytes(b"half")
    data.prepare_to(_spec(tree), out)
    assert not stale.exists()


def test_old_layout_gets_a_clear_error(tmp_path):
    (tmp_path / "arrays.npz").write_bytes(b"")
    with pytest.raises(ValueError, match="old layout .*prepare the dataset again"):
        data.load(tmp_path)


def test_decode_errors_from_workers_name_the_file(tree, tmp_path):
    bad = tree / "b" / "05.jpg"
    bad.write_bytes(bad.read_bytes()[:50])
    with pytest.raises(checks.DataError, match=r"b/05.jpg: .*(broken|truncated)"):
        data.prepare_to(_spec(tree), tmp_path / "out", workers=2)
    assert not any((tmp_path / "out").iterdir())


def test_progress_lines_report_rate_and_eta(tree, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(stream, "PROGRESS_EVERY", 0.0)
    data.prepare_to(_spec(tree), tmp_path / "out", workers=2)
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("decoded")]
    assert lines[-1].startswith("decoded 60/60 images,") and "images/s, ETA" in lines[-1]


def test_rows_input_converts_only_the_slice_and_equals_the_whole_conversion(monkeypatch):
    images, _ = standin.pattern_images(3, 10, 12)
    idx = np.array([3, 1, 4, 15, 9, 26, 5])
    spec = {"input_size": 20, "in_chans": 3}
    whole = pipeline.spec_input(images[idx], spec, "cpu")
    monkeypatch.setattr(pipeline, "KEEP_BYTES", 0)  # large-dataset path: nothing kept
    rows = pipeline.RowsInput(images, idx, spec, "cpu")
    assert rows.kept is None and rows.shape == tuple(whole.shape) and len(rows) == 7
    torch.testing.assert_close(torch.cat([rows[0:3], rows[3:7]]), whole, rtol=0, atol=0)
    from transfer_atlas.train.loop import predict

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 20 * 20, 3))
    torch.testing.assert_close(predict(model, rows, 2), predict(model, whole, 2))


def test_job_inputs_read_the_memory_map_per_batch(tmp_path, monkeypatch):
    from transfer_atlas.train.finetune import prepare_inputs

    prep = data.prepare({"source": {"kind": "generated", "per_class": 30}, "split": SPLIT})
    data.save(prep, tmp_path / "p")
    mapped = data.load(tmp_path / "p")
    monkeypatch.setattr(pipeline, "KEEP_BYTES", 0)
    xtr, _, xva, _, xte, yte = prepare_inputs(mapped, {"input_size": 16}, "cpu", mapped.train_idx)
    assert isinstance(xtr, torch.Tensor)  # the training subset: converted once
    assert isinstance(xva, pipeline.RowsInput) and isinstance(xte, pipeline.RowsInput)
    assert xva.images is mapped.images  # no copy of the dataset
    want = pipeline.spec_input(prep.images[prep.test_idx], {"input_size": 16}, "cpu")
    torch.testing.assert_close(xte[0 : len(xte)], want, rtol=0, atol=0)
    assert len(yte) == len(xte)
    assert Path(tmp_path / "p" / "images.npy").stat().st_size > prep.images.nbytes
