"""Classical classifiers on cached features: one job per features x classifier x size x seed.

A job reads one feature cache (``transfer_atlas.data.feature_cache``), takes the same nested
stratified training subset and the same fixed test split as fine-tuning, fits a
scikit-learn-style classifier (optionally after standardising, PCA to 95% of the
variance and a cross-validated grid search) and writes a run record of regime
``features``. It never imports torch: its fixed cost is numpy + scikit-learn.

Names and grids are plain data here (scikit-learn is imported inside functions), so
the config can be checked while Snakemake builds the DAG.
"""

from __future__ import annotations

import json
import pickle
import platform
import sys
import time

import numpy as np

from transfer_atlas.core import numerics
from transfer_atlas.spec.names import CLASSIFIERS

#: Grid-search defaults in the spirit of study 002 (C / gamma / kernel for SVMs,
#: estimators / depth for forests, learning rate for boosting).
DEFAULT_GRIDS = {
    "logreg": {"C": [0.01, 0.1, 1.0, 10.0]},
    "svm_linear": {"C": [0.01, 0.1, 1.0, 10.0]},
    "svm_rbf": {"C": [0.1, 1.0, 10.0, 100.0], "gamma": ["scale", 0.01, 0.001]},
    "random_forest": {"n_estimators": [50, 100, 200], "max_depth": [None, 10, 20]},
    "xgboost": {"learning_rate": [0.03, 0.1, 0.3], "n_estimators": [50, 100], "max_depth": [3, 6]},
    "gaussian_nb": {"var_smoothing": [1e-9, 1e-6, 1e-3]},
    "bayesian_ridge": {"alpha_1": [1e-6, 1e-3], "lambda_1": [1e-6, 1e-3]},
}


def make_classifier(name: str, seed: int):
    """A fresh, unfitted estimator; every source of randomness is seeded by ``seed``."""
    if name == "logreg":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=2000, random_state=seed)
    if name in ("svm_linear", "svm_rbf"):
        from sklearn.svm import SVC

        return SVC(kernel=name.split("_")[1], random_state=seed)
    if name == "random_forest":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1)
    if name == "xgboost":
        from xgboost import XGBClassifier

        return XGBClassifier(
            n_estimators=100,
            max_depth=4,
            learning_rate=0.1,
            tree_method="hist",
            random_state=seed,
            n_jobs=1,
            verbosity=0,
        )
    if name == "gaussian_nb":
        from sklearn.naive_bayes import GaussianNB

        return GaussianNB()
    if name == "bayesian_ridge":
        # A regressor per class on the 0/1 indicator; the highest prediction wins.
        from sklearn.linear_model import BayesianRidge
        from sklearn.multiclass import OneVsRestClassifier

        return OneVsRestClassifier(BayesianRidge())
    raise ValueError(f"unknown classifier '{name}' (known: {', '.join(CLASSIFIERS)})")


def make_pipeline(name: str, seed: int, standardize: bool = True, pca: bool = False):
    """[standardise] -> [PCA keeping 95% of the variance] -> classifier, as one estimator."""
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    steps = [("scale", StandardScaler())] if standardize else []
    if pca:
        steps.append(("pca", PCA(n_components=0.95, svd_solver="full", random_state=seed)))
    steps.append(("clf", make_classifier(name, seed)))
    return Pipeline(steps)


def cv_folds(y: np.ndarray, wanted: int) -> int:
    """Stratified folds possible for ``y``: at most the smallest class count."""
    return int(min(wanted, np.bincount(y)[np.bincount(y) > 0].min()))


