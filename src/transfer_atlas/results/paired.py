"""Paired tests over seeds: Wilcoxon signed-rank p-values (exact, on exact differences:
``signed_rank``) and Holm's correction.

Kept apart from ``stats`` (which compares models at their chosen settings and so needs
``views``) because the aggregate step tests every gain cell with them too.
"""

from __future__ import annotations

import numpy as np

from transfer_atlas.results.signed_rank import exact_differences, signed_rank_p

__all__ = ["ALPHA", "exact_differences", "holm", "signed_rank_p", "smallest_p"]

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


def smallest_p(k: int) -> float:
    """The smallest two-sided signed-rank p that k nonzero paired differences can give
    (all of one sign: 2 of the 2**k equally likely sign patterns are as extreme)."""
    return min(1.0, 2.0 / 2.0**k) if k > 0 else 1.0
