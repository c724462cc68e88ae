"""Scores on the small training subsets the shortlist reads (features.transferability_job)."""

import math

import numpy as np
import pytest

from transfer_atlas.features import transferability_job as tj


def test_a_score_undefined_on_one_image_per_class_is_nan_on_a_subset_only():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 8)), np.arange(5)  # one image per class
    p = rng.dirichlet(np.ones(4), 5)
    values, _ = tj.all_scores(x, p, y, strict=False)
    assert math.isnan(values["sfda"])  # no within-class scatter to fit
    assert all(math.isfinite(v) for k, v in values.items() if k != "sfda")
    with pytest.raises(ValueError, match="sfda"):
        tj.all_scores(x, p, y)  # the whole split: an error, as before


def test_subset_scores_read_only_the_n_images_the_fine_tunes_use(tmp_path, monkeypatch):
    # Issue 25, item 6: the score for (n, seed) sees exactly training_subset(n, seed).
    from types import SimpleNamespace

    from transfer_atlas.data import feature_cache
    from transfer_atlas.data.prepared import training_subset

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 20)
    prep = SimpleNamespace(labels=labels, train_idx=np.arange(0, 60, 2),
                           val_idx=np.arange(1, 60, 4), test_idx=np.arange(3, 60, 4))  # fmt: skip
    meta = {"extract_s": 0.0, "weights_sha256": "w", "dataset_fingerprint": "f"}
    feature_cache.save(tmp_path / "x.npz", rng.normal(size=(60, 4)) + labels[:, None], prep, meta)
    feature_cache.save(tmp_path / "p.npz", rng.dirichlet(np.ones(5), size=60), prep, meta)
    seen = []
    real = tj.all_scores
    monkeypatch.setattr(
        tj, "all_scores", lambda x, p, y, **kw: (seen.append(len(y)), real(x, p, y, **kw))[1]
    )
    job = {"study": "s", "dataset": "d", "model": "m", "subsets": [["6", 0], ["6", 1], ["all", 0]]}
    rec = tj.score(tmp_path / "x.npz", tmp_path / "p.npz", job, tmp_path / "out.json")
    assert seen == [30, 6, 6, 30]  # the whole split (for tau), then each subset
    assert [(s["size"], s["seed"], s["n_train"]) for s in rec["subsets"]] == [
        ("6", 0, 6),
        ("6", 1, 6),
        ("all", 0, 30),
    ]
    cache = feature_cache.load(tmp_path / "x.npz")
    idx = training_subset(cache.labels, cache.train_idx, "6", 1)
    y = cache.labels[idx]
    x = cache.features[idx].astype(np.float64)
    from transfer_atlas.features import selection_scores

    assert rec["subsets"][1]["scores"]["knn"] == selection_scores.knn(x, y)
    assert rec["subsets"][2]["scores"] == rec["scores"]  # n = all is the whole split
