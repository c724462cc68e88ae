"""Validation metrics and budget in every record, and timings that count all the compute.

A run's record says how many validation images it could use (``n_val``) and how the final
model does on them (``metrics.val_accuracy``); ``split.val_size: matched`` caps those at
the training subset's size, nested across sizes. ``train_s`` includes the frozen-prefix
pass of cached runs (also kept as ``timing.prefix_s``).
"""

import numpy as np
import pytest
import torch

from transfer_atlas.data import feature_cache
from transfer_atlas.data import prepared as data
from transfer_atlas.features import classifiers
from transfer_atlas.features import extract as features
from transfer_atlas.nn import models, weights
from transfer_atlas.spec.study import ConfigError, resolve
from transfer_atlas.train.finetune import run_finetune


def _config(val_size=None):
    split = {"val": 0.3, "test": 0.2, **({"val_size": val_size} if val_size else {})}
    return {
        "datasets": {
            "d": {"source": {"kind": "generated", "per_class": 20, "image_size": 8}, "split": split}
        },
        "models": {
            "cnn": {
                "arch": "small_cnn",
                "arch_args": {"channels": [4, 8]},
                "input_size": 8,
                "weights": {"pretrain": "d"},
            }
        },
        "train": {"epochs": 2, "batch_size": 8, "min_steps": 0},
        "grid": {
            "targets": ["d"],
            "models": ["cnn"],
            "freeze": ["all"],
            "sizes": [8],
            "seeds": [0],
        },
    }


@pytest.fixture
def prepared_run(tmp_path):
    """A prepared dataset with val_size matched and source weights for 'cnn'."""

    def make(val_size):
        study = resolve(_config(val_size))
        prep = data.prepare(study.datasets["d"])
        data.save(prep, tmp_path / "prep")
        spec = {k: v for k, v in study.models["cnn"].items() if k != "weights"}
        torch.manual_seed(0)
        weights.save_model(models.build(spec, prep.num_classes), tmp_path / "src.safetensors")
        return prep, spec

    return make


def _job(spec, size, freeze="all", seed=0):
    return {"study": "t", "dataset": "d", "model": "cnn", "init": "pretrained",
            "freeze": freeze, "size": size, "seed": seed, "model_spec": spec}  # fmt: skip


def test_val_size_defaults_to_full_and_rejects_unknown_values():
    assert resolve(_config()).datasets["d"]["split"]["val_size"] == "full"
    assert resolve(_config("matched")).datasets["d"]["split"]["val_size"] == "matched"
    with pytest.raises(ConfigError, match="val_size"):
        resolve(_config("half"))


def test_matched_validation_subsets_are_stratified_nested_and_sized_like_training():
    labels = np.repeat(np.arange(4), 30)
    val_idx = np.arange(0, 120, 2)  # 60 validation images, 15 per class
    subsets = {n: data.validation_subset(labels, val_idx, n, 3, "matched") for n in (4, 12, 40)}
    for n, sub in subsets.items():
        assert len(sub) == n and set(sub) <= set(val_idx)
        assert len(np.unique(labels[sub])) == 4  # every class seen
    assert set(subsets[4]) <= set(subsets[12]) <= set(subsets[40])
    assert list(data.validation_subset(labels, val_idx, 100, 3, "matched")) == list(val_idx)
    assert list(data.validation_subset(labels, val_idx, 4, 3, "full")) == list(val_idx)
    assert set(subsets[12]) != set(data.validation_subset(labels, val_idx, 12, 4, "matched"))
    with pytest.raises(ValueError, match="val_size 'half'"):
        data.validation_subset(labels, val_idx, 4, 3, "half")


def test_finetune_record_carries_validation_metrics_of_the_final_model(prepared_run, tmp_path):
    prep, spec = prepared_run("full")
    src = str(tmp_path / "src.safetensors")
    rec = run_finetune(_job(spec, "8"), tmp_path / "prep", src, tmp_path / "r.json")
    assert rec["n_val"] == len(prep.val_idx)
    m = rec["metrics"]
    assert 0 <= m["val_accuracy"] <= 1 and m["val_loss"] > 0
    # No early stopping: the final model is the last epoch's, which the curve validated.
    assert m["val_accuracy"] == pytest.approx(rec["curve"][-1]["val_accuracy"])


def test_matched_budget_caps_validation_at_the_training_size(prepared_run, tmp_path):
    prep, spec = prepared_run("matched")
    src = str(tmp_path / "src.safetensors")
    small = run_finetune(_job(spec, "8"), tmp_path / "prep", src, tmp_path / "a.json")
    full = run_finetune(_job(spec, "all"), tmp_path / "prep", src, tmp_path / "b.json")
    assert small["n_train"] == small["n_val"] == 8
    assert full["n_val"] == len(prep.val_idx) < full["n_train"]


