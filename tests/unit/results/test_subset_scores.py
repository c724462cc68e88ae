"""Scores on the small training subsets the shortlist reads (results.ranking)."""

import math

import numpy as np
import pytest

from transfer_atlas.results import ranking


def test_a_score_undefined_on_one_image_per_class_is_nan_on_a_subset_only():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 8)), np.arange(5)  # one image per class
    p = rng.dirichlet(np.ones(4), 5)
    values, _ = ranking._all_scores(x, p, y, strict=False)
    assert math.isnan(values["sfda"])  # no within-class scatter to fit
    assert all(math.isfinite(v) for k, v in values.items() if k != "sfda")
    with pytest.raises(ValueError, match="sfda"):
        ranking._all_scores(x, p, y)  # the whole split: an error, as before
