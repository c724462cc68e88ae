"""Dataset loaders on generated files in the real formats, through ``data.prepare``:
CIFAR python pickles, MNIST IDX, SVHN .mat, STL-10 binaries, ImageFolder PNG/JPEG trees,
CSV-labelled folders (with label merging and top-k), class subsets, the dataset's own
test split, augmented copies; and clear errors for broken or missing files."""

import pickle

import numpy as np
import pytest

from transfer_atlas.data import checks, folders, loaders
from transfer_atlas.data import prepared as data
from transfer_atlas.testing import standin


def _prep(source, **extra):
    return data.prepare({"source": source, "split": {"val": 0.2, "test": 0.2, "seed": 0}, **extra})


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "mnist", "fashion_mnist", "svhn", "stl10"])
def test_torchvision_formats_round_trip(tmp_path, name):
    root = tmp_path / name
    images, labels, test = standin.write_torchvision(name, root, n_classes=10, per_class=4)
    got_x, got_y, names, is_test = loaders.load_torchvision(name, root=str(root))
    # train part first, then test part, each in file order
    order = np.concatenate([np.flatnonzero(~test), np.flatnonzero(test)])
    np.testing.assert_array_equal(got_x, images[order])
    np.testing.assert_array_equal(got_y, labels[order])
    np.testing.assert_array_equal(is_test, test[order])
    assert len(names) == 10
    prep = _prep({"kind": "torchvision", "name": name, "root": str(root)}, split={"test": "source"})
    assert len(prep.test_idx) == test.sum() and (prep.labels >= 0).all()
    assert set(prep.test_idx).isdisjoint(prep.train_idx) and set(prep.val_idx).isdisjoint(
        prep.train_idx
    )


def test_missing_dataset_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"dvc pull data.*download: true"):
        loaders.load_torchvision("cifar10", root=str(tmp_path / "nowhere"))


def test_cifar_pickle_with_code_is_refused(tmp_path):
    base = tmp_path / "cifar-10-batches-py"
    standin.write_torchvision("cifar10", tmp_path, n_classes=2, per_class=4)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (base / "data_batch_1").write_bytes(pickle.dumps({"data": Evil(), "labels": [0]}))
    with pytest.raises(ValueError, match="refusing to load builtins.print"):
        loaders.load_torchvision("cifar10", root=str(tmp_path))


def test_truncated_idx_is_named(tmp_path):
    standin.write_torchvision("mnist", tmp_path, n_classes=3, per_class=4)
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    import gzip

    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-10]))
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz.*truncated"):
        loaders.load_torchvision("mnist", root=str(tmp_path))


def test_class_subsets_for_study_003_domains(tmp_path):
    standin.write_torchvision("cifar10", tmp_path, n_classes=10, per_class=5)
    src = {"kind": "torchvision", "name": "cifar10", "root": str(tmp_path)}
    target = _prep(src, classes=["automobile", "truck"])
    assert target.class_names == ["automobile", "truck"] and target.num_classes == 2
    rest = _prep(src, exclude=["automobile", "truck"])
    assert rest.num_classes == 8 and "automobile" not in rest.class_names
    assert sorted(np.unique(rest.labels)) == list(range(8))
    with pytest.raises(ValueError, match="'lorry'.*not in dataset"):
        _prep(src, exclude=["lorry"])
    own = _prep(src, classes=["automobile", "truck"], split={"test": "source"})
    assert own.num_classes == 2 and len(own.test_idx) > 0


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_image_folder_with_own_val_split(tmp_path, fmt):
    standin.write_image_folder(
        tmp_path / "hymenoptera", ["ants", "bees"], size=12, fmt=fmt, splits={"train": 5, "val": 3}
    )
    src = {
        "kind": "image_folder",
        "root": str(tmp_path / "hymenoptera"),
        "image_size": 8,
        "train_dir": "train",
        "test_dir": "val",
    }
    prep = _prep(src, split={"test": "source", "val": 0.2})
    assert prep.class_names == ["ants", "bees"]
    assert prep.images.shape == (16, 8, 8, 3) and len(prep.test_idx) == 6


