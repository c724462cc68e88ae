"""Weights sources in the config: every source takes a pinned sha256; package weights name
an installed distribution and a layout that fits the architecture; each source's file is
where every regime reads it."""

from __future__ import annotations

import copy

import pytest
from conftest import ROOT, load_yaml

from transfer_atlas.spec.study import ConfigError
from transfer_atlas.spec.validate import validate

TINY = load_yaml(ROOT / "tests" / "configs" / "tiny_package.yaml")
PIN = "AB" * 32
LITE0 = copy.deepcopy(TINY["models"]["lite0"]["weights"])


def with_weights(weights: dict, arch: str = "timm/efficientnet_lite0") -> dict:
    cfg = copy.deepcopy(TINY)
    cfg["models"]["lite0"].update(arch=arch, weights=weights)
    return cfg


@pytest.mark.parametrize(
    "weights, path",
    [
        ({"pretrain": "digits"}, "results/weights/lite0.safetensors"),
        ({"file": "data/weights/mine.safetensors"}, "data/weights/mine.safetensors"),
        ({"hub": "default"}, "data/weights/timm--efficientnet_lite0--default.safetensors"),
        (LITE0, "results/weights/package/timm--efficientnet_lite0--efficientnet-lite0-"),
    ],
    ids=["pretrain", "file", "hub", "package"],
)
def test_every_source_takes_a_pinned_sha256(weights, path):
    study = validate(with_weights({**weights, "sha256": PIN}))
    assert study.pinned_sha256("lite0") == PIN.lower()
    assert study.weights_path("lite0").startswith(path)
    assert study.has_weights("lite0")
    unpinned = validate(with_weights(weights))
    assert unpinned.pinned_sha256("lite0") is None
    assert unpinned.weights_path("lite0") == study.weights_path("lite0")  # the pin is no input


def test_package_weights_take_colour_input_and_one_file_per_conversion():
    study = validate(copy.deepcopy(TINY))
    assert study.models["lite0"]["in_chans"] == 3
    other = with_weights({**LITE0, "layout": "timm"})
    assert validate(other).weights_path("lite0") != study.weights_path("lite0")


@pytest.mark.parametrize(
    "weights, arch, expected",
    [
        (
            {**LITE0, "package": {**LITE0["package"], "distribution": "not-installed-weights"}},
            "timm/efficientnet_lite0",
            "config key 'models.lite0.weights.package.distribution': 'not-installed-weights' "
            "is not installed",
        ),
        (
            LITE0,
            "timm/resnet18",
            "config key 'models.lite0.weights.layout': efficientnet_pytorch converts onto "
            "timm's efficientnet",
        ),
        ({**LITE0, "layout": "caffe"}, "timm/efficientnet_lite0", "models.lite0.weights"),
        ({"package": LITE0["package"]}, "timm/efficientnet_lite0", "models.lite0.weights"),
        ({**LITE0, "sha256": "abc"}, "timm/efficientnet_lite0", "models.lite0.weights.sha256"),
        ({"file": "w.safetensors", "sha256": "xyz"}, "timm/efficientnet_lite0", "sha256"),
    ],
    ids=[
        "not installed",
        "layout on another arch",
        "unknown layout",
        "no layout",
        "bad pin",
        "bad file pin",
    ],  # fmt: skip
)
def test_bad_package_weights_are_refused_naming_the_key(weights, arch, expected):
    with pytest.raises(ConfigError, match="invalid config") as err:
        validate(with_weights(weights, arch))
    assert expected in str(err.value)
