"""The contract every registered transferability score keeps (features.transferability_job.
REGISTRY): one finite float on a well-posed case, the same value whatever the order of the
samples and whatever the class names, and a ValueError naming the fault where the score
is undefined (one class, NaN input, one label per sample missing). A score added to the
registry is checked here without a line of its own."""

from __future__ import annotations

import numpy as np
import pytest

from transfer_atlas.features.transferability_job import INPUTS, REGISTRY
from transfer_atlas.spec.names import SELECTION_SCORES

N, DIM, SOURCE_CLASSES = 36, 5, 4


def _case(seed: int = 0):
    """Features with class structure, source probabilities, labels: 3 classes of 12."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), N // 3)
    x = rng.normal(size=(N, DIM)) + 1.5 * np.eye(3, DIM)[y]
    logits = rng.normal(size=(N, SOURCE_CLASSES)) + np.eye(3, SOURCE_CLASSES)[y]
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return {"features": x, "source_probs": p, "source_labels": p.argmax(1)}, y


def test_the_registry_and_the_vocabulary_name_the_same_scores():
    # prior reads the pretraining record, not the features: the one score outside it
    assert set(REGISTRY) | {"prior"} == set(SELECTION_SCORES)
    assert {entry.reads for entry in REGISTRY.values()} <= set(INPUTS)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_a_well_posed_case_gives_one_finite_float(name):
    given, y = _case()
    entry = REGISTRY[name]
    value = entry.fn(given[entry.reads], y)
    assert isinstance(value, float) and np.isfinite(value), (name, value)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_invariant_to_sample_order_and_class_names(name):
    given, y = _case(1)
    entry = REGISTRY[name]
    values = given[entry.reads]
    ref = entry.fn(values, y)
    perm = np.random.default_rng(2).permutation(N)
    assert entry.fn(values[perm], y[perm]) == pytest.approx(ref, rel=1e-9, abs=1e-12)
    renamed = np.array([42, -7, 3])[y]  # arbitrary integers, in another order
    assert entry.fn(values, renamed) == pytest.approx(ref, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_undefined_cases_raise_a_value_error_that_names_the_fault(name):
    given, y = _case(3)
    entry = REGISTRY[name]
    values = given[entry.reads]
    with pytest.raises(ValueError, match="at least 2 classes"):
        entry.fn(values, np.zeros(N, int))
    with pytest.raises(ValueError, match="shape mismatch"):
        entry.fn(values, y[:-1])
    bad = values.astype(float)
    bad[(4, 0) if bad.ndim == 2 else 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        entry.fn(bad, y)
