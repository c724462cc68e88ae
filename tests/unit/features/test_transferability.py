"""Tests for transfer_atlas.features.transferability (LogME, LEEP, NCE, H-score: the
shrinkage-regularised ``hscore`` and the plain ``hscore_plain`` it corrects).

Reference values are derived by hand in the comments, or (LogME) from an
independent brute-force maximisation of the Gaussian marginal likelihood.
"""

from __future__ import annotations

import numpy as np
import pytest

from transfer_atlas.features import transferability as ta

LOG2 = np.log(2.0)


def _clustered(rng, n, d, n_classes, signal):
    """Features = class centre * signal + unit noise, with balanced labels."""
    labels = np.arange(n) % n_classes
    centres = rng.normal(size=(n_classes, d))
    return signal * centres[labels] + rng.normal(size=(n, d)), labels


# --------------------------------------------------------------------- NCE


def test_nce_hand_values():
    # Z determines Y: every P(y|z) is 0 or 1, so H(Y|Z) = 0.
    assert ta.nce([0, 0, 1, 1], [0, 0, 1, 1]) == pytest.approx(0.0, abs=1e-15)
    # Independent: P(y|z) = 1/2 everywhere, -H(Y|Z) = -H(Y) = -log 2.
    assert ta.nce([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(-LOG2)
    # Joint P(z,y) = [[1/2, 0], [1/4, 1/4]]: H(Y|Z=0) = 0, H(Y|Z=1) = log 2,
    # each with P(z) = 1/2, so NCE = -log(2) / 2.
    assert ta.nce([0, 0, 1, 1], [0, 0, 0, 1]) == pytest.approx(-LOG2 / 2)
    # A single source class is independent of Y: NCE = -H(Y), Y ~ (1/4, 3/4).
    h_y = -(0.25 * np.log(0.25) + 0.75 * np.log(0.75))
    assert ta.nce([5, 5, 5, 5], [0, 1, 1, 1]) == pytest.approx(-h_y)


def test_nce_invariant_to_renaming_source_labels():
    rng = np.random.default_rng(0)
    z, y = rng.integers(0, 4, 50), rng.integers(0, 3, 50)
    renamed = np.array([17, -3, 1000, 2])[z]  # a bijection of source classes
    assert ta.nce(renamed, y) == pytest.approx(ta.nce(z, y), abs=1e-12)


# -------------------------------------------------------------------- LEEP


def test_leep_hand_value():
    # theta = [[.8, .2], [.4, .6]], y = [0, 1], n = 2:
    # P(y,z) = [[.4, .1], [.2, .3]], P(z) = [.6, .4],
    # P(y=0|z) = [2/3, 1/4], P(y=1|z) = [1/3, 3/4].
    # Sample 1: .8 * 2/3 + .2 * 1/4 = 7/12; sample 2: .4 * 1/3 + .6 * 3/4 = 7/12.
    theta = np.array([[0.8, 0.2], [0.4, 0.6]])
    assert ta.leep(theta, [0, 1]) == pytest.approx(np.log(7 / 12))


def test_leep_with_one_hot_probs_is_nce():
    # One-hot theta picks z_i: sum_z P(y_i|z) theta_iz = P(y_i|z_i), so
    # LEEP = 1/n sum_i log P(y_i|z_i) = sum_{y,z} P(y,z) log P(y|z) = -H(Y|Z).
    theta = np.eye(2)[[0, 0, 1, 1]]
    assert ta.leep(theta, [0, 0, 0, 1]) == pytest.approx(-LOG2 / 2)
    rng = np.random.default_rng(1)
    z, y = rng.integers(0, 5, 80), rng.integers(0, 3, 80)
    assert ta.leep(np.eye(6)[z], y) == pytest.approx(ta.nce(z, y), abs=1e-12)


# ----------------------------------------------------------------- H-score


def test_hscore_hand_1d():
    # One feature: Ledoit-Wolf has nothing to shrink (shrinkage 0).
    # f = [0, 2, 4, 6], y = [0, 0, 1, 1]: mean 3, var = (9+1+1+9)/4 = 5 (1/n, Ledoit-Wolf);
    # class means 1 and 5: the between-class covariance is np.cov's (1/(n-1)) of E[f|y]:
    # sum over samples of (E[f|y] - 3)^2 = 4 * 4 = 16, / 3 -> 16/3; H = (16/3) / 5.
    f = np.array([[0.0], [2.0], [4.0], [6.0]])
    assert ta.hscore(f, [0, 0, 1, 1]) == pytest.approx(16 / 15)
    assert ta.hscore_plain(f, [0, 0, 1, 1]) == pytest.approx(0.8)  # a ratio: scale-free
    # Unequal classes: f = [0, 1, 2, 5], y = [0, 0, 0, 1]: mean 2, var = 14/4 = 3.5;
    # class means 1 and 5: (3*1 + 1*9) / 3 = 4 between; H = 4 / 3.5.
    f = np.array([[0.0], [1.0], [2.0], [5.0]])
    assert ta.hscore(f, [0, 0, 0, 1]) == pytest.approx(4 / 3.5)
    assert ta.hscore_plain(f, [0, 0, 0, 1]) == pytest.approx(3 / 3.5)


def _reference_regularized_h_score(features, labels):
    """The reference (TencentARC/SFDA's ``regularized_h_score``, after Ibrahim et al.),
    restated: Ledoit-Wolf covariance (1/n) and ``np.cov`` (1/(n-1)) of the class means."""
    from sklearn.covariance import LedoitWolf

    f = features.astype("float64")
    f = f - f.mean(axis=0, keepdims=True)
    g = np.zeros_like(f)
    for c in range(int(labels.max()) + 1):
        g[labels == c] = f[labels == c].mean(axis=0)
    cov = LedoitWolf(assume_centered=False).fit(f)
    covg = np.cov(g, rowvar=False)
    return np.trace(np.linalg.pinv(cov.covariance_, rcond=1e-15) @ ((1 - cov.shrinkage_) * covg))


def test_hscore_equals_the_reference_regularized_h_score():
    rng = np.random.default_rng(3)
    y = np.repeat(np.arange(3), 7)
    f = rng.normal(size=(21, 5)) + y[:, None] * np.array([1.0, 0.5, 0, 0, 0])
    assert ta.hscore(f, y) == pytest.approx(_reference_regularized_h_score(f, y), rel=1e-9)


def test_plain_hscore_invariant_to_invertible_linear_maps():
    # tr((A^T C A)^-1 A^T B A) = tr(C^-1 B); translations cancel in covariances.
    rng = np.random.default_rng(2)
    f, y = _clustered(rng, 60, 4, 3, 1.0)
    a = rng.normal(size=(4, 4)) + 4 * np.eye(4)
    assert np.linalg.cond(a) < 1e3
    assert ta.hscore_plain(f @ a + 7.0, y) == pytest.approx(ta.hscore_plain(f, y), rel=1e-9)


def test_hscore_invariant_to_rotations_common_scale_and_shifts():
    # The shrinkage target tr(cov)/d * I and the Ledoit-Wolf intensity are unchanged by
    # an orthogonal map and a common scale, so the regularised score is too.
    rng = np.random.default_rng(2)
    f, y = _clustered(rng, 60, 6, 3, 1.0)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    assert ta.hscore(3.0 * f @ q - 5.0, y) == pytest.approx(ta.hscore(f, y), rel=1e-9)


def test_plain_hscore_pseudo_inverse_ignores_redundant_features():
    # Singular covariance: a duplicated (rescaled) column and a constant column
    # add no directions, so the pseudo-inverse gives the score of the original.
    rng = np.random.default_rng(3)
    f, y = _clustered(rng, 40, 3, 2, 1.0)
    padded = np.hstack([f, 2.0 * f[:, :1], np.ones((40, 1))])
    assert ta.hscore_plain(padded, y) == pytest.approx(ta.hscore_plain(f, y), rel=1e-9)


@pytest.mark.parametrize(("n", "d", "n_classes"), [(20, 64, 4), (30, 29, 10), (50, 64, 10)])
def test_hscore_of_noise_with_n_le_d_plus_1_is_not_c_minus_1(n, d, n_classes):
    # With n <= d + 1 the plain score is C - 1 for anything, pure noise included. The
    # shrinkage score of noise is a (C - 1) d / n-sized term times (1 - shrinkage),
    # and Ledoit-Wolf shrinks noise by 0.8-1: the scores land between 0 and ~1.4
    # (C - 1 = 3 or 9), a small fraction of the degenerate value.
    rng = np.random.default_rng(n)
    y = np.arange(n) % n_classes
    noise = [rng.normal(size=(n, d)) for _ in range(5)]
    assert [ta.hscore_plain(x, y) for x in noise] == pytest.approx([n_classes - 1] * 5)
    scores = [ta.hscore(x, y) for x in noise]
    assert np.mean(scores) < (n_classes - 1) / 3, scores


def test_hscore_separates_informative_features_from_noise_when_n_le_d():
    # Where the plain score cannot tell them apart (both C - 1 = 3), the regularised
    # one ranks class-structured features far above noise of the same shape.
    rng = np.random.default_rng(11)
    informative, y = _clustered(rng, 20, 64, 4, 1.0)
    noise = rng.normal(size=informative.shape)
    assert ta.hscore_plain(informative, y) == pytest.approx(ta.hscore_plain(noise, y))
    assert ta.hscore(informative, y) > ta.hscore(noise, y) + 1.5


def test_hscore_bias_on_noise_does_not_grow_with_feature_width():
    # n > d + 1: the plain score of noise is about d (C - 1) / n (so a wider model
    # looks better for nothing); the regularised one stays near 0 at every width.
    rng = np.random.default_rng(12)
    n, n_classes = 200, 10
    y = np.arange(n) % n_classes
    for d in (16, 64, 128):
        x = rng.normal(size=(n, d))
        expected_bias = d * (n_classes - 1) / n
        assert ta.hscore_plain(x, y) == pytest.approx(expected_bias, rel=0.25)
        assert ta.hscore(x, y) < 0.2  # the plain score: 0.7, 2.9, 5.8


def test_hscore_bounds_and_constant_features():
    # (1 - a) cov(f) <= cov_a(f) and cov(E[f|y]) <= cov(f), of rank <= C - 1:
    # 0 <= hscore <= n/(n-1) hscore_plain (hscore's between-class covariance is np.cov's,
    # 1/(n-1), as the reference's) and hscore_plain <= C - 1.
    rng = np.random.default_rng(13)
    for n, d, signal in ((30, 10, 0.5), (100, 20, 2.0), (15, 40, 1.0)):
        f, y = _clustered(rng, n, d, 3, signal)
        h, plain = ta.hscore(f, y), ta.hscore_plain(f, y)
        assert 0.0 <= h <= plain * n / (n - 1) + 1e-9 and plain <= 2.0 + 1e-9
    assert ta.hscore(np.ones((6, 3)), [0, 1, 2, 0, 1, 2]) == 0.0


# ------------------------------------------------------------------- LogME


def _direct_log_evidence(f, y, log_a, log_b):
    """log N(y; 0, F F^T / alpha + I / beta) on a grid of (log alpha, log beta)."""
    n = f.shape[0]
    a, b = np.exp(log_a)[..., None, None], np.exp(log_b)[..., None, None]
    cov = (f @ f.T) / a + np.eye(n) / b
    logdet = np.linalg.slogdet(cov)[1]
    rhs = np.broadcast_to(y, cov.shape[:-1])[..., None]
    quad = np.sum(y * np.linalg.solve(cov, rhs)[..., 0], axis=-1)
    return -0.5 * (logdet + quad + n * np.log(2 * np.pi))


def _brute_force_logme(f, labels):
    """Maximise the direct evidence by repeatedly zooming a grid in log space.

    Returns the score and whether every class optimum is interior (the grid may
    also drift towards alpha -> inf or beta -> inf, where the evidence levels off).
    """
    values, interior = [], True
    grid = np.linspace(-1.0, 1.0, 21)
    for c in np.unique(labels):
        y = (labels == c).astype(float)
        centre, half = np.zeros(2), 12.0
        for _ in range(45):
            la, lb = np.meshgrid(centre[0] + half * grid, centre[1] + half * grid)
            vals = _direct_log_evidence(f, y, la, lb)
            i, j = np.unravel_index(np.argmax(vals), vals.shape)
            centre, half = np.array([la[i, j], lb[i, j]]), half / 2
        interior &= bool(np.all(np.abs(centre) < 11.0))
        values.append(vals[i, j] / len(y))
    return float(np.mean(values)), interior


@pytest.mark.parametrize(
    ("n", "d", "rank", "seed", "interior"),
    [
        (12, 3, 3, 1, True),
        (8, 12, 8, 1, True),
        (12, 3, 2, 0, True),  # rank-deficient F^T F
        (8, 12, 2, 1, True),  # rank-deficient F F^T: y has a component outside span(F)
        (12, 3, 3, 4, False),  # an optimum at alpha -> inf
        (8, 12, 8, 0, False),  # an optimum at beta -> inf (exact fit, n <= d)
    ],
)
def test_logme_matches_brute_force(n, d, rank, seed, interior):
    # Covers both branches (eigendecomposition of F^T F for n > d, of F F^T for
    # n <= d) and optima at finite (alpha, beta) as well as at the boundary.
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], n // 2)
    signal = 1.0 if n > d else 0.5
    f = rng.normal(size=(n, d)) + signal * rng.normal(size=(2, d))[labels]
    if rank < min(n, d):
        f = f[:, :rank] @ rng.normal(size=(rank, d))
    expected, found_interior = _brute_force_logme(f, labels)
    assert found_interior == interior
    assert ta.logme(f, labels) == pytest.approx(expected, abs=1e-8 if interior else 1e-6)


def test_logme_hand_value_without_signal():
    # f = [1, -1, 1, -1] is orthogonal to both class indicators, so F^T y = 0 and
    # the evidence is maximal at alpha = inf: y ~ N(0, I/beta), beta = n/|y|^2 = 2,
    # log evidence / n = (log beta - 1 - log 2 pi) / 2 for both classes.
    f = np.array([[1.0], [-1.0], [1.0], [-1.0]])
    expected = 0.5 * (LOG2 - 1.0 - np.log(2 * np.pi))
    assert ta.logme(f, [0, 0, 1, 1]) == pytest.approx(expected)


def test_logme_scaling_and_rotation():
    # The prior w ~ N(0, I/alpha) is isotropic: F -> c F Q (Q orthogonal) maps to
    # alpha -> c^2 alpha with the same maximal evidence. Per-feature scaling
    # changes the prior on F w, so it must change the score.
    rng = np.random.default_rng(4)
    for n, d in [(40, 5), (8, 20)]:
        f, y = _clustered(rng, n, d, 3, 1.0)
        ref = ta.logme(f, y)
        q = np.linalg.qr(rng.normal(size=(d, d)))[0]
        for c in (1e-3, 0.5, 1e3):
            assert ta.logme(c * f @ q, y) == pytest.approx(ref, rel=1e-7)
        scales = np.ones(d)
        scales[0], scales[1] = 10.0, 0.1
        assert abs(ta.logme(f * scales, y) - ref) > 1e-3


def test_logme_exact_fit_is_infinite():
    # Class indicators inside the column span with rank(F) < n: beta -> inf.
    labels = np.array([0, 1, 2, 0, 1, 2])
    assert ta.logme(np.eye(3)[labels], labels) == np.inf


# ------------------------------------------------------------ shared checks


def test_informative_features_beat_noise():
    rng = np.random.default_rng(5)
    informative, y = _clustered(rng, 200, 8, 4, 2.0)
    noise = rng.normal(size=informative.shape)
    assert ta.logme(informative, y) > ta.logme(noise, y) + 0.1
    assert ta.hscore(informative, y) > ta.hscore(noise, y) + 1.0


def test_invariance_to_class_renaming_and_sample_order():
    rng = np.random.default_rng(6)
    f, y = _clustered(rng, 30, 4, 3, 1.0)
    logits = rng.normal(size=(30, 5))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    z = probs.argmax(axis=1)
    renamed = np.array([42, -7, 3])[y]  # arbitrary integers, order changed
    perm = rng.permutation(30)
    cases = [(ta.logme, f), (ta.hscore, f), (ta.leep, probs), (ta.nce, z)]
    for fn, x in cases:
        ref = fn(x, y)
        assert fn(x, renamed) == pytest.approx(ref, rel=1e-9, abs=1e-12), fn.__name__
        assert fn(x[perm], y[perm]) == pytest.approx(ref, rel=1e-9, abs=1e-12)


GOOD_F = np.arange(12.0).reshape(6, 2) ** 1.5
GOOD_P = np.full((6, 3), 1 / 3)
GOOD_Z = np.array([0, 1, 2, 0, 1, 2])
GOOD_Y = np.array([0, 0, 1, 1, 2, 2])
NAN_F = GOOD_F.copy()
NAN_F[2, 1] = np.nan
NAN_P = GOOD_P.copy()
NAN_P[1, 1] = np.nan


@pytest.mark.parametrize(
    ("fn", "x", "labels", "match"),
    [
        (ta.logme, GOOD_F, GOOD_Y[:5], "shape mismatch"),
        (ta.hscore, GOOD_F, GOOD_Y[:5], "shape mismatch"),
        (ta.leep, GOOD_P, GOOD_Y[:5], "shape mismatch"),
        (ta.nce, GOOD_Z, GOOD_Y[:5], "shape mismatch"),
        (ta.logme, GOOD_F, np.zeros(6, int), "at least 2 classes"),
        (ta.hscore, GOOD_F, np.full(6, 9), "at least 2 classes"),
        (ta.leep, GOOD_P, np.zeros(6, int), "at least 2 classes"),
        (ta.nce, GOOD_Z, np.zeros(6, int), "at least 2 classes"),
        (ta.logme, NAN_F, GOOD_Y, "NaN"),
        (ta.hscore, NAN_F, GOOD_Y, "NaN"),
        (ta.leep, NAN_P, GOOD_Y, "NaN"),
        (ta.nce, GOOD_Z, np.where(GOOD_Y > 1, np.nan, GOOD_Y), "NaN"),
        (ta.hscore, GOOD_F, np.where(GOOD_Y > 1, np.nan, GOOD_Y), "NaN"),
        (ta.logme, GOOD_F[:, 0], GOOD_Y, "2-D"),
        (ta.nce, GOOD_Z[:, None], GOOD_Y, "1-D"),
        (ta.logme, np.zeros((6, 2)), GOOD_Y, "all zero"),
        (ta.leep, GOOD_P * 2, GOOD_Y, "sum to 1"),
        (ta.leep, GOOD_P - 0.5, GOOD_Y, "non-negative"),
    ],
)
def test_bad_inputs_raise(fn, x, labels, match):
    with pytest.raises(ValueError, match=match):
        fn(x, labels)


# ------------------------------------------- invariances the definitions imply


def test_leep_invariant_to_permuting_source_classes():
    # P(y|z) is computed per source class, so reordering the columns of theta
    # (renaming source classes) permutes the sum over z and leaves LEEP unchanged.
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(40, 6))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = rng.integers(0, 3, 40)
    perm = rng.permutation(6)
    assert ta.leep(probs[:, perm], y) == pytest.approx(ta.leep(probs, y), abs=1e-12)


