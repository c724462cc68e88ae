"""Benchmark: t-SNE maps stopped at ``embedding.TSNE_ITER`` iterations against 1000.

The report's maps (``features/embedding.py``) run scikit-learn's exact t-SNE on at most
300 points per dataset. Side by side on each map: the final KL divergence (t-SNE's own
objective: lower is a better fit) and the CPU seconds at 500, ``TSNE_ITER`` and 1000
iterations (scikit-learn's default), on one BLAS thread as the job runs it.

The maps are those of a finished study when ``--workdir`` names one (pixels and every
``pre_logits`` cache of each prepared dataset, as its ``embed`` jobs draw them), else the
raw pixels of scikit-learn's digits 5-9 (the default study's target, shipped with the
package). Goal: on every map, KL at ``TSNE_ITER`` within 1% of KL at 1000.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from common import print_table, write_result

NAME = "tsne_iterations"
GOAL = 0.01


def _maps(workdir: Path | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{name: (representation rows, labels)} as the study's embed jobs read them."""
    if workdir is None:
        from sklearn.datasets import load_digits

        digits = load_digits()
        keep = digits.target >= 5
        return {"digits_5to9/pixels": (digits.images[keep], digits.target[keep])}
    from transfer_atlas.data import feature_cache

    maps = {}
    for prepared in sorted((workdir / "results" / "prepared").iterdir()):
        labels = np.load(prepared / "labels.npy")
        maps[f"{prepared.name}/pixels"] = (np.load(prepared / "images.npy"), labels)
        for cache in sorted(
            (workdir / "results" / "features" / prepared.name).glob("*/pre_logits.npz")
        ):
            maps[f"{prepared.name}/{cache.parent.name}"] = (
                np.asarray(feature_cache.load(cache).features),
                labels,
            )
    return maps


def _fit(reduced: np.ndarray, iterations: int) -> tuple[float, float]:
    """(final KL divergence, CPU seconds) of the job's t-SNE stopped at ``iterations``."""
    from transfer_atlas.features import embedding

    t = time.process_time()
    model = embedding.tsne_model(len(reduced), 0, iterations)
    model.fit_transform(reduced.astype(np.float32))
    return float(model.kl_divergence_), time.process_time() - t


def run(args) -> dict:
    from threadpoolctl import threadpool_limits

    from transfer_atlas.features import embedding

    steps = [500, embedding.TSNE_ITER, 1000]  # 1000: scikit-learn's default
    workdir = getattr(args, "workdir", None)
    rows = []
    with threadpool_limits(limits=1):
        for name, (x, labels) in _maps(Path(workdir) if workdir else None).items():
            take = embedding.stratified_sample(labels)
            z = embedding._standardise(x[take].reshape(len(take), -1))
            reduced, _ = embedding.pca(z, embedding.PCA_DIMS)
            row = {"map": name, "n": len(take)}
            for s in steps:
                row[f"kl_{s}"], row[f"cpu_s_{s}"] = _fit(reduced, s)
            row["kl_excess"] = row[f"kl_{steps[1]}"] / row["kl_1000"] - 1
            rows.append(row)
    worst = max(r["kl_excess"] for r in rows)
    cpu = {s: sum(r[f"cpu_s_{s}"] for r in rows) for s in steps}
    ratio = cpu[steps[1]] / cpu[1000]
    cols = ["map", "n", *[f"kl_{s}" for s in steps], "kl_excess", *[f"cpu_s_{s}" for s in steps]]
    print_table(f"exact t-SNE, {len(rows)} maps", rows, cols)
    print(f"KL at {steps[1]} over KL at 1000, worst map: +{worst:.2%} (goal <= {GOAL:.0%})")
    print(f"CPU at {steps[1]} / at 1000, all maps: {ratio:.2f}")
    payload = {
        "maps": "workdir " + str(workdir) if workdir else "scikit-learn digits 5-9, pixels",
        "iterations": steps,
        "rows": rows,
        "worst_kl_excess": worst,
        "cpu_ratio": ratio,
        "goal": f"KL at {steps[1]} iterations within {GOAL:.0%} of KL at 1000 on every map",
        "met": worst <= GOAL,
    }
    command = getattr(args, "command", "python benchmarks/tsne_iterations.py")
    write_result(NAME, "cpu", payload, command)
    return payload


if __name__ == "__main__":
    import argparse
    import shlex
    import sys

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", help="a finished study's folder (default: digits 5-9 pixels)")
    args = p.parse_args()
    args.command = "python benchmarks/tsne_iterations.py " + shlex.join(sys.argv[1:])
    run(args)
