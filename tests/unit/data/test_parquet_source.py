"""The Parquet source on files the test writes in Hugging Face ``datasets``' on-disk
layout (image struct {bytes, path}, ClassLabel names in the schema metadata) and in
plain form (binary image column, string labels); and its errors."""

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from transfer_atlas.data import decode
from transfer_atlas.data import prepared as data
from transfer_atlas.data.checks import DataError
from transfer_atlas.testing import standin

NAMES = ["cat", "dog", "fox"]


def _png(img) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def write_hf(path, images, labels, row_group_size=7):
    """One split file as ``datasets`` writes it (``Dataset.to_parquet``)."""
    image = pa.array(
        [{"bytes": _png(im), "path": f"{i}.png"} for i, im in enumerate(images)],
        pa.struct([("bytes", pa.binary()), ("path", pa.string())]),
    )
    features = {"image": {"_type": "Image"},
                "label": {"_type": "ClassLabel", "names": NAMES}}  # fmt: skip
    meta = {b"huggingface": json.dumps({"info": {"features": features}}).encode()}
    table = pa.table({"image": image, "label": pa.array(labels, pa.int64())})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.replace_schema_metadata(meta), path, row_group_size=row_group_size)


def _prep(source, **extra):
    return data.prepare({"source": {"kind": "parquet", **source},
                         "split": {"val": 0.2, "test": 0.2, "seed": 0}, **extra})  # fmt: skip


def test_hugging_face_layout_with_own_test_split(tmp_path):
    train, ytr = standin.pattern_images(3, 10, 12, seed=1)
    test, yte = standin.pattern_images(3, 4, 12, seed=2)
    write_hf(tmp_path / "data" / "train-00000-of-00001.parquet", train, ytr)
    write_hf(tmp_path / "data" / "test-00000-of-00001.parquet", test, yte)
    src = {"root": str(tmp_path), "train": "data/train-*.parquet",
           "test": "data/test-*.parquet", "image_size": 12}  # fmt: skip
    prep = _prep(src, split={"test": "source", "val": 0.2})
    assert prep.class_names == NAMES  # from the ClassLabel metadata
    np.testing.assert_array_equal(prep.images, np.concatenate([train, test]))
    np.testing.assert_array_equal(prep.labels, np.concatenate([ytr, yte]))
    assert len(prep.test_idx) == len(test) and prep.test_idx.min() == len(train)


def test_streamed_in_workers_equals_in_memory(tmp_path):
    images, labels = standin.pattern_images(3, 30, 20, seed=4)
    write_hf(tmp_path / "d.parquet", images, labels, row_group_size=16)
    spec = {"source": {"kind": "parquet", "root": str(tmp_path / "d.parquet"), "image_size": 8},
            "split": {"val": 0.2, "test": 0.2, "seed": 0}}  # fmt: skip
    streamed = data.prepare_to(spec, tmp_path / "out", workers=2)
    want = np.stack([decode.read_image(io.BytesIO(_png(im)), 8, 3) for im in images])
    np.testing.assert_array_equal(streamed.images, want)
    assert streamed.fingerprint == data.prepare(spec).fingerprint


def test_plain_bytes_and_string_labels(tmp_path):
    images, labels = standin.pattern_images(2, 6, 10, channels=1)
    names = np.array(["yes", "no"])[labels]
    table = pa.table({"img": pa.array([_png(im[..., 0]) for im in images], pa.binary()),
                      "answer": pa.array(names.tolist())})  # fmt: skip
    pq.write_table(table, tmp_path / "x.parquet")
    prep = _prep({"root": str(tmp_path), "image_col": "img", "label_col": "answer",
                  "image_size": 10, "channels": 1})  # fmt: skip
    assert prep.class_names == ["no", "yes"]  # sorted
    np.testing.assert_array_equal(prep.images, images)
    np.testing.assert_array_equal(prep.labels, 1 - labels)


def test_errors_name_the_file_and_row(tmp_path):
    images, labels = standin.pattern_images(3, 4, 8, seed=1)
    write_hf(tmp_path / "ok" / "a.parquet", images, labels)
    with pytest.raises(DataError, match=r"missing column\(s\) \['pixels'\]"):
        _prep({"root": str(tmp_path / "ok"), "image_col": "pixels"})
    with pytest.raises(FileNotFoundError, match="Parquet dataset not found"):
        _prep({"root": str(tmp_path / "absent")})
    with pytest.raises(DataError, match="no Parquet files match"):
        _prep({"root": str(tmp_path / "ok"), "train": "train-*.parquet"})
    bad_label = labels.copy()
    bad_label[5] = 7
    write_hf(tmp_path / "lab" / "a.parquet", images, bad_label)
    with pytest.raises(
        DataError, match=r"a.parquet, row group 0, row 5: .label. 7 is outside 0..2"
    ):
        _prep({"root": str(tmp_path / "lab")})
    # A path instead of embedded bytes: named with its file, row group and row.
    cells = [{"bytes": _png(im), "path": None} for im in images[:9]]
    cells[5] = {"bytes": None, "path": "/x/5.png"}
    kind = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    table = pa.table({"image": pa.array(cells, kind), "label": pa.array([0, 1, 2] * 3)})
    pq.write_table(table, tmp_path / "p.parquet", row_group_size=4)
    with pytest.raises(DataError, match=r"p.parquet, row group 1, row 1: image stored as a path"):
        _prep({"root": str(tmp_path / "p.parquet")})
    # Broken image bytes: the same kind of message as a broken file.
    table = pa.table({"image": pa.array([b"\x89PNG broken"] * 6, pa.binary()),
                      "label": pa.array([0, 1] * 3)})  # fmt: skip
    pq.write_table(table, tmp_path / "b.parquet")
    with pytest.raises(DataError, match=r"b.parquet, row group 0, row 0: not an image"):
        _prep({"root": str(tmp_path / "b.parquet")})
    (tmp_path / "t.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        _prep({"root": str(tmp_path / "t.parquet")})