def test_leep_and_nce_bounds():
    # Z determines Y and theta is one-hot: every P(y_i|z_i) = 1, so LEEP = NCE = 0.
    z = np.array([0, 1, 2, 2, 1, 0])
    y = np.array([1, 0, 0, 0, 0, 1])  # a function of z (z=0 -> 1, else 0)
    assert ta.leep(np.eye(3)[z], y) == pytest.approx(0.0, abs=1e-12)
    assert ta.nce(z, y) == pytest.approx(0.0, abs=1e-12)
    # Uniform source probabilities carry no information: LEEP = sum_y P(y) log P(y) = -H(Y).
    y = np.array([0, 0, 0, 1])
    h_y = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    assert ta.leep(np.full((4, 5), 0.2), y) == pytest.approx(-h_y)
    # And in general -log C <= NCE <= 0 (conditioning cannot raise entropy above H(Y)).
    rng = np.random.default_rng(8)
    z, y = rng.integers(0, 4, 100), rng.integers(0, 3, 100)
    assert -np.log(3) - 1e-12 <= ta.nce(z, y) <= 0.0


def test_plain_hscore_invariant_to_feature_scaling_logme_only_to_global_scaling():
    # Plain H-score: any invertible linear map, so in particular per-feature scaling.
    # LogME's isotropic prior (like the regularised H-score's isotropic shrinkage
    # target): a common scale factor only (checked above too).
    rng = np.random.default_rng(9)
    f, y = _clustered(rng, 50, 4, 3, 1.5)
    scales = np.array([0.05, 1.0, 7.0, 20.0])  # within the pseudo-inverse cutoff (1e-10)
    assert ta.hscore_plain(f * scales, y) == pytest.approx(ta.hscore_plain(f, y), rel=1e-8)
    assert ta.logme(f * 42.0, y) == pytest.approx(ta.logme(f, y), rel=1e-7)