def test_image_folder_errors_name_the_culprit(tmp_path):
    standin.write_image_folder(tmp_path / "t", ["a", "b"], per_class=3, size=8)
    (tmp_path / "t" / "c").mkdir()
    with pytest.raises(checks.DataError, match=r"t/c: class 'c' has no images"):
        folders.load_image_folder(str(tmp_path / "t"), image_size=8)
    (tmp_path / "t" / "c").rmdir()
    bad = tmp_path / "t" / "a" / "0000.png"
    bad.write_bytes(bad.read_bytes()[:40])
    # The loader lists the files; decoding (and its errors) happens when preparing.
    with pytest.raises(checks.DataError, match=r"a/0000.png: not an image .*truncated"):
        _prep({"kind": "image_folder", "root": str(tmp_path / "t"), "image_size": 8})
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        folders.load_image_folder(str(tmp_path / "absent"))


def test_csv_folder_like_classify_leaves(tmp_path):
    rows = {"acer": 6, "betula": 4, "quercus": 5}
    standin.write_csv_folder(tmp_path / "leaves" / "train.csv", rows, size=10)
    src = {
        "kind": "csv_folder",
        "csv_path": str(tmp_path / "leaves" / "train.csv"),
        "image_size": 8,
    }
    prep = _prep(src)
    assert prep.class_names == ["acer", "betula", "quercus"]
    assert np.bincount(prep.labels).tolist() == [6, 4, 5]
    # stratified: every class in every split
    for idx in (prep.train_idx, prep.val_idx, prep.test_idx):
        assert len(np.unique(prep.labels[idx])) == 3


def test_lifelog_metadata_merge_and_top_k(tmp_path):
    rows = {
        "eating apple": 3, "eating food": 4, "in bedroom": 5, "in living room": 2,
        "walking": 6, "printing": 2, "": 3,
    }  # fmt: skip
    standin.write_csv_folder(
        tmp_path / "lsc" / "metadata.csv", rows, image_col="image_path", label_col="activity",
        extra_cols={"minute_id": "20160815_0800"},
    )  # fmt: skip
    src = {
        "kind": "csv_folder",
        "csv_path": str(tmp_path / "lsc" / "metadata.csv"),
        "image_col": "image_path",
        "label_col": "activity",
        "image_size": 8,
        "merge": {
            "eating": ["eating apple", "eating food"],
            "at home": ["in bedroom", "in living room"],
        },
        "top_k": 3,
    }
    x, y, names, _ = folders.load_csv_folder(**{k: v for k, v in src.items() if k != "kind"})
    assert names == ["at home", "eating", "walking"]  # printing (2) dropped by top-3
    assert np.bincount(y).tolist() == [7, 7, 6]
    bad = dict(src, merge={"eating": ["eating curd"]})
    with pytest.raises(
        ValueError, match="merge map for 'eating' names unknown label 'eating curd'"
    ):
        folders.load_csv_folder(**{k: v for k, v in bad.items() if k != "kind"})
    with pytest.raises(ValueError, match=r"missing column\(s\) \['label'\]"):
        folders.load_csv_folder(str(tmp_path / "lsc" / "metadata.csv"), image_col="image_path")


def test_csv_row_with_missing_image_is_named(tmp_path):
    rows = standin.write_csv_folder(tmp_path / "d" / "l.csv", {"x": 2, "y": 2}, size=8)
    (tmp_path / "d" / rows[1]["image"]).unlink()
    missing = rows[1]["image"]
    with pytest.raises(checks.DataError, match=rf"l.csv, line 3: image '{missing}' not found"):
        folders.load_csv_folder(str(tmp_path / "d" / "l.csv"), image_size=8)


def test_augmented_copy_keeps_copies_in_their_originals_split(tmp_path):
    spec = {"rotations": [45, 135, 225, 315], "salt_pepper": [0.1, 0.25, 0.5]}
    prep = data.prepare(
        {
            "source": {"kind": "generated", "per_class": 10, "image_size": 8},
            "augmented_copy": spec,
            "split": {"val": 0.2, "test": 0.2, "seed": 0},
        }
    )
    n = 40
    assert len(prep.labels) == n * (1 + 12)
    for idx in (prep.train_idx, prep.val_idx, prep.test_idx):
        originals = idx[idx < n]
        copies = idx[idx >= n]
        assert len(copies) == 12 * len(originals)
        assert set((copies - n) // 12) == set(originals)
    # salt and pepper actually set pixels to the extremes
    copy = prep.images[n + 11]
    assert (copy == 0).mean() > 0.1 and (copy == 255).mean() > 0.1