def fit(name: str, x, y, seed: int, options: dict):
    """Fit a classifier (with grid search if configured); return (estimator, info)."""
    est = make_pipeline(name, seed, options.get("standardize", True), options.get("pca", False))
    search = options.get("grid_search")
    info = {"grid_search": False, "cv_folds": None, "best_params": {}}
    if search is not None:
        grid = (search.get("grids") or {}).get(name, DEFAULT_GRIDS[name])
        folds = cv_folds(y, search.get("cv", 5))
        if folds >= 2:
            from sklearn.model_selection import GridSearchCV, StratifiedKFold

            cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
            prefix = "clf__estimator__" if name == "bayesian_ridge" else "clf__"
            est = GridSearchCV(est, {prefix + k: v for k, v in grid.items()}, cv=cv, n_jobs=1)
            est.fit(x, y)
            best = {k.removeprefix(prefix): v for k, v in est.best_params_.items()}
            info.update(grid_search=True, cv_folds=folds, best_params=best)
            return est.best_estimator_, info
        print(f"grid search skipped: the smallest class has {folds} example(s)", flush=True)
    est.fit(x, y)
    return est, info


def n_learned(est) -> int:
    """Numbers the fitted classifier learned (coefficients, support vectors, tree nodes)."""
    clf = est.steps[-1][1] if hasattr(est, "steps") else est
    if hasattr(clf, "estimators_") and hasattr(clf, "label_binarizer_"):  # one-vs-rest
        return sum(e.coef_.size + 1 for e in clf.estimators_)
    if hasattr(clf, "support_vectors_"):
        return int(clf.support_vectors_.size + clf.dual_coef_.size + clf.intercept_.size)
    if hasattr(clf, "coef_"):
        return int(clf.coef_.size + np.size(clf.intercept_))
    if hasattr(clf, "theta_"):
        return int(clf.theta_.size + clf.var_.size)
    if hasattr(clf, "get_booster"):
        return sum(d.count("\n") for d in clf.get_booster().get_dump())
    if hasattr(clf, "estimators_"):
        return int(sum(t.tree_.node_count for t in clf.estimators_))
    return 0


