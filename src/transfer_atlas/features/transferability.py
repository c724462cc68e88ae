"""Transferability scores: estimate how well a pretrained model suits a target task.

Each score needs only a forward pass of the source model over the labelled target
data (features, softmax outputs or hard predictions), so candidate models can be
ranked without fine-tuning them. Higher is better for each.

- :func:`logme` -- LogME (You et al., ICML 2021)
- :func:`leep` -- LEEP (Nguyen et al., ICML 2020)
- :func:`nce` -- negative conditional entropy (Tran et al., ICCV 2019)
- :func:`hscore` -- shrinkage-regularised H-score (Ibrahim et al., ECML PKDD 2022),
  which corrects the plain H-score (Bao et al., ICIP 2019; :func:`hscore_plain`)

Target labels may be any values :func:`numpy.unique` can sort (e.g. arbitrary
integers); they are mapped to ``0..C-1`` internally, so renaming classes never
changes a score. Logarithms are natural (scores in nats).
"""

from __future__ import annotations

import numpy as np

from transfer_atlas.features.score_inputs import check_labels, check_matrix, check_target

__all__ = ["hscore", "hscore_plain", "leep", "logme", "nce"]

_TINY = np.finfo(np.float64).tiny


def _joint(z: np.ndarray, y: np.ndarray, n_z: int, n_y: int) -> np.ndarray:
    """Empirical joint distribution P(z, y) of two integer-coded label vectors."""
    joint = np.zeros((n_z, n_y))
    np.add.at(joint, (z, y), 1.0)
    return joint / z.size


def _conditional_entropy(joint: np.ndarray) -> float:
    """H(Y|Z) in nats for a joint table with rows indexed by z, columns by y."""
    p_z = joint.sum(axis=1, keepdims=True)
    mask = joint > 0
    cond = np.divide(joint, p_z, out=np.ones_like(joint), where=mask)
    return float(-np.sum(joint[mask] * np.log(cond[mask])))


def _log_evidence(
    alpha: float, beta: float, s: np.ndarray, z2: np.ndarray, r0: float, n: int
) -> float:
    """Log evidence log p(y | F, alpha, beta) in a form that stays accurate when
    alpha or beta become huge (lam = alpha / beta -> inf or -> 0).

    ``s``: the k eigenvalues of the thin Gram matrix, ``z2``: squared coordinates
    of y along the matching left singular vectors (0 where s = 0), ``r0``: squared
    least-squares residual |y - F F^+ y|^2. The d - k null directions of F^T F only
    contribute log(alpha) terms, which cancel between the prior and log|A|.
    """
    lam, k = alpha / beta, s.size
    m2 = float(np.sum(s * z2 / (lam + s) ** 2))  # |m|^2, m the posterior mean
    res2 = r0 + float(np.sum(z2 * lam**2 / (lam + s) ** 2))  # |F m - y|^2
    return float(
        0.5 * (n - k) * np.log(beta)
        + 0.5 * k * np.log(alpha)
        - 0.5 * float(np.sum(np.log(lam + s)))
        - 0.5 * beta * res2
        - 0.5 * alpha * m2
        - 0.5 * n * np.log(2 * np.pi)
    )


def logme(
    features: np.ndarray, labels: np.ndarray, max_iter: int = 1000, tol: float = 1e-12
) -> float:
    """LogME: mean per-sample maximum log evidence of Bayesian linear regression.

    For every class c the one-hot column ``y = [labels == c]`` is modelled as
    ``y = F w + eps`` with prior ``w ~ N(0, I/alpha)`` and noise ``eps ~ N(0, I/beta)``.
    The log marginal likelihood (evidence) is maximised over ``alpha, beta`` with
    MacKay's fixed-point updates ``alpha = gamma / |m|^2``,
    ``beta = (n - gamma) / |F m - y|^2`` where ``gamma`` is the effective number of
    parameters. The result is the mean over classes of ``evidence / n``.

    Everything is expressed through the eigendecomposition of the smaller Gram
    matrix (``F^T F`` if n > d, else ``F F^T``), so one update costs O(min(n, d))
    and the decomposition dominates. Because the prior is isotropic, the score is
    invariant to rotating the features or scaling them by a non-zero constant
    (alpha absorbs the scale), but not to rescaling single features. If a class
    indicator lies exactly in the column span of F and rank(F) < n, the evidence
    is unbounded (noise-free fit) and the score is ``inf``.
    """
    f = check_matrix(features, "features")
    n = f.shape[0]
    codes, n_classes = check_target(labels, n)
    if not np.any(f):
        raise ValueError("features are all zero; the evidence is undefined")
    y = np.eye(n_classes)[codes]  # (n, C) one-hot targets
    s, z2, r0, rank = _spectrum(f, y)
    evidences = [
        _class_evidence(s, z2[:, c], float(r0[c]), n, float(y[:, c].sum()), rank, max_iter, tol)
        for c in range(n_classes)
    ]
    return float(np.mean(evidences))


