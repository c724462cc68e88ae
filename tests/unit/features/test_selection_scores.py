"""Tests for transfer_atlas.features.selection_scores (SFDA, the k-NN baseline).

Expected values are derived by hand in the comments (closed forms a few lines long), not
copied from any implementation's output.
"""

from __future__ import annotations

import numpy as np
import pytest

from transfer_atlas.features import selection_scores as sel


def _sigmoid(t):
    return 1.0 / (1.0 + np.exp(-t))


def test_top_eigenvalue_closed_form_for_a_diagonal_matrix():
    # A = diag(w), start A 1 = w; after 3 rounds (6 products) u ~ w^6, v ~ w^7 and
    # v^T A u = |w^7| / |w^6|.
    w = np.array([3.0, 2.0, 0.5])
    expected = np.linalg.norm(w**7) / np.linalg.norm(w**6)
    assert sel.top_eigenvalue(np.diag(w)) == pytest.approx(expected, rel=1e-12)
    assert expected < 3.0  # three rounds do not reach the true top eigenvalue yet
    # Row sums all zero (the reference's start would be the zero vector): another start;
    # the start (1, -1) is already the top eigenvector, eigenvalue 2.
    assert sel.top_eigenvalue(np.array([[1.0, -1.0], [-1.0, 1.0]])) == pytest.approx(2.0)


def test_sfda_one_dimensional_worked_example():
    # Class 0 = {0, 2}, class 1 = {4, 6}: means 1 and 5, within-class variance 1 (1/n_c).
    # In 1-D the shrinkage target tr(S)/d equals S, so shrinkage changes nothing.
    # LDA: logit_c = x mu_c - mu_c^2 / 2 + log 1/2, so P(1|x) = sigmoid(4x - 12).
    x = np.array([[0.0], [2.0], [4.0], [6.0]])
    y = np.array([0, 0, 1, 1])
    # True-class probabilities: sigmoid(12) at 0 and 6, sigmoid(4) at 2 and 4. The second
    # softmax over (q, 1 - q) gives weight sigmoid(2q - 1) to the true class.
    w_out, w_in = _sigmoid(2 * _sigmoid(12.0) - 1), _sigmoid(2 * _sigmoid(4.0) - 1)
    # ConfMix pulls class-0 samples toward 5 (the other class's mean), class 1 toward 1.
    x0, x2 = 5 * (1 - w_out), 2 * w_in + 5 * (1 - w_in)  # the mirror images are 6 - these
    m0 = (x0 + x2) / 2
    delta, var = (6 - m0) - m0, ((x2 - x0) / 2) ** 2  # mean gap, within-class variance
    # Refit: P(true | x) = sigmoid(delta (3 - x) / var) for class 0, mirrored for class 1.
    expected = (_sigmoid(delta * (3 - x0) / var) + _sigmoid(delta * (3 - x2) / var)) / 2
    assert expected == pytest.approx(0.8176, abs=1e-3)  # the hand arithmetic, rounded
    assert sel.sfda(x, y) == pytest.approx(expected, rel=1e-10)
    # Class names and sample order do not matter; a shift of all features does not either.
    order = np.array([3, 1, 0, 2])
    named = np.array(["low", "low", "high", "high"])
    assert sel.sfda(x[order] + 7.0, named[order]) == pytest.approx(expected, rel=1e-10)
    assert sel.sfda(x[order] + 7.0, (y * 5 + 2)[order]) == pytest.approx(expected, rel=1e-10)


def test_sfda_ranks_separable_features_above_noise():
    rng = np.random.default_rng(0)
    labels = np.arange(300) % 3
    centres = rng.normal(size=(3, 8))
    good = 3.0 * centres[labels] + rng.normal(size=(300, 8))
    noise = rng.normal(size=(300, 8))
    assert sel.sfda(good, labels) > 0.9
    assert sel.sfda(noise, labels) < 0.5  # near 1/3: nothing to separate
    assert sel.sfda(good, labels) > sel.sfda(noise, labels)


def test_sfda_bad_input_is_named():
    with pytest.raises(ValueError, match="at least 2 classes"):
        sel.sfda(np.ones((4, 2)), [0, 0, 0, 0])
    with pytest.raises(ValueError, match="singular"):
        sel.sfda(np.array([[0.0], [0.0], [1.0], [1.0]]), [0, 0, 1, 1])
    with pytest.raises(ValueError, match="NaN"):
        sel.sfda(np.array([[0.0], [np.nan], [1.0], [2.0]]), [0, 0, 1, 1])


def _on_circle(degrees, radii):
    t = np.deg2rad(np.asarray(degrees, float))
    return np.stack([np.cos(t), np.sin(t)], axis=1) * np.asarray(radii, float)[:, None]


def test_knn_leave_one_out_hand_counts():
    # Class 0 at 0, 10, 20 degrees; class 1 at 90, 100, 110 and one stray at 4 degrees.
    # Lengths differ wildly: cosine distance only sees the angles.
    degrees = [0, 10, 20, 90, 100, 110, 4]
    labels = [0, 0, 0, 1, 1, 1, 1]
    x = _on_circle(degrees, [1, 50, 0.2, 3, 7, 0.5, 9])
    # k = 1: 0 deg -> stray (wrong), 10 -> stray at 6 deg (wrong), 20 -> 10 (right),
    # stray -> 0 deg (wrong), the three at 90-110 are right: 4 of 7.
    assert sel.knn(x, labels, k=1) == pytest.approx(4 / 7)
    # k = 3: every class-0 point has two class-0 neighbours among its 3 nearest, the stray
    # has three class-0 neighbours (wrong), the 90-110 points are right: 6 of 7.
    assert sel.knn(x, labels, k=3) == pytest.approx(6 / 7)


def test_knn_ties_go_to_the_nearest_and_k_is_capped():
    # k = 2 with one vote per class: the nearest neighbour decides.
    x = _on_circle([0, 10, 25, 45], [1, 1, 1, 1])
    # 0 -> {10 (class 1), 25 (class 0)}: tie, nearest is class 1: wrong.
    # 10 -> {0 (0), 25 (0)}: class 0, wrong for label 1. 25 -> {10 (1), 45 (1)}: wrong.
    # 45 -> {25 (0), 10 (1)}: tie, nearest 25 is class 0: wrong. So 0 of 4.
    assert sel.knn(x, [0, 1, 0, 1], k=2) == 0.0
    # More neighbours than other samples: k becomes n - 1 = 3; every sample then sees
    # 2 of the other class and 1 of its own: all wrong.
    assert sel.knn(x, [0, 1, 0, 1], k=10) == 0.0
    with pytest.raises(ValueError, match="k must be"):
        sel.knn(x, [0, 1, 0, 1], k=0)
