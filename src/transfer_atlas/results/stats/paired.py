"""Paired tests over seeds, in one place: Wilcoxon's signed-rank test on exact values,
the smallest p it can reach, Holm's correction and the significance level.

The aggregate step tests every gain cell with them, ``ties`` every setting against the
validation leader, ``comparisons`` every pair of models.

**Ties are ties**, whatever the float round-off. Accuracies are counts over a test split
(c / n), but as floats two equal differences can differ in the last bit
(0.08333333333333331 vs 0.08333333333333334), and a test that ranks floats then sees no
tie. Here every value is first recovered as the fraction it is
(:func:`rationals`), differences are taken on those fractions and scaled to integers, and
the null distribution is computed exactly, ties included (average ranks).

Written by hand rather than with ``scipy.stats.wilcoxon`` because scipy's
``method="exact"`` uses the no-ties null distribution even when ranks are tied (the issue's
example: 0.0322 instead of 0.0303), and what ``method="auto"`` does with ties has changed
between scipy versions (normal approximation, or a permutation test). The exact null
with average ranks is a small dynamic programme over the doubled ranks (integers), so it
is exact for every n it is used at and costs milliseconds.
"""

from __future__ import annotations

from fractions import Fraction
from math import lcm

import numpy as np

__all__ = ["ALPHA", "exact_differences", "holm", "signed_rank_p", "smallest_p"]

#: The significance level of every test the study reports.
ALPHA = 0.05

#: Largest denominator a value is recovered with: exact for every c / n with n up to a
#: million images (two such fractions differ by at least 1e-12, float error is ~1e-16).
MAX_DENOMINATOR = 10**6
#: Above this many nonzero differences the normal approximation (with the tie
#: correction) is used; the exact programme's cost grows as n**3.
EXACT_UP_TO = 400


def rationals(values) -> list[Fraction]:
    """Each float as the nearest fraction with denominator <= ``MAX_DENOMINATOR``."""
    return [Fraction(float(v)).limit_denominator(MAX_DENOMINATOR) for v in values]


def exact_differences(a, b) -> np.ndarray:
    """``a - b`` pairwise, on the values' exact fractions, scaled to integers (one common
    denominator: the signed-rank test does not change under scaling)."""
    d = [x - y for x, y in zip(rationals(a), rationals(b), strict=True)]
    return _as_integers(d)


def _as_integers(fracs: list[Fraction]) -> np.ndarray:
    den = lcm(*(f.denominator for f in fracs)) if fracs else 1
    return np.array([int(f * den) for f in fracs], dtype=object)


def _doubled_ranks(absolute: np.ndarray) -> np.ndarray:
    """2 x the average ranks of ``absolute`` (integers: an average rank is a half-integer)."""
    order = sorted(range(len(absolute)), key=lambda i: absolute[i])
    out = np.zeros(len(absolute), dtype=np.int64)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and absolute[order[j + 1]] == absolute[order[i]]:
            j += 1
        for k in range(i, j + 1):  # ranks i+1 .. j+1 share their mean: (i + j + 2) / 2
            out[order[k]] = i + j + 2
        i = j + 1
    return out


def _exact_p(ranks2: np.ndarray, observed: int) -> float:
    """P(|T - E T| >= |t - E T|) under random signs, T = sum of doubled positive ranks."""
    total = int(ranks2.sum())
    dist = np.zeros(total + 1, dtype=float)
    dist[0] = 1.0
    for r in ranks2:  # each rank is positive or negative with probability 1/2
        shifted = np.zeros_like(dist)
        shifted[r:] = dist[: total + 1 - r]
        dist = 0.5 * (dist + shifted)
    t = np.arange(total + 1)
    far = np.abs(2 * t - total) >= abs(2 * observed - total)
    return float(min(1.0, dist[far].sum()))


def _normal_p(ranks2: np.ndarray, observed: int) -> float:
    from scipy import stats

    r = ranks2 / 2.0
    mean, var = r.sum() / 2.0, (r**2).sum() / 4.0  # tie-corrected: sum of squared ranks
    z = (observed / 2.0 - mean) / np.sqrt(var)
    return float(min(1.0, 2 * stats.norm.sf(abs(z))))


def signed_rank_p(diff) -> float:
    """Two-sided Wilcoxon signed-rank p of paired differences; zeros are dropped
    (Wilcoxon's convention), ties share their average rank and the null is exact.

    ``diff``: integers (e.g. from :func:`exact_differences`) or floats, which are first
    recovered as exact fractions. NaN for no pairs, 1.0 when every difference is zero.
    """
    values = list(diff)
    if not values:
        return float("nan")
    if not all(isinstance(v, (int, np.integer)) for v in values):
        values = list(_as_integers(rationals(values)))
    values = [int(v) for v in values if v != 0]
    if not values:
        return 1.0
    ranks2 = _doubled_ranks(np.array([abs(v) for v in values], dtype=object))
    observed = int(sum(r for r, v in zip(ranks2, values, strict=True) if v > 0))
    if len(values) > EXACT_UP_TO:
        return _normal_p(ranks2, observed)
    return _exact_p(ranks2, observed)


def holm(pvalues) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (same order as given; NaN stays NaN)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[idx]))
        out[idx] = running
    return out


def smallest_p(k: int) -> float:
    """The smallest two-sided signed-rank p that k nonzero paired differences can give
    (all of one sign: 2 of the 2**k equally likely sign patterns are as extreme)."""
    return min(1.0, 2.0 / 2.0**k) if k > 0 else 1.0