def predict_latency_ms(est, x, repeats: int = 20) -> float:
    """Median wall time of predicting one example, in milliseconds."""
    one = x[:1]
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        est.predict(one)
        times.append(time.perf_counter() - t)
    return 1000 * sorted(times)[len(times) // 2]


def blas_threads() -> int:
    """Threads the numeric libraries (BLAS / OpenMP) run with in this process."""
    from threadpoolctl import threadpool_info

    return max((pool["num_threads"] for pool in threadpool_info()), default=1)


def run_classifier(
    job: dict, features_path: str, out: str, t_start: float | None = None, startup: str = "cold"
) -> dict:
    """Fit one classifier cell on cached features and write its record atomically."""
    from transfer_atlas.core import atomic
    from transfer_atlas.data import feature_cache
    from transfer_atlas.features import extract as features
    from transfer_atlas.spec import record

    t_start = t_start or time.time()
    cache = feature_cache.load(features_path)
    meta, seed, name = cache.meta, int(job["seed"]), job["classifier"]
    if meta["layer"] != job["layer"]:
        raise ValueError(f"{features_path}: holds layer '{meta['layer']}', not '{job['layer']}'")
    features.check_cache_weights(meta, job, features_path)
    idx, idx_val = _subsets(job, cache, seed)
    x_te, options = cache.features[cache.test_idx], job.get("options", {})
    print(
        f"{name} on {job['model']}/{job['layer']} features of {job['dataset']}: "
        f"n={len(idx)} dim={cache.features.shape[1]} seed={seed}",
        flush=True,
    )
    t_fit = time.time()
    est, info = fit(name, cache.features[idx], cache.labels[idx], seed, options)
    train_s = time.time() - t_fit
    metrics = _metrics(est, cache, idx_val, x_te)
    learned = n_learned(est)
    size_bytes = meta["backbone_bytes"] + len(pickle.dumps(est))
    latency_ms = meta["backbone_latency_ms"] + predict_latency_ms(est, x_te)
    rec = record.build(
        job,
        "features",
        init="pretrained",
        freeze="all",
        arch=meta["arch"],
        freeze_groups=meta["n_groups"],
        n_groups=meta["n_groups"],
        n_train=len(idx),
        n_val=len(idx_val),
        num_classes=meta["num_classes"],
        metrics=metrics,
        curve=[],
        timing=_timing(len(idx), train_s, latency_ms, startup, t_fit, t_start, meta),
        params={"total": meta["backbone_params"] + learned, "trainable": learned},
        size_bytes=size_bytes,
        flops=meta["backbone_flops"],
        train={"classifier": name, **options},
        features=_features_block(job, cache, est, info, options),
        device=_device(),
        versions=record.library_versions("scikit-learn", "xgboost"),
        dataset_fingerprint=meta["dataset_fingerprint"],
        weights_sha256=meta["weights_sha256"],
        weights_origin=meta.get("weights_origin"),
    )
    atomic.write_json(out, rec)
    print(f"test accuracy {metrics['accuracy']:.4f} -> {out}", flush=True)
    return rec


def _subsets(job: dict, cache, seed: int) -> tuple:
    """The run's training and validation rows, drawn as a fine-tune of the cell draws them."""
    from transfer_atlas.data import prepared as data

    idx = data.training_subset(cache.labels, cache.train_idx, job["size"], seed)
    idx_val = data.validation_subset(
        cache.labels, cache.val_idx, len(idx), seed, cache.meta.get("val_size", "full")
    )
    return idx, idx_val


def _metrics(est, cache, idx_val, x_te) -> dict:
    """Test metrics, with the validation accuracy and balanced accuracy beside them."""
    from transfer_atlas.train.metrics import classification_metrics

    num_classes, y_te = cache.meta["num_classes"], cache.labels[cache.test_idx]
    metrics = classification_metrics(y_te, est.predict(x_te), num_classes)
    val = classification_metrics(
        cache.labels[idx_val], est.predict(cache.features[idx_val]), num_classes
    )
    metrics.update(val_accuracy=val["accuracy"], val_balanced_accuracy=val["balanced_accuracy"])
    return metrics


def _timing(n, train_s, latency_ms, startup, t_fit, t_start, meta) -> dict:
    """The record's ``timing``: one fit is one epoch; the prefix is the whole backbone."""
    return {
        "train_s": train_s,
        "throughput_img_s": n / max(train_s, 1e-9),
        "latency_ms": latency_ms,
        "epochs_run": 1,
        "best_epoch": 1,
        "startup": startup,
        "fixed_cost_s": max(0.0, t_fit - t_start),
        "total_s": time.time() - t_start,
        "prefix_cached": meta["n_groups"],
    }


def _features_block(job: dict, cache, est, info: dict, options: dict) -> dict:
    """The record's ``features``: layer, classifier, preprocessing, what the fit chose."""
    pca = est.named_steps.get("pca") if hasattr(est, "named_steps") else None
    return {
        "layer": job["layer"],
        "classifier": job["classifier"],
        "dim": int(cache.features.shape[1]),
        "standardize": bool(options.get("standardize", True)),
        "pca": bool(options.get("pca", False)),
        "pca_components": int(pca.n_components_) if pca is not None else None,
        **info,
        "extract_s": cache.meta["extract_s"],
        "torch_imported": "torch" in sys.modules,
    }


def _device() -> dict:
    """Classifiers run on the CPU, with the BLAS threads they were given."""
    return {
        "type": "cpu",
        "host": platform.node(),
        "name": platform.machine(),
        "threads": blas_threads(),
    }


def main(argv: list[str] | None = None, t_start: float | None = None, startup: str = "cold"):
    import argparse

    p = argparse.ArgumentParser(prog="classify", description=__doc__.splitlines()[0])
    p.add_argument("--job", required=True, help="job spec as JSON (cell + classifier options)")
    p.add_argument("--features", required=True, help="feature cache (.npz)")
    p.add_argument("--out", required=True, help="record (.json) path")
    args = p.parse_args(argv)
    try:
        job = json.loads(args.job)
        numerics.check(job.get("numerics"))
        run_classifier(job, args.features, args.out, t_start, startup)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0
