"""Paired tests over seeds: Wilcoxon signed-rank p-values and Holm's correction.

Kept apart from ``stats`` (which compares models at their chosen settings and so needs
``views``) because the aggregate step tests every gain cell with them too.
"""

from __future__ import annotations

import numpy as np

ALPHA = 0.05


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


def signed_rank_p(diff: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value; 1.0 when every difference is zero.

    Zero differences are dropped (Wilcoxon's own convention), so k nonzero differences
    can give no p below :func:`smallest_p` (k): 0.25 for 3 seeds, 0.0625 for 5. With so
    few pairs scipy computes the exact null distribution, ties included.
    """
    from scipy import stats

    diff = np.asarray(diff, dtype=float)
    if len(diff) == 0:
        return float("nan")
    diff = diff[diff != 0]
    if len(diff) == 0:
        return 1.0
    return float(stats.wilcoxon(diff, alternative="two-sided").pvalue)


def smallest_p(k: int) -> float:
    """The smallest two-sided signed-rank p that k nonzero paired differences can give
    (all of one sign: 2 of the 2**k equally likely sign patterns are as extreme)."""
    return min(1.0, 2.0 / 2.0**k) if k > 0 else 1.0
