"""More ways to rank pretrained models before fine-tuning them: SFDA, and the k-NN baseline.

Same contract as :mod:`transfer_atlas.features.transferability` (numpy features and target
labels in, one float out, higher is better, labels of any sortable values; inputs checked
by :mod:`transfer_atlas.features.score_inputs`):

- :func:`sfda` -- Self-challenging Fisher Discriminant Analysis (Shao et al., "Not All
  Models Are Equal: Predicting Model Transferability in a Self-challenging Fisher Space",
  ECCV 2022), computed the way the authors' code computes it, so values are comparable
  with their published table (see the function for the two places where that matters).
- :func:`knn` -- leave-one-out k-nearest-neighbour accuracy of the frozen features: a
  baseline that a score has to beat to be worth its name (Sorkhei et al., 2025).
"""

from __future__ import annotations

import numpy as np

from transfer_atlas.features.score_inputs import check_matrix, check_target

__all__ = ["knn", "sfda", "top_eigenvalue"]

#: Neighbours the k-NN baseline votes with, and its distance (on the raw features).
KNN_K = 5
KNN_METRIC = "cosine"


def top_eigenvalue(a: np.ndarray, steps: int = 3) -> float:
    """Estimate of the largest eigenvalue of a symmetric PSD matrix by ``steps`` rounds of
    power iteration, as SFDA's reference code does it (so its shrinkage matches).

    Each round multiplies twice: ``u = A v / |A v|`` then ``v = A u / |A u|``, starting from
    ``v = A 1`` (the row sums); the estimate is ``v^T A u``. For ``A = diag(w)`` that is
    ``|w^(2 steps + 1)| / |w^(2 steps)|`` (element-wise powers). When the row sums are all
    zero (a start the reference cannot use), the column with the largest diagonal entry
    is the start instead.
    """
    v = a.sum(axis=1)
    if not np.any(v):  # e.g. [[1, -1], [-1, 1]]; A e_j with the largest A_jj is never 0
        v = a[:, np.argmax(np.diag(a))].copy()
    if not np.any(v):
        return 0.0  # the zero matrix
    u = v
    for _ in range(steps):
        u = a @ v
        u /= np.linalg.norm(u)
        v = a @ u
        v /= np.linalg.norm(v)
    return float(v @ a @ u)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _class_means(x: np.ndarray, codes: np.ndarray, n_classes: int) -> np.ndarray:
    means = np.zeros((n_classes, x.shape[1]))
    np.add.at(means, codes, x)
    return means / np.bincount(codes, minlength=n_classes)[:, None]


def _fisher_proba(x, codes, n_classes, shrinkage=None):
    """Class probabilities of the shrunk Fisher (linear discriminant) classifier, and the
    shrinkage used.

    Within-class scatter ``S_w = 1/n sum_i (x_i - mu_{y_i})(x_i - mu_{y_i})^T`` is shrunk
    toward ``tr(S_w)/d I`` by ``a = max(exp(-5 lambda_max(S_w)), 1e-10)`` unless ``a`` is
    given. The reference projects onto all generalised eigenvectors ``V`` of
    ``(S_b, S_w^a)`` and back, and ``V V^T = (S_w^a)^-1``, so its classifier is plain
    LDA with the shrunk scatter: ``logit_c = x^T S^-1 mu_c - mu_c^T S^-1 mu_c / 2 + log pi_c``.
    """
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    n, d = x.shape
    means = _class_means(x, codes, n_classes)
    centred = x - means[codes]
    sw = centred.T @ centred / n
    if shrinkage is None:
        shrinkage = max(float(np.exp(-5.0 * top_eigenvalue(sw))), 1e-10)
    shrunk = (1.0 - shrinkage) * sw
    shrunk[np.diag_indices(d)] += shrinkage * np.trace(sw) / d
    try:
        coef = cho_solve(cho_factor(shrunk), means.T).T  # (C, d) = means S^-1
    except LinAlgError as exc:
        raise ValueError(
            "sfda: the shrunk within-class scatter is singular (features constant within "
            "every class?)"
        ) from exc
    priors = np.bincount(codes, minlength=n_classes) / n
    logits = x @ coef.T - 0.5 * np.sum(means * coef, axis=1) + np.log(priors)
    return _softmax(logits), shrinkage


def sfda(features: np.ndarray, labels: np.ndarray) -> float:
    """SFDA: mean probability of the true class after a self-challenging Fisher fit.

    1. Fit the shrunk Fisher classifier (:func:`_fisher_proba`) on the features; the
       shrinkage comes from :func:`top_eigenvalue` of the within-class scatter (3 rounds).
    2. ConfMix: pass the class probabilities through a softmax *again* (as the authors'
       code does; it flattens them toward 1/C, so p in [0, 1] becomes a weight in
       ``[1/(1 + (C-1) e), e/(e + C - 1)]``), take ``w_i`` = that softened probability of
       sample i's own class, and move each sample toward the mean of the *other* classes'
       means: ``x_i <- w_i x_i + (1 - w_i) mean_{c != y_i} mu_c``. Samples the first fit
       was unsure of are pulled furthest into the other classes.
    3. Refit on the mixed features with the same shrinkage; the score is the mean
       probability the refit gives each mixed sample's true class (no log, as in the
       reference). In [0, 1]; higher = classes stay separable under the challenge.

    Not invariant to the feature scale: the shrinkage depends on the scatter's magnitude.
    """
    x = check_matrix(features, "features")
    codes, n_classes = check_target(labels, x.shape[0])
    proba, shrinkage = _fisher_proba(x, codes, n_classes)
    rows = np.arange(x.shape[0])
    weight = _softmax(proba)[rows, codes][:, None]
    means = _class_means(x, codes, n_classes)
    others = (means.sum(axis=0) - means) / (n_classes - 1)  # mean of the other class means
    mixed = weight * x + (1.0 - weight) * others[codes]
    proba2, _ = _fisher_proba(mixed, codes, n_classes, shrinkage=shrinkage)
    return float(np.mean(proba2[rows, codes]))


def knn(features: np.ndarray, labels: np.ndarray, k: int = KNN_K) -> float:
    """Leave-one-out k-NN accuracy: each sample is classified by the majority label of its
    ``k`` nearest *other* samples (cosine distance, brute force, scikit-learn); a tie goes
    to the tied class whose member is nearest. ``k`` shrinks to ``n - 1`` for tiny sets.

    Leave-one-out uses every labelled sample and needs no random split, so the baseline is
    deterministic. Cosine distance ignores the feature scale, which differs across models.
    """
    from sklearn.neighbors import NearestNeighbors

    x = check_matrix(features, "features")
    codes, n_classes = check_target(labels, x.shape[0])
    if k < 1:
        raise ValueError(f"knn: k must be >= 1, got {k}")
    k = min(k, x.shape[0] - 1)
    nn = NearestNeighbors(n_neighbors=k, metric=KNN_METRIC, algorithm="brute").fit(x)
    neighbours = nn.kneighbors(return_distance=False)  # without X: never the sample itself
    votes = codes[neighbours]  # (n, k), nearest first
    counts = np.zeros((x.shape[0], n_classes), dtype=int)
    np.add.at(counts, (np.repeat(np.arange(x.shape[0]), k), votes.reshape(-1)), 1)
    top = counts.max(axis=1, keepdims=True)
    tied = np.take_along_axis(counts, votes, axis=1) == top  # which neighbours vote a top class
    predicted = votes[np.arange(x.shape[0]), tied.argmax(axis=1)]  # the nearest such one
    return float(np.mean(predicted == codes))
