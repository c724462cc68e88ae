"""2-D maps of a dataset as one representation sees it: PCA and t-SNE, coloured by class.

A representation is either the raw pixels (from the prepared arrays) or a model's cached
``pre_logits`` features (from ``results/features/``): the maps are drawn from those
caches, never from a new pass over the images. Every representation of a dataset maps
the same class-stratified sample of images (the sample depends only on the labels and the
seed), so a point in one panel is the same image as in the next.

t-SNE is scikit-learn's exact method (at a few hundred points it is about twice as fast
as Barnes-Hut here: 8.0 s against 15.7 s for 600 digits on a loaded 2-core machine),
run on the first principal components of the standardised representation, initialised
from PCA, with a fixed seed: the same cache gives the same map. It stops after 750
iterations, not scikit-learn's 1000: on the default study's eleven maps (about 300 points
each) the final KL divergence at 750 is at most 0.61% above the one at 1000, for about
three quarters of the CPU time (0.73 and 0.77 in two runs; ``benchmarks/tsne_iterations.py``).
"""

from __future__ import annotations

import numpy as np

MAX_POINTS = 300  # per dataset: enough to see clusters; t-SNE time grows as its square
PCA_DIMS = 50  # t-SNE input dimension (the usual PCA pre-reduction)
TSNE_ITER = 750  # converged at this size (module docstring)


def stratified_sample(labels: np.ndarray, max_points: int = MAX_POINTS, seed: int = 0):
    """Sorted indices of at most ``max_points`` images, each class in its own proportion.

    Every class keeps at least one image when it has one (so rare classes stay visible).
    """
    labels = np.asarray(labels)
    n = len(labels)
    if n <= max_points:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quota = np.maximum(1, np.floor(counts * max_points / n)).astype(int)
    take = []
    for c, q in zip(classes, quota, strict=True):
        members = np.flatnonzero(labels == c)
        take.append(rng.choice(members, min(q, len(members)), replace=False))
    return np.sort(np.concatenate(take))


def _standardise(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    x -= x.mean(0)
    std = x.std(0)
    return x / np.where(std > 1e-8, std, 1.0)


def pca(x: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """(coordinates on the first ``dims`` components, their share of the variance)."""
    x = x - x.mean(0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    var = s**2 / max(float((s**2).sum()), 1e-12)
    dims = min(dims, vt.shape[0])
    return x @ vt[:dims].T, var[:dims]


def tsne_model(n: int, seed: int = 0, max_iter: int = TSNE_ITER):
    """The maps' t-SNE estimator for ``n`` points (``n`` >= 4: perplexity must stay below n)."""
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, (n - 1) / 3))
    return TSNE(
        2, perplexity=perplexity, init="pca", method="exact", max_iter=max_iter, random_state=seed
    )


def tsne(x: np.ndarray, seed: int = 0) -> np.ndarray:
    if len(x) < 4:  # t-SNE needs perplexity < n: a handful of points keeps its PCA map
        return _two_columns(x)
    return tsne_model(len(x), seed).fit_transform(x.astype(np.float32))


def _two_columns(a: np.ndarray) -> np.ndarray:
    return a[:, :2] if a.shape[1] >= 2 else np.pad(a, ((0, 0), (0, 2 - a.shape[1])))


def embed(x: np.ndarray, seed: int = 0) -> dict:
    """PCA and t-SNE coordinates of the rows of ``x`` (one row per sampled image).

    On one BLAS/OpenMP thread, whatever the process (or the warm server it forked from)
    started with: summed in another order, t-SNE's gradients drift, and the map with them.
    """
    # Loaded first: threadpoolctl limits only the thread pools already loaded, and in a cold
    # process t-SNE would otherwise bring scipy's BLAS and scikit-learn's OpenMP in unlimited.
    import sklearn.manifold  # noqa: F401
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        z = _standardise(x.reshape(len(x), -1))
        reduced, explained = pca(z, PCA_DIMS)  # one SVD serves both maps
        return {
            "pca": _two_columns(reduced),
            "tsne": tsne(reduced, seed),
            "explained": [round(float(v), 4) for v in explained[:2]],
        }


def _unit(a: np.ndarray) -> list[float]:
    """Coordinates rescaled to [-1, 1] and rounded: the map's shape is what matters."""
    a = np.asarray(a, dtype=np.float64)  # float32 would not round to short decimals
    span = float(np.abs(a).max()) or 1.0
    return np.round(a / span, 2).tolist()  # 0.01 of a panel: under a pixel


def describe(
    x: np.ndarray,
    labels: np.ndarray,
    class_names: list[str],
    split: np.ndarray,
    *,
    dataset: str,
    source: str,
    max_points: int = MAX_POINTS,
    seed: int = 0,
) -> dict:
    """The JSON the report embeds for one dataset x representation."""
    take = stratified_sample(labels, max_points, seed)
    result = embed(x[take], seed)
    return {
        "dataset": dataset,
        "source": source,
        "dim": int(np.prod(x.shape[1:])),
        "n": int(len(take)),
        "of": int(len(labels)),
        "explained": result["explained"],
        "columns": ["pc1", "pc2", "ts1", "ts2", "class", "split"],
        "values": [
            _unit(result["pca"][:, 0]),
            _unit(result["pca"][:, 1]),
            _unit(result["tsne"][:, 0]),
            _unit(result["tsne"][:, 1]),
            [class_names[int(i)] for i in labels[take]],
            split[take].tolist(),
        ],
    }


def split_names(n: int, train_idx, val_idx, test_idx) -> np.ndarray:
    split = np.empty(n, dtype=object)
    for name, idx in (("train", train_idx), ("val", val_idx), ("test", test_idx)):
        split[idx] = name
    return split
