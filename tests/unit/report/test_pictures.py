"""The report's pictures of the data and the models, on small arrays (seconds).

Class counts and sample strips, the 2-D maps (PCA, t-SNE) and their sampling, the
blocks whose feature maps are drawn, the confusion matrix beside the mistakes, and the
embedding script's promise to read a model's cache and not the dataset.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from transfer_atlas.data import prepared as data
from transfer_atlas.features import embedding


def _toy(n_per_class=40, dark_class=2, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), n_per_class)
    images = rng.integers(0, 255, (len(labels), 8, 8, 1), dtype=np.uint8)
    images[labels == dark_class] //= 4  # a darker class: separable on the first component
    idx = np.arange(len(labels))
    return data.Prepared(images, labels, ["a", "b", "c"], idx[::2], idx[1::4], idx[3::4], "f" * 64)


def test_explore_counts_and_sample_strips_from_prepared_arrays():
    from transfer_atlas.report import explore

    out = explore.explore(_toy(), "toy")
    counts = {(r["class"], r["split"]): r["count"] for r in out["counts"]}
    assert counts[("a", "train")] == 20 and sum(counts.values()) == 120
    assert [s["class"] for s in out["strips"]] == ["a", "b", "c"]
    assert all(s["n"] == explore.PER_CLASS for s in out["strips"])


def test_stratified_sample_keeps_proportions_and_rare_classes():
    labels = np.array([0] * 900 + [1] * 95 + [2] * 5)
    take = embedding.stratified_sample(labels, 100, seed=3)
    per_class = np.bincount(labels[take], minlength=3)
    assert per_class.tolist() == [90, 9, 1]  # 10% of each class, the rare one kept
    assert np.all(np.diff(take) > 0)
    assert np.array_equal(take, embedding.stratified_sample(labels, 100, seed=3))
    assert len(embedding.stratified_sample(labels[:50], 100)) == 50  # small: everything


def _nn_accuracy(xy: np.ndarray, labels: np.ndarray) -> float:
    """Share of points whose nearest other point has the same class."""
    d = ((xy[:, None] - xy[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return float((labels[d.argmin(1)] == labels).mean())


def test_maps_separate_separable_classes_and_are_deterministic():
    prep = _toy()
    split = embedding.split_names(120, prep.train_idx, prep.val_idx, prep.test_idx)
    out = embedding.describe(
        prep.images, prep.labels, prep.class_names, split, dataset="toy", source="pixels"
    )
    assert out["columns"] == ["pc1", "pc2", "ts1", "ts2", "class", "split"]
    assert out["n"] == out["of"] == 120 and out["dim"] == 64
    cols = {c: np.array(v) for c, v in zip(out["columns"], out["values"], strict=True)}
    dark = cols["class"] == "c"
    pc1 = cols["pc1"]
    assert abs(pc1[dark].mean() - pc1[~dark].mean()) > 3 * pc1[~dark].std()
    tsne = np.stack([cols["ts1"], cols["ts2"]], 1)
    assert _nn_accuracy(tsne, dark) > 0.95  # the dark class is its own island
    for c in ("pc1", "pc2", "ts1", "ts2"):
        assert np.abs(cols[c]).max() == pytest.approx(1.0)  # rescaled: panels share axes
    again = embedding.describe(
        prep.images, prep.labels, prep.class_names, split, dataset="toy", source="pixels"
    )
    assert again == out


# In a fresh process, as a cold embed job: scikit-learn and scipy load their OpenMP and
# BLAS after the job starts, and must still run on the one thread the map is made on.
_MAP_IN_A_FRESH_PROCESS = """
import json
import numpy as np
from transfer_atlas.features import embedding
x = np.random.default_rng(0).random((300, 4096)).astype(np.float32)  # a 64 px photo's size
print(json.dumps(embedding.embed(x)["tsne"].tolist()))
"""


@pytest.mark.slow  # two fresh processes
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs to differ")
def test_a_cold_map_is_the_same_whatever_thread_count_the_process_starts_with():
    maps = []
    for threads in ({}, {"OMP_NUM_THREADS": "1"}):
        env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
        proc = subprocess.run(
            [sys.executable, "-c", _MAP_IN_A_FRESH_PROCESS],
            capture_output=True,
            text=True,
            timeout=300,
            env={**env, **threads},
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        maps.append(proc.stdout)
    assert maps[0] == maps[1]


@pytest.mark.slow  # a job in a subprocess, or seconds of training
def test_model_features_map_reads_the_cache_not_the_dataset(tmp_path):
    """embed.py on a model's cache needs only the cache and meta.json: no images.npy."""
    from transfer_atlas.data import feature_cache

    prep = _toy()
    feats = np.eye(3, dtype=np.float32)[prep.labels] * 5 + np.random.default_rng(1).normal(
        size=(120, 3)
    ).astype(np.float32)
    cache = tmp_path / "pre_logits.npz"
    feature_cache.save(cache, feats, prep, {"layer": "pre_logits"})
    data_dir = tmp_path / "toy"
    data_dir.mkdir()  # meta.json only: reading the arrays would fail
    (data_dir / "meta.json").write_text(json.dumps({"class_names": prep.class_names}))
    out = tmp_path / "map.json"
    cmd = [sys.executable, str(ROOT / "scripts" / "embed.py"), "--data", str(data_dir),
           "--features", str(cache), "--source", "cnn", "--out", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert f"read from {cache}" in proc.stdout
    result = json.loads(out.read_text())
    assert result["source"] == "cnn" and result["dataset"] == "toy" and result["dim"] == 3
    cols = dict(zip(result["columns"], result["values"], strict=True))
    tsne = np.stack([cols["ts1"], cols["ts2"]], 1)
    assert _nn_accuracy(tsne, np.array(cols["class"])) > 0.95


@pytest.mark.parametrize(
    ("spec", "blocks"),
    [
        ({"arch": "small_cnn", "arch_args": {"channels": [8, 16, 32]}, "input_size": 16},
         ["stages.0", "stages.1", "stages.2"]),
        # a stem of conv + BatchNorm side by side: the BatchNorm finishes the group
        ({"arch": "timm/test_resnet", "input_size": 16}, ["bn1", "layer1.0", "layer2.0"]),
        ({"arch": "tv/resnet18"}, ["body.bn1", "body.layer1", "body.layer2"]),
    ],
)  # fmt: skip
def test_feature_maps_are_drawn_after_the_first_freeze_groups(spec, blocks):
    import torch

    from transfer_atlas.nn import models
    from transfer_atlas.report import model_pictures

    model = models.build(spec, 3).eval()
    size = spec.get("input_size", 32)
    chans = 3 if spec["arch"].startswith("tv/") else 1
    x = torch.zeros(1, chans, size, size)
    _, last = model_pictures._forward(model, x)
    assert model_pictures._block_modules(model, last, 3) == blocks


def test_pictures_show_filters_and_shrinking_feature_maps(tmp_path):
    from transfer_atlas.nn import models, weights
    from transfer_atlas.report import model_pictures

    spec = {"arch": "small_cnn", "arch_args": {"channels": [8, 16]}, "input_size": 8}
    path = tmp_path / "w.safetensors"
    weights.save_model(models.build(spec, 3), path)
    pics = model_pictures.pictures(spec, str(path), _toy(), "toy")
    assert pics["n_filters"] == 8 and pics["filters"] and pics["image"]
    labels = [m["label"] for m in pics["maps"]]
    assert labels == ["first convolution", "block 1", "block 2"]
    sides = [m["shape"][1] for m in pics["maps"]]
    assert sides == sorted(sides, reverse=True) and sides[-1] < sides[0]
    assert all(m["n"] == min(model_pictures.MAX_MAPS, m["shape"][0]) for m in pics["maps"])


def test_confusion_beside_the_mistakes_sums_the_seeds():
    import pandas as pd

    from transfer_atlas.report import mistakes

    grp = pd.DataFrame(
        {"confusion_matrix": [json.dumps([[3, 1], [0, 4]]), json.dumps([[2, 2], [1, 3]])]}
    )
    prep = _toy()
    prep.class_names = ["yes", "no"]
    cm = mistakes._confusion(grp, prep)
    assert cm["classes"] == ["yes", "no"]
    assert cm["counts"] == [[5, 3], [1, 7]]
    assert cm["shares"] == [[0.62, 0.38], [0.12, 0.88]]


def test_confusion_past_20_classes_keeps_the_whole_rows_shares():
    import pandas as pd

    from transfer_atlas.report import mistakes

    k = 25
    cm = np.eye(k, dtype=int) * 10
    cm[0, 24] = 10  # class 0: half its test images go to class 24
    cm[1:6, 7] = 1  # a few errors elsewhere, so 0 and 24 rank among the kept
    prep = _toy()
    prep.class_names = [f"c{i}" for i in range(k)]
    grp = pd.DataFrame({"confusion_matrix": [json.dumps(cm.tolist())]})
    out = mistakes._confusion(grp, prep)
    assert len(out["classes"]) == 20 and out["of"] == k
    row = out["classes"].index("c0")
    assert out["shares"][row][row] == 0.5  # of the whole row, not of the kept columns


def test_a_handful_of_images_still_gets_two_maps():
    for n in (1, 3):
        x = np.random.default_rng(0).normal(size=(n, 5))
        out = embedding.embed(x)
        assert out["pca"].shape == out["tsne"].shape == (n, 2)


def test_one_pixel_maps_share_a_range_instead_of_going_black():
    from transfer_atlas.report.model_pictures import _norm_maps

    maps = np.array([0.0, 1.0, 3.0]).reshape(3, 1, 1)
    assert [int(m[0, 0]) for m in _norm_maps(maps)] == [0, 85, 255]
    big = np.arange(8.0).reshape(2, 2, 2)  # 2x2: each map its own range
    assert all(m.min() == 0 and m.max() == 255 for m in _norm_maps(big))