def _spectrum(f: np.ndarray, y: np.ndarray):
    """LogME's view of the features: (``s``, ``z2``, ``r0``, rank) with ``s`` the
    eigenvalues of the smaller Gram matrix (``F^T F`` if n > d, else ``F F^T``; 0 below
    its numerical rank), ``z2`` the squared coordinates of each one-hot column of ``y``
    along the matching left singular vectors, ``r0`` each column's squared least-squares
    residual ``|y - F F^+ y|^2``."""
    n, d = f.shape
    if n > d:
        s, v = np.linalg.eigh(f.T @ f)  # eigenvectors of F^T F
    else:
        s, u = np.linalg.eigh(f @ f.T)  # eigenvectors of F F^T = left singular vectors
    pos = s > s.max() * max(n, d) * np.finfo(np.float64).eps  # numerical rank of Gram
    s = np.where(pos, s, 0.0)
    if n > d:
        root = np.sqrt(s[pos])[:, None]
        proj = (v.T @ (f.T @ y))[pos] / root  # u_i^T y = v_i^T F^T y / sqrt(s_i)
        z2 = np.zeros((d, y.shape[1]))
        z2[pos] = proj**2
        r0 = np.sum((y - f @ (v[:, pos] @ (proj / root))) ** 2, axis=0)  # |y - F F^+ y|^2
    else:
        z2 = (u.T @ y) ** 2
        r0 = z2[~pos].sum(axis=0)
        z2[~pos] = 0.0
    return s, z2, r0, int(np.count_nonzero(pos))


def _class_evidence(s, zc, rc: float, n: int, count: float, rank: int, max_iter, tol) -> float:
    """One class's maximum log evidence per sample (``count``: its samples)."""
    if rc <= 1e-20 * count and rank < n:
        return np.inf  # exact fit with spare samples: beta -> inf
    if not np.any(zc):  # F^T y = 0: optimum at alpha = inf, y ~ N(0, I/beta)
        return -0.5 * (np.log(2 * np.pi * rc / n) + 1.0)
    return _maximise_evidence(s, zc, rc, n, max_iter, tol) / n


def _maximise_evidence(s, zc, rc: float, n: int, max_iter: int, tol: float) -> float:
    """MacKay's fixed-point updates of (alpha, beta) from (1, 1); the log evidence reached."""
    alpha, beta = 1.0, 1.0
    value = _log_evidence(alpha, beta, s, zc, rc, n)
    for _ in range(max_iter):
        lam = alpha / beta
        gamma = float(np.sum(s / (lam + s)))  # effective number of parameters
        # n - gamma, written without cancellation for gamma close to n
        n_minus_gamma = float(np.sum(lam / (lam + s))) + (n - s.size)
        m2 = float(np.sum(s * zc / (lam + s) ** 2))
        res2 = rc + float(np.sum(zc * lam**2 / (lam + s) ** 2))
        alpha, beta = gamma / max(m2, _TINY), n_minus_gamma / max(res2, _TINY)
        if not (0.0 < alpha < np.inf and 0.0 < beta < np.inf):
            break
        new = _log_evidence(alpha, beta, s, zc, rc, n)
        if not np.isfinite(new):
            break
        # The maximum may lie at alpha -> inf (features carry no signal) or
        # beta -> inf (exact fit, n <= d): stop once the evidence settles.
        done = abs(new - value) <= tol * max(1.0, abs(new))
        value = new
        if done:
            break
    return value


