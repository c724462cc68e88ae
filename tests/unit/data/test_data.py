"""Prepared data, fixed splits, and the exact meaning of a training size."""

import numpy as np
import pytest

from transfer_atlas.data import prepared as data


def labels_imbalanced(seed=0):
    rng = np.random.default_rng(seed)
    return np.repeat(np.arange(4), [50, 30, 15, 5])[rng.permutation(100)]


def test_split_is_stratified_disjoint_and_fixed():
    labels = labels_imbalanced()
    tr, va, te = data.stratified_split(labels, 0.2, 0.2, seed=0)
    assert len(np.intersect1d(tr, va)) == len(np.intersect1d(tr, te)) == 0
    assert len(tr) + len(va) + len(te) == len(labels)
    for c, n in enumerate([50, 30, 15, 5]):
        assert (labels[te] == c).sum() == round(n * 0.2)
    again = data.stratified_split(labels, 0.2, 0.2, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip((tr, va, te), again, strict=True))


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_subsets_are_nested_and_stratified(seed):
    labels = labels_imbalanced()
    train_idx = np.arange(100)
    previous = set()
    for size in [4, 10, 20, 40, 80, 100]:
        sub = data.training_subset(labels, train_idx, size, seed)
        assert len(sub) == size and len(set(sub)) == size
        assert previous <= set(sub), "a smaller subset must be contained in a larger one"
        previous = set(sub)
        counts = np.bincount(labels[sub], minlength=4)
        assert (counts >= 1).all(), "every class appears once size >= number of classes"
        expected = size * np.array([50, 30, 15, 5]) / 100
        assert np.all(np.abs(counts - expected) <= 1.5)


def test_subsets_depend_on_seed_and_all_is_the_split():
    labels = labels_imbalanced()
    idx = np.arange(100)
    a = data.training_subset(labels, idx, 20, seed=0)
    b = data.training_subset(labels, idx, 20, seed=1)
    assert not np.array_equal(a, b)
    assert np.array_equal(data.training_subset(labels, idx, 20, seed=0), a)
    assert np.array_equal(data.training_subset(labels, idx, "all", seed=3), idx)


def test_bad_sizes_are_named():
    labels = labels_imbalanced()
    with pytest.raises(ValueError, match="size 200 exceeds the training split"):
        data.training_subset(labels, np.arange(100), 200, 0)
    with pytest.raises(ValueError, match="smaller than the number of classes"):
        data.training_subset(labels, np.arange(100), 3, 0)


def test_prepare_digits_classes_and_roundtrip(tmp_path):
    spec = {"source": {"kind": "sklearn_digits"}, "classes": [5, 6, 7, 8, 9]}
    prep = data.prepare(spec)
    assert prep.class_names == ["5", "6", "7", "8", "9"]
    assert prep.images.dtype == np.uint8 and prep.images.shape[1:] == (8, 8, 1)
    assert set(np.unique(prep.labels)) == set(range(5))
    data.save(prep, tmp_path)
    back = data.load(tmp_path)
    assert back.fingerprint == prep.fingerprint
    assert np.array_equal(back.images, prep.images)
    with pytest.raises(ValueError, match="class '11' not in dataset"):
        data.prepare({"source": {"kind": "sklearn_digits"}, "classes": [1, 11]})


def test_generated_shapes_are_deterministic():
    spec = {"source": {"kind": "generated", "per_class": 5, "image_size": 12, "seed": 3}}
    a, b = data.prepare(spec), data.prepare(spec)
    assert a.fingerprint == b.fingerprint and a.num_classes == 4
    assert a.images.shape == (20, 12, 12, 1)
