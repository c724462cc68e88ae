"""Checks a fine-tune job makes in its first second, before any training: a freeze depth
or size that only the built model or the prepared data can refute, and weights whose
sha256 is not the one recorded. Each runs the real job (``finetune.run_finetune``) on a
real prepared dataset, and a failed job leaves no record.
"""

from __future__ import annotations

import json

import pytest

from transfer_atlas.data import prepared as data
from transfer_atlas.nn import models, weights
from transfer_atlas.spec import preflight
from transfer_atlas.train import finetune

SPEC = {
    "arch": "small_cnn",
    "arch_args": {"channels": [8, 16]},
    "input_size": 8,
    "in_chans": 1,
    "train": {
        "optimizer": "adam",
        "lr": 0.01,
        "momentum": 0.9,
        "weight_decay": 0.0,
        "epochs": 1,
        "min_steps": 0,
        "batch_size": 16,
        "schedule": "constant",
        "step_size": 10,
        "gamma": 0.1,
        "label_smoothing": 0.0,
        "early_stopping": 0,
        "augment": {},
    },
}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("prep")
    spec = {
        "source": {"kind": "generated", "per_class": 10, "image_size": 8, "seed": 1},
        "split": {"val": 0.2, "test": 0.2, "seed": 0},
    }
    data.save(data.prepare(spec), root / "tgt")
    model = models.build(SPEC, 4)
    sha = weights.save_model(model, root / "w.safetensors")
    (root / "w.json").write_text(json.dumps({"sha256": sha}))
    return root


def job(**cell):
    base = {
        "study": "t",
        "dataset": "tgt",
        "model": "cnn",
        "init": "pretrained",
        "freeze": "1",
        "size": "8",
        "seed": 0,
        "model_spec": SPEC,
    }
    return {**base, **cell}


def run(prepared, tmp_path, weights_path=None, **cell):
    out = tmp_path / "rec.json"
    wpath = weights_path or prepared / "w.safetensors"
    try:
        return finetune.run_finetune(job(**cell), str(prepared / "tgt"), str(wpath), str(out))
    finally:
        assert not out.exists() or cell.get("_ok"), "a failed job must leave no record"


@pytest.mark.parametrize(
    "cell, expected",
    [
        (
            dict(freeze="5"),
            "config key 'grid.freeze' (5) for model 'cnn' (small_cnn): freeze "
            "depth 5 is beyond the architecture's 2 groups",
        ),
        (
            dict(size="500"),
            "config key 'grid.sizes' (500) for dataset 'tgt': size 500 exceeds "
            "the training split (24 images)",
        ),
        (dict(size="3"), "size 3 is smaller than the number of classes (4)"),
    ],
)
def test_job_checks_freeze_and_size_before_training(prepared, tmp_path, cell, expected, capsys):
    with pytest.raises(ValueError) as err:
        run(prepared, tmp_path, **cell)
    assert expected in str(err.value)
    assert "epoch 1/" not in capsys.readouterr().out  # no training happened


def test_weights_whose_sha256_differs_from_the_recorded_one_stop_the_job(prepared, tmp_path):
    swapped = tmp_path / "w.safetensors"
    weights.save_model(models.build(SPEC, 4), swapped)  # fits, but is another file
    (tmp_path / "w.json").write_text((prepared / "w.json").read_text())
    recorded = json.loads((prepared / "w.json").read_text())["sha256"]
    with pytest.raises(weights.WeightsError, match=f"differs from the recorded {recorded}"):
        run(prepared, tmp_path, weights_path=swapped)
    # the config's weights.sha256 (passed in the job) is checked the same way
    with pytest.raises(weights.WeightsError, match="differs from the recorded 0000"):
        run(prepared, tmp_path, weights_sha256="0" * 64)
    # and the right file with the right hash runs
    rec = run(prepared, tmp_path, weights_sha256=recorded, _ok=True)
    assert rec["provenance"]["weights_sha256"] == recorded


@pytest.mark.parametrize(
    "spec",
    [
        {"arch": "small_cnn", "arch_args": {}},
        {"arch": "small_cnn", "arch_args": {"channels": [8, 16]}, "input_size": 8},
        {"arch": "small_cnn", "arch_args": {"channels": [8, 16, 32], "dense": [64, 32]}},
        {"arch": "lenet", "arch_args": {}, "input_size": 32},
    ],
)
def test_dag_time_group_count_matches_the_built_model(spec):
    """preflight counts groups without torch; it must agree with the real model."""
    assert preflight.local_group_count(spec) == len(models.freeze_groups(models.build(spec, 3)))