def leep(source_probs: np.ndarray, labels: np.ndarray) -> float:
    """LEEP: mean log-likelihood of the "expected empirical predictor".

    ``source_probs`` (n, Z) are the source model's softmax outputs theta(x) on the
    target data. The soft empirical joint ``P(y, z) = 1/n sum_i theta(x_i)_z [y_i = y]``
    gives ``P(y|z)``; each target label is then predicted as
    ``sum_z P(y_i|z) theta(x_i)_z`` and LEEP is the mean log of that probability.
    Rows must be probability vectors (non-negative, summing to 1 within 1e-3).
    """
    theta = check_matrix(source_probs, "source_probs")
    n = theta.shape[0]
    codes, n_classes = check_target(labels, n)
    if np.any(theta < 0) or not np.allclose(theta.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("source_probs rows must be non-negative and sum to 1")
    joint = np.zeros((n_classes, theta.shape[1]))
    np.add.at(joint, codes, theta / n)  # P(y, z)
    p_z = joint.sum(axis=0, keepdims=True)
    # Source classes with zero mass get P(y|z) = 0; their theta entries are all 0.
    cond = np.divide(joint, p_z, out=np.zeros_like(joint), where=p_z > 0)  # P(y|z)
    eep = np.sum(cond[codes] * theta, axis=1)
    return float(np.mean(np.log(eep)))


def nce(source_labels: np.ndarray, labels: np.ndarray) -> float:
    """Negative conditional entropy ``-H(Y|Z)`` of target labels given source labels.

    ``source_labels`` are hard predictions Z of the source model on the target data
    (any values, one per sample). The score is 0 when Z determines Y and ``-H(Y)``
    when they are independent; it never depends on how the classes are named.
    """
    z = check_labels(source_labels, None, "source_labels")
    codes, n_classes = check_target(labels, z.size)
    joint = _joint(z, codes, int(z.max()) + 1, n_classes)
    return -_conditional_entropy(joint)


def hscore(features: np.ndarray, labels: np.ndarray) -> float:
    """Shrinkage-regularised H-score (Ibrahim, Ponomareva & Mazumder, "Newer is not
    always better: rethinking transferability metrics, their peculiarities, stability
    and performance", ECML PKDD 2022, arXiv:2110.06893)::

        H_a = tr( cov_a(f)^-1 (1 - a) cov(E[f|y]) ),
        cov_a(f) = (1 - a) cov(f) + a (tr cov(f) / d) I

    with the Ledoit-Wolf shrinkage ``a`` in [0, 1] (``sklearn.covariance.ledoit_wolf``) as
    the reference ``regularized_h_score`` (github.com/TencentARC/SFDA, after the paper)
    computes it: Ledoit-Wolf's covariance with 1/n, ``cov(E[f|y])`` with ``np.cov``'s
    1/(n-1) (so the score is n/(n-1) times the all-1/n one). The plain H-score
    (:func:`hscore_plain`) inverts the sample covariance itself: with n <= d + 1 samples it
    equals C - 1 for any features, noise included, and otherwise it is biased upward by
    about d (C - 1) / n, so models of different feature widths would be compared under
    different biases. Shrinkage toward the isotropic target keeps the inverse well
    conditioned; for features with no class structure ``a`` approaches 1 and the score
    approaches 0. The score is invariant to rotations and to a common scale of the features
    (not to rescaling single features, as the plain score is). Features that are all
    constant score 0.
    """
    from sklearn.covariance import ledoit_wolf

    f = check_matrix(features, "features")
    codes, n_classes = check_target(labels, f.shape[0])
    f = f - f.mean(axis=0)
    if not np.any(f):
        return 0.0  # no variation at all: nothing that could separate the classes
    cov_a, shrink = ledoit_wolf(f, assume_centered=True)
    n = f.shape[0]
    cov_g = _between_class_cov(f, codes, n_classes) * n / max(n - 1, 1)  # np.cov: 1/(n-1)
    return float((1.0 - shrink) * _trace_pinv_product(cov_a, cov_g))


def hscore_plain(features: np.ndarray, labels: np.ndarray) -> float:
    """Plain H-score ``tr(cov(f)^+ cov(E[f|y]))`` (Bao et al., ICIP 2019): between-class
    over total feature variance; kept to show what :func:`hscore` corrects.

    Both covariances use 1/n normalisation (the ratio is unaffected by the choice).
    ``cov(E[f|y])`` is the class-frequency-weighted covariance of the class means.
    A Moore-Penrose pseudo-inverse replaces ``cov(f)^-1`` so that redundant or
    constant features (singular covariance) are ignored instead of raising:
    eigenvalues below ``1e-10 * max eigenvalue`` are treated as zero. In the
    full-rank case the score is invariant to any invertible linear map of f.
    Degenerate for n <= d + 1: the class means then lie in the span of the centred
    samples and the score is C - 1 whatever the features.
    """
    f = check_matrix(features, "features")
    codes, n_classes = check_target(labels, f.shape[0])
    f = f - f.mean(axis=0)
    cov_g = _between_class_cov(f, codes, n_classes)
    return _trace_pinv_product(f.T @ f / f.shape[0], cov_g)


def _between_class_cov(f: np.ndarray, codes: np.ndarray, n_classes: int) -> np.ndarray:
    """cov(E[f|y]) of centred features: class-frequency-weighted, 1/n."""
    counts = np.bincount(codes, minlength=n_classes)
    means = np.zeros((n_classes, f.shape[1]))
    np.add.at(means, codes, f)
    means /= counts[:, None]
    return (means.T * counts) @ means / f.shape[0]


def _trace_pinv_product(cov: np.ndarray, other: np.ndarray) -> float:
    """tr(cov^+ other) for a symmetric PSD ``cov``, eigenvalues below 1e-10 * max as 0."""
    eigval, eigvec = np.linalg.eigh(cov)
    keep = eigval > 1e-10 * max(eigval.max(), _TINY)
    proj = eigvec[:, keep]
    return float(np.sum(np.diag(proj.T @ other @ proj) / eigval[keep]))
