"""Frozen means frozen: dropout and drop-path inside frozen groups are off while training,
so the cached-prefix path (frozen part run once, in eval) and the uncached path (the
whole model every step) train the same model. The head's own dropout keeps training."""

from __future__ import annotations

import json

import pytest
import torch
from timm.layers import DropPath
from torch import nn

from transfer_atlas.data import prepared as data
from transfer_atlas.nn import models
from transfer_atlas.nn.freezing import apply_freeze, set_train_mode
from transfer_atlas.train import finetune

TRAIN = {
    "optimizer": "adam",
    "lr": 0.01,
    "momentum": 0.9,
    "weight_decay": 0.0,
    "epochs": 2,
    "min_steps": 0,
    "batch_size": 16,
    "schedule": "constant",
    "step_size": 10,
    "gamma": 0.1,
    "label_smoothing": 0.0,
    "early_stopping": 0,
}
CNN = {
    "arch": "small_cnn",
    "arch_args": {"channels": [8, 8, 16], "dense": [16], "dropout": 0.2},
    "head": {"kind": "mlp", "hidden": 8, "dropout": 0.3},
    "input_size": 8,
    "in_chans": 1,
}
VIT = {
    "arch": "timm/test_vit",
    "arch_args": {"img_size": 16, "drop_rate": 0.3, "drop_path_rate": 0.3, "pos_drop_rate": 0.2},
    "input_size": 16,
    "in_chans": 1,
}
CONVNEXT = {  # its head dropout sits inside its head module, before the classifier
    "arch": "timm/test_convnext",
    "arch_args": {"drop_rate": 0.3, "drop_path_rate": 0.3},
    "input_size": 32,
    "in_chans": 1,
}
EFFNET = {  # its head dropout is functional, on the root module's train flag
    "arch": "timm/test_efficientnet",
    "arch_args": {"drop_rate": 0.3, "drop_path_rate": 0.3},
    "input_size": 16,
    "in_chans": 1,
}
STOCHASTIC = (nn.Dropout, DropPath)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one thread is fastest, and immune to a busy machine's other jobs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def stochastic(model: nn.Module, prefix: str = "") -> dict[str, bool]:
    """{name: training?} of the dropout / drop-path modules under ``prefix``."""
    return {
        n: m.training
        for n, m in model.named_modules()
        if isinstance(m, STOCHASTIC) and n.startswith(prefix)
    }


def test_small_cnn_frozen_stage_dropout_is_off_head_dropout_on():
    model = models.build(CNN, num_classes=3)
    apply_freeze(model, 2)
    set_train_mode(model)
    modes = stochastic(model)
    assert {n for n, on in modes.items() if not on} == {"stages.0.4", "stages.1.4"}
    assert modes["stages.2.4"] and modes["stages.3.3"] and modes["head.2"]
    apply_freeze(model, "all")
    set_train_mode(model)
    assert {n for n, on in stochastic(model).items() if on} == {"head.2"}


def test_vit_frozen_blocks_drop_path_is_off_head_drop_on():
    model = models.build(VIT, num_classes=3)
    depth, _ = apply_freeze(model, 3)  # stem + blocks 0, 1
    set_train_mode(model)
    modes = stochastic(model)
    assert modes["blocks.1.drop_path1"] is False and modes["blocks.1.attn.attn_drop"] is False
    assert modes["blocks.2.drop_path1"] is True and modes["blocks.5.mlp.drop2"] is True
    assert modes["pos_drop"] is False  # follows the frozen patch embedding
    assert modes["head_drop"] is True  # the head's dropout trains with the head
    apply_freeze(model, "all")
    set_train_mode(model)
    assert {n for n, on in stochastic(model).items() if on} == {"head_drop"}
    assert all(not m.training for m in model.blocks.modules())
    apply_freeze(model, 0)  # the unfreeze phase: everything trains again
    set_train_mode(model)
    assert all(stochastic(model).values())


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A tiny generated target dataset and, per architecture, source weights."""
    root = tmp_path_factory.mktemp("frozen")
    for name, seed in (("src", 5), ("tgt", 1)):
        spec = {
            "source": {"kind": "generated", "per_class": 16, "image_size": 8, "seed": seed},
            "split": {"val": 0.2, "test": 0.2, "seed": 0},
        }
        data.save(data.prepare(spec), root / name)
    for key, spec in (("cnn", CNN), ("vit", VIT), ("convnext", CONVNEXT), ("effnet", EFFNET)):
        job = {"model": key, "source": "src", "model_spec": {**spec, "train": TRAIN}}
        job["train"] = {**TRAIN, "epochs": 1}
        finetune.run_pretrain(job, str(root / "src"), str(root / f"{key}.safetensors"), "cpu")
    return root


def run(root, tmp_path, key, spec, freeze, augment):
    spec = {**spec, "train": {**TRAIN, "augment": augment}}
    job = {"study": "t", "dataset": "tgt", "model": key, "init": "pretrained"}
    job.update(freeze=freeze, size="all", seed=4, model_spec=spec)
    out = tmp_path / f"{key}_{freeze}_{bool(augment)}.json"
    rec = finetune.run_finetune(job, str(root / "tgt"), str(root / f"{key}.safetensors"), str(out))
    rec = json.loads(json.dumps(rec))
    cached = rec.pop("timing")["prefix_cached"]
    rec["train"].pop("augment")
    rec["provenance"].pop("config_hash")  # of the job, augment setting included
    return rec, cached


@pytest.mark.parametrize(
    "key,spec,freeze",
    [
        ("cnn", CNN, "2"),
        ("cnn", CNN, "all"),
        ("vit", VIT, "all"),
        ("convnext", CONVNEXT, "all"),
        ("effnet", EFFNET, "all"),
    ],
)
def test_cached_and_uncached_paths_give_identical_records(prepared, tmp_path, key, spec, freeze):
    # An augmentation that changes nothing and draws no random numbers, but is not
    # empty, so it turns the prefix cache off.
    cached, n_cached = run(prepared, tmp_path, key, spec, freeze, {})
    uncached, n_uncached = run(prepared, tmp_path, key, spec, freeze, {"hflip": False})
    assert n_cached > 0 and n_uncached == 0
    assert uncached == cached