def test_train_s_includes_the_cached_prefix_pass_and_throughput_the_whole_run(
    prepared_run, tmp_path
):
    _, spec = prepared_run("full")
    src = str(tmp_path / "src.safetensors")
    rec = run_finetune(_job(spec, "all"), tmp_path / "prep", src, tmp_path / "r.json")
    t = rec["timing"]
    assert t["prefix_cached"] == 2 and 0 < t["prefix_s"] < t["train_s"]
    images = rec["n_train"] * t["epochs_run"]
    assert t["throughput_img_s"] == pytest.approx(images / t["train_s"], rel=1e-9)
    uncached = run_finetune(_job(spec, "all", freeze="0"), tmp_path / "prep", src, tmp_path / "u")
    assert uncached["timing"]["prefix_s"] == 0.0 and uncached["timing"]["prefix_cached"] == 0
    assert rec["provenance"]["device"]["threads"] == torch.get_num_threads() >= 1


def test_classifier_record_predicts_the_validation_images_of_the_cache(prepared_run, tmp_path):
    prep, spec = prepared_run("matched")
    job = {"model": "cnn", "dataset": "d", "layer": "pre_logits", "model_spec": spec}
    features.extract(job, tmp_path / "prep", str(tmp_path / "src.safetensors"), tmp_path / "f.npz")
    cell = dict(study="t", dataset="d", model="cnn", layer="pre_logits", classifier="logreg",
                size="8", seed=0, options={})  # fmt: skip
    rec = classifiers.run_classifier(cell, tmp_path / "f.npz", tmp_path / "c.json")
    assert rec["n_val"] == 8
    cache = feature_cache.load(tmp_path / "f.npz")
    idx = data.training_subset(cache.labels, cache.train_idx, "8", 0)
    vidx = data.validation_subset(cache.labels, cache.val_idx, 8, 0, "matched")
    est, _ = classifiers.fit("logreg", cache.features[idx], cache.labels[idx], 0, {})
    expected = float((est.predict(cache.features[vidx]) == cache.labels[vidx]).mean())
    assert rec["metrics"]["val_accuracy"] == pytest.approx(expected)
    assert rec["provenance"]["device"]["threads"] >= 1


def _extract(tmp_path, spec) -> str:
    """The pre_logits cache of the source weights, made by the real extraction job."""
    job = {"model": "cnn", "dataset": "d", "layer": "pre_logits", "model_spec": spec}
    features.extract(job, tmp_path / "prep", str(tmp_path / "src.safetensors"), tmp_path / "f.npz")
    return str(tmp_path / "f.npz")


def test_a_freeze_all_job_trains_its_head_on_the_rows_of_the_feature_cache(prepared_run, tmp_path):
    prep, spec = prepared_run("full")
    src, cache = str(tmp_path / "src.safetensors"), _extract(tmp_path, spec)
    rec = run_finetune(_job(spec, "all"), tmp_path / "prep", src, tmp_path / "r", features=cache)
    t, meta = rec["timing"], feature_cache.load(cache).meta
    assert t["prefix_cached"] == rec["n_groups"] == 2 and t["prefix_from"] == "feature cache"
    share = (rec["n_train"] + rec["n_val"]) / len(prep.labels)  # pro rata of the extraction
    assert (
        t["prefix_s"] == pytest.approx(meta["extract_s"] * share) and t["prefix_s"] < t["train_s"]
    )
    own = run_finetune(_job(spec, "all"), tmp_path / "prep", src, tmp_path / "o")
    assert own["timing"]["prefix_from"] == "job"
    # The rows are what the head sees: zeroed features (same meta) train another head.
    z = feature_cache.load(cache)
    feature_cache.save(tmp_path / "zero.npz", np.zeros_like(z.features), prep, z.meta)
    zero = run_finetune(_job(spec, "all"), tmp_path / "prep", src, tmp_path / "z",
                        features=str(tmp_path / "zero.npz"))  # fmt: skip
    assert zero["curve"] != rec["curve"]


def test_a_feature_cache_of_other_weights_data_or_a_partly_frozen_job_is_refused(
    prepared_run, tmp_path
):
    prep, spec = prepared_run("full")
    src, cache = str(tmp_path / "src.safetensors"), _extract(tmp_path, spec)
    z = feature_cache.load(cache)
    for key, value, message in [
        ("weights_sha256", "0" * 64, "computed from weights 0000"),
        ("dataset_fingerprint", "other", "another version of dataset 'd'"),
        ("layer", "stage0", "holds cnn/stage0, not cnn/pre_logits"),
    ]:
        feature_cache.save(tmp_path / "bad.npz", z.features, prep, {**z.meta, key: value})
        with pytest.raises(ValueError, match=message):
            run_finetune(_job(spec, "all"), tmp_path / "prep", src, tmp_path / "b",
                         features=str(tmp_path / "bad.npz"))  # fmt: skip
    with pytest.raises(ValueError, match="1 of 2 groups frozen"):
        run_finetune(_job(spec, "all", freeze="1"), tmp_path / "prep", src, tmp_path / "p",
                     features=cache)  # fmt: skip
    assert not (tmp_path / "b").exists() and not (tmp_path / "p").exists()
