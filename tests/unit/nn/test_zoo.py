"""Every architecture of the reference studies: freeze depth is defined, trainable
parameters fall monotonically with it, ``all`` leaves only the head, and groups run in
forward order. Heavy torchvision models are built on the meta device (no memory, no
forward pass); light ones run a tiny forward pass."""

import pytest
import torch
from conftest import assert_freeze_semantics

from transfer_atlas.nn import models, zoo
from transfer_atlas.nn.freezing import count_params
from transfer_atlas.spec.registry import check_arch

# Light enough for a 32 px forward pass on CPU in well under a second.
FORWARD = {"squeezenet1_0", "shufflenet_v2_x1_0", "mnasnet1_0", "mobilenet_v2", "resnet18"}

SHORT_MNV2 = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 1, 2], [6, 96, 2, 1], [6, 160, 2, 2]]


@pytest.mark.parametrize("name", sorted(zoo.TV_GROUPS))
def test_torchvision_freeze_groups(name):
    check_arch(f"tv/{name}")
    spec = {"arch": f"tv/{name}", "head": {"kind": "linear"}}
    if name in FORWARD:
        model = models.build(spec, num_classes=3)
    else:
        with torch.device("meta"):
            model = models.build(spec, num_classes=3)
    assert assert_freeze_semantics(model) == zoo.TV_GROUPS[name]
    if name in FORWARD:
        x = torch.randn(2, 3, 32, 32)
        assert model(x).shape == (2, 3)
        order = zoo.forward_order(model, x[:1])
        assert order == sorted(order) == list(range(zoo.TV_GROUPS[name]))


def test_googlenet_and_vgg_groups_follow_forward_order_on_meta():
    # Forward order on meta tensors costs nothing and needs no real compute.
    for name in ("googlenet", "vgg16", "alexnet", "densenet121"):
        with torch.device("meta"):
            model = models.build({"arch": f"tv/{name}"}, num_classes=2)
            order = zoo.forward_order(model, torch.empty(1, 3, 64, 64))
        assert order == list(range(zoo.TV_GROUPS[name])), name


def test_shortened_mobilenet_v2_from_its_table():
    full = models.build({"arch": "tv/mobilenet_v2"}, num_classes=10)
    short = models.build(
        {"arch": "tv/mobilenet_v2", "arch_args": {"inverted_residual_setting": SHORT_MNV2}},
        num_classes=10,
    )
    # stem + sum(n) blocks + final conv
    assert len(models.freeze_groups(short)) == 1 + sum(r[2] for r in SHORT_MNV2) + 1
    assert count_params(short)[0] < count_params(full)[0]
    assert_freeze_semantics(short)
    assert short(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize(
    "spec",
    [
        # study 003's CNN, with and without its dense layers
        {
            "arch": "small_cnn",
            "arch_args": {
                "channels": [8, 8, 16, 16, 32, 32],
                "pool_every": 2,
                "dropout": 0.2,
                "dense": [32, 16],
            },
            "input_size": 16,
            "in_chans": 3,
        },
        {
            "arch": "small_cnn",
            "arch_args": {"channels": [8, 8, 16, 16, 32, 32], "pool_every": 2, "dropout": 0.2},
            "input_size": 16,
            "in_chans": 3,
        },
        {"arch": "lenet", "input_size": 32, "in_chans": 3},
        # ViT / DeiT-tiny through timm at a tiny image size
        {
            "arch": "timm/deit_tiny_patch16_224",
            "arch_args": {"img_size": 16, "patch_size": 4, "depth": 2},
            "input_size": 16,
            "in_chans": 3,
        },
        {
            "arch": "timm/deit_tiny_patch16_224",
            "arch_args": {"img_size": 16, "patch_size": 4, "depth": 2},
            "input_size": 16,
            "in_chans": 3,
            "head": {"kind": "mlp", "hidden": 32, "dropout": 0.5},
        },
        {
            "arch": "timm/test_resnet",
            "input_size": 16,
            "in_chans": 3,
            "head": {"kind": "mlp", "hidden": [16, 8]},
        },
        {"arch": "small_cnn", "input_size": 16, "head": {"kind": "mlp", "hidden": 12}},
    ],
    ids=["cnn003-dense", "cnn003-nodense", "lenet", "deit", "deit-mlp", "tresnet-mlp", "cnn-mlp"],
)
def test_local_and_timm_archs(spec):
    check_arch(spec["arch"])
    model = models.build(spec, num_classes=4)
    assert_freeze_semantics(model)
    s = spec["input_size"]
    assert model(torch.randn(2, spec.get("in_chans", 1), s, s)).shape == (2, 4)


def test_mlp_head_shape_and_reset():
    model = models.build(
        {"arch": "tv/resnet18", "head": {"kind": "mlp", "hidden": 64, "dropout": 0.5}}, 5
    )
    head = model.get_classifier()
    linears = [m for m in head.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(512, 64), (64, 5)]
    assert any(isinstance(m, torch.nn.Dropout) and m.p == 0.5 for m in head.modules())
    model.reset_classifier(7)
    assert model.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 7)


def test_unknown_names_are_refused_with_hints():
    with pytest.raises(ValueError, match="unknown torchvision model 'resnet19'.*resnet18"):
        check_arch("tv/resnet19")
    with pytest.raises(ValueError, match="unknown head kind 'gru'"):
        zoo.make_head({"kind": "gru"}, 4, 2)
