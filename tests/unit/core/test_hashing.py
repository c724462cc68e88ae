"""core.hashing.canonical_hash: the same object gives the same short hash whatever its key
order; any change of a value, a key or a type gives another."""

from __future__ import annotations

import hashlib

import pytest

from transfer_atlas.core.hashing import canonical_hash


def test_key_order_does_not_matter_and_the_hash_is_16_hex_digits():
    a = canonical_hash({"model": "cnn", "train": {"lr": 0.01, "epochs": 2}})
    b = canonical_hash({"train": {"epochs": 2, "lr": 0.01}, "model": "cnn"})
    assert a == b and len(a) == 16 and int(a, 16) >= 0


def test_the_hash_is_stable_across_versions():
    # a cache key must not change between releases: sha256 of the compact, sorted JSON
    blob = b'{"a":1,"b":[1,2]}'
    assert canonical_hash({"b": [1, 2], "a": 1}) == hashlib.sha256(blob).hexdigest()[:16]


@pytest.mark.parametrize(
    "other",
    [{"a": 2}, {"b": 1}, {"a": "1"}, {"a": 1.5}, {"a": [1]}, {"a": 1, "b": None}],
)
def test_any_change_gives_another_hash(other):
    assert canonical_hash(other) != canonical_hash({"a": 1})


def test_list_order_matters():
    assert canonical_hash([1, 2]) != canonical_hash([2, 1])


def test_an_object_json_cannot_write_is_refused():
    with pytest.raises(TypeError):
        canonical_hash({"a": object()})
