"""Determinism (same job twice, warm vs cold), mixed prepared data, and the out-of-memory
handler (atomic outputs: tests/unit/core/test_atomic.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT

from transfer_atlas.data import prepared as data
from transfer_atlas.train import determinism, finetune, oom

TRAIN = {
    "optimizer": "adam",
    "lr": 0.01,
    "momentum": 0.9,
    "weight_decay": 0.0,
    "epochs": 3,
    "min_steps": 0,
    "batch_size": 16,
    "schedule": "cosine",
    "step_size": 10,
    "gamma": 0.1,
    "label_smoothing": 0.0,
    "early_stopping": 0,
    # Augmentation draws random numbers every batch: the strictest test of seeding.
    "augment": {"hflip": True, "noise_std": 0.05, "crop_padding": 1},
}
SPEC = {
    "arch": "small_cnn",
    "arch_args": {"channels": [8, 16]},
    "input_size": 8,
    "in_chans": 1,
    "train": TRAIN,
}


@pytest.fixture(autouse=True)
def _restore_determinism():
    before = torch.are_deterministic_algorithms_enabled()
    yield
    determinism.set_deterministic_algorithms(before)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Tiny generated source and target datasets, prepared, plus source weights."""
    root = tmp_path_factory.mktemp("prep")
    for name, seed in (("src", 5), ("tgt", 1)):
        spec = {
            "source": {"kind": "generated", "per_class": 20, "image_size": 8, "seed": seed},
            "split": {"val": 0.2, "test": 0.2, "seed": 0},
        }
        data.save(data.prepare(spec), root / name)
    weights = root / "w.safetensors"
    job = {"model": "cnn", "source": "src", "model_spec": SPEC, "train": {**TRAIN, "epochs": 1}}
    finetune.run_pretrain(job, str(root / "src"), str(weights), "cpu")
    return root, weights


def job(**cell):
    base = {"study": "t", "dataset": "tgt", "model": "cnn", "init": "pretrained", "freeze": "1"}
    return {**base, "size": "12", "seed": 3, "model_spec": SPEC, **cell}


def without_timing(rec: dict) -> dict:
    rec = json.loads(json.dumps(rec))
    del rec["timing"]
    return rec


@pytest.mark.slow  # a job in a subprocess, or seconds of training
@pytest.mark.parametrize(
    "cell",
    [dict(), dict(freeze="all", size="all", seed=0)],  # augmented; frozen prefix cached
    ids=["pretrained-f1-n12-augment", "pretrained-fall-nall"],
)
def test_same_job_twice_gives_identical_records_but_timing(prepared, tmp_path, cell):
    root, weights = prepared
    run = lambda c, name: finetune.run_finetune(  # noqa: E731
        job(**c), str(root / "tgt"), str(weights), str(tmp_path / name)
    )
    first, second = run(cell, "a.json"), run(cell, "b.json")
    assert without_timing(first) == without_timing(second)
    assert first["provenance"]["device"]["deterministic"] is True
    if not cell:  # ...and the seed matters: another subset, data order and augmentation
        assert run({"seed": 9}, "c.json")["curve"] != first["curve"]


def test_same_weights_give_a_byte_identical_file(tmp_path):
    """The recorded weights sha256 must be reproducible, metadata included."""
    from transfer_atlas.nn import models, weights

    model = models.build(SPEC, 4)
    meta = {"source": "src", "arch": "small_cnn", "test_accuracy": "0.5", "epochs": 3}
    shas = {weights.save_model(model, tmp_path / f"{i}.safetensors", meta) for i in range(4)}
    assert len(shas) == 1


def test_cpu_runs_with_deterministic_algorithms_on():
    assert determinism.configure(torch.device("cpu")) is True
    assert torch.are_deterministic_algorithms_enabled()


