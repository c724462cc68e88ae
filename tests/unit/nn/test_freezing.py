"""Freeze depth: trainable parameters fall monotonically, ``all`` leaves only the head,
frozen BatchNorm keeps its running statistics."""

import pytest
import torch
from conftest import assert_freeze_semantics

from transfer_atlas.nn import models
from transfer_atlas.nn.freezing import apply_freeze, resolve_depth, set_train_mode

ARCHS = [
    {"arch": "small_cnn", "arch_args": {"channels": [8, 16, 32]}, "input_size": 16},
    {
        "arch": "small_cnn",
        "arch_args": {
            "channels": [8, 8, 16, 16],
            "dense": [32, 16],
            "dropout": 0.25,
            "pool_every": 2,
        },
        "input_size": 16,
    },
    {"arch": "lenet", "input_size": 32},
    {"arch": "timm/test_resnet", "input_size": 16},
    {"arch": "timm/test_efficientnet", "input_size": 16},
    {"arch": "timm/test_vit", "input_size": 16, "arch_args": {"img_size": 16}},
]


@pytest.mark.parametrize("spec", ARCHS, ids=lambda s: s["arch"] + str(len(s.get("arch_args", {}))))
def test_trainable_params_fall_with_depth_and_all_leaves_head(spec):
    model = models.build(spec, num_classes=5)
    assert_freeze_semantics(model)  # leaves the model at depth `all`
    x = torch.randn(2, 1, spec["input_size"], spec["input_size"])
    assert model(x).shape == (2, 5)


def test_depth_beyond_architecture_is_refused():
    with pytest.raises(ValueError, match="beyond the architecture's 3 groups"):
        resolve_depth(4, 3)
    assert resolve_depth("all", 3) == 3


def test_frozen_batchnorm_keeps_running_stats():
    model = models.build(ARCHS[0], num_classes=3)
    apply_freeze(model, 2)
    bn_frozen = model.stages[0][1]
    bn_trained = model.stages[2][1]
    before_f = bn_frozen.running_mean.clone()
    before_t = bn_trained.running_mean.clone()
    set_train_mode(model)
    model(torch.randn(8, 1, 16, 16) * 3 + 1)
    assert torch.equal(bn_frozen.running_mean, before_f)
    assert not torch.equal(bn_trained.running_mean, before_t)


def test_backbone_lr_scale_applies_to_backbone_only():
    from transfer_atlas.train.loop import make_optimizer, param_groups

    model = models.build(ARCHS[0], num_classes=3)
    hp = {"optimizer": "adam", "lr": 0.01, "weight_decay": 0.0, "backbone_lr_scale": 0.1}
    opt = make_optimizer(param_groups(model, hp), hp)
    head = {id(p) for p in model.get_classifier().parameters()}
    lrs = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    assert len(lrs) == sum(1 for _ in model.parameters())
    for pid, lr in lrs.items():
        assert lr == pytest.approx(0.01 if pid in head else 0.001)
    apply_freeze(model, "all")  # only the head trains: one group at the full rate
    opt = make_optimizer(param_groups(model, hp), hp)
    assert [g["lr"] for g in opt.param_groups] == [0.01]