# ------------------------------------- H-score warning in the transferability table


def test_table_flags_hscore_rows_with_fewer_than_10_samples_per_dimension(tmp_path):
    import json

    import pandas as pd

    from transfer_atlas.results import transferability as ranking

    paths = []
    for model, dim in (("narrow", 8), ("wide", 64)):  # n_train = 200: 25 and ~3 per dim
        rec = {"study": "s", "dataset": "d", "model": model, "n_train": 200}
        rec.update(feature_dim=dim, scores=dict.fromkeys(ranking.SCORES, 1.0))
        rec["score_s"] = dict.fromkeys(ranking.SCORES, 0.1)
        paths.append(tmp_path / f"{model}.json")
        paths[-1].write_text(json.dumps(rec))
    summary = pd.DataFrame(
        {
            "regime": "finetune",
            "init": "pretrained",
            "dataset": "d",
            "model": ["narrow", "wide"],
            "freeze": "all",
            "size": "all",
            "accuracy_mean": [0.9, 0.8],
        }
    )
    best = summary[["dataset", "model", "regime"]].assign(pool="pretrained", setting="freeze all")
    merged, _ = ranking.table(paths, summary, best)
    flags = dict(zip(merged["model"], merged["hscore_small_n"], strict=True))
    assert flags == {"narrow": False, "wide": True}
    assert list(merged.set_index("model").loc[["narrow", "wide"], "feature_dim"]) == [8, 64]