@pytest.mark.slow
def test_warm_and_cold_paths_give_identical_metrics(prepared, tmp_path):
    """The real script, once forked from the warm server and once in a fresh process."""
    root, weights = prepared
    recs = {}
    for warm in ("1", "0"):
        out = tmp_path / f"warm{warm}.json"
        proc = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "finetune.py"), "finetune"]
            + ["--job", json.dumps(job()), "--data", str(root / "tgt")]
            + ["--weights", str(weights), "--out", str(out), "--device", "cpu"],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "TA_WARM": warm},
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        recs[warm] = json.loads(out.read_text())
    assert recs["1"]["timing"]["startup"] == "warm"
    assert recs["0"]["timing"]["startup"] == "cold"
    assert without_timing(recs["1"]) == without_timing(recs["0"])


def test_prepared_data_mixed_from_two_preparations_is_refused(prepared, tmp_path):
    root, _ = prepared
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for f in (root / "src").glob("*.npy"):
        (mixed / f.name).write_bytes(f.read_bytes())
    (mixed / "meta.json").write_text((root / "tgt" / "meta.json").read_text())
    with pytest.raises(ValueError, match="changed since the dataset was prepared"):
        data.load(mixed)


# ---------------------------------------------------------------- out of GPU memory


def _oom_above(limit):
    """A training step that runs out of GPU memory for batches larger than ``limit``."""
    real_fit = finetune.fit

    def fit(model, *args, **kwargs):
        hp = args[4]
        if hp["batch_size"] > limit:
            for p in model.parameters():  # a partial step happened before the OOM
                if p.requires_grad:
                    p.data.add_(1.0)
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_fit(model, *args, **kwargs)

    return fit


def test_oom_without_retry_names_the_batch_size(prepared, tmp_path, monkeypatch, capsys):
    root, weights = prepared
    monkeypatch.setattr(finetune, "fit", _oom_above(4))
    out = tmp_path / "r.json"
    with pytest.raises(oom.GpuOutOfMemory, match=r"batch_size=16 .*smaller train.batch_size"):
        finetune.run_finetune(job(), str(root / "tgt"), str(weights), str(out))
    argv = ["finetune", "--job", json.dumps(job()), "--data", str(root / "tgt")]
    argv += ["--weights", str(weights), "--out", str(out), "--device", "cpu"]
    assert finetune.main(argv) == 2
    assert "out of GPU memory with batch_size=16" in capsys.readouterr().err
    assert not out.exists()


def test_oom_retry_halves_the_batch_restarts_cleanly_and_records_it(
    prepared, tmp_path, monkeypatch
):
    root, weights = prepared
    spec = {**SPEC, "train": {**TRAIN, "batch_size": 4}}
    reference = finetune.run_finetune(
        job(model_spec=spec), str(root / "tgt"), str(weights), str(tmp_path / "ref")
    )
    monkeypatch.setattr(finetune, "fit", _oom_above(4))
    spec = {**SPEC, "train": {**TRAIN, "oom_retry": True}}
    rec = finetune.run_finetune(
        job(model_spec=spec), str(root / "tgt"), str(weights), str(tmp_path / "r")
    )
    assert rec["train"]["batch_size"] == 4
    assert rec["train"]["oom_retry_from"] == [16, 8]
    # The retry started from the untouched initial weights: same result as asking for 4.
    assert rec["metrics"] == reference["metrics"] and rec["curve"] == reference["curve"]


def test_oom_retry_gives_up_at_the_floor():
    calls = []

    def train(hp):
        calls.append(hp["batch_size"])
        raise torch.cuda.OutOfMemoryError("out of memory")

    model = torch.nn.Linear(2, 2)
    with pytest.raises(oom.GpuOutOfMemory, match=r"batch_size=8 \(tried \[32, 16, 8\]\)"):
        oom.fit_with_oom_policy(
            train, model, {"batch_size": 32, "oom_retry": True, "oom_min_batch": 8}, "job x"
        )
    assert calls == [32, 16, 8]
