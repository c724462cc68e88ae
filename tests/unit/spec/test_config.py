"""Config validation: bad configs fail in seconds, with the key or name at fault."""

from __future__ import annotations

import copy

import pytest
from conftest import ROOT, load_yaml

from transfer_atlas.spec.study import ConfigError
from transfer_atlas.spec.validate import load_study, validate

DEFAULT = load_yaml(ROOT / "config" / "config.yaml")


def broken(mutate) -> dict:
    cfg = copy.deepcopy(DEFAULT)
    mutate(cfg)
    return cfg


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda c: c.update(learning_rate=0.1), "'learning_rate' was unexpected"),
        (lambda c: c["train"].update(epohcs=3), "config key 'train'"),
        (lambda c: c["train"].update(epochs="ten"), "config key 'train.epochs'"),
        (lambda c: c["grid"].update(seeds=[0, "one"]), "config key 'grid.seeds[1]'"),
        (lambda c: c["grid"].update(freeze=[0, "most"]), "config key 'grid.freeze[1]'"),
        (lambda c: c["grid"].update(sizes=[-5]), "config key 'grid.sizes[0]'"),
        (lambda c: c["grid"].update(models=["small_cnn", "vgg99"]), "unknown model 'vgg99'"),
        (lambda c: c["grid"].update(targets=["cifar"]), "unknown dataset 'cifar'"),
        (
            lambda c: c["models"]["test_resnet"].update(arch="timm/resnet_nope"),
            "unknown timm model 'resnet_nope'",
        ),
        (
            lambda c: c["models"]["small_cnn"].update(arch="alexnet9"),
            "unknown architecture 'alexnet9'",
        ),
        (
            lambda c: c["models"]["small_cnn"]["weights"].update(pretrain="nowhere"),
            "config key 'models.small_cnn.weights.pretrain': unknown dataset 'nowhere'",
        ),
        (
            lambda c: c["datasets"]["textures"]["source"].update(kind="imagenet"),
            "unknown source kind 'imagenet'",
        ),
        (
            lambda c: c["datasets"].update({"../escape": c["datasets"]["textures"]}),
            "config key 'datasets'",
        ),
    ],
)
def test_bad_config_names_the_culprit(mutate, expected):
    with pytest.raises(ConfigError) as err:
        validate(broken(mutate))
    assert expected in str(err.value)


def test_default_config_is_valid_and_expands_the_grid():
    study = load_study(ROOT / "config" / "config.yaml")
    cells = list(study.finetune_cells())
    g, models = DEFAULT["grid"], DEFAULT["models"]
    per_model = len(g["targets"]) * len(g["sizes"]) * len(g["seeds"])
    settings = {  # a model's own freeze depths and scratch switch override the grid's
        m: len(models[m].get("freeze", g["freeze"])) + models[m].get("scratch", g["scratch"])
        for m in g["models"]
    }
    assert len(cells) == per_model * sum(settings.values()) == 180
    assert {c["init"] for c in cells} == {"pretrained", "scratch"}
    # Rankings need models of several families: toy sources pretrained inside the workflow
    # beside a real ImageNet model whose weights come from an installed package.
    assert len({models[m]["arch"] for m in g["models"]}) >= 4
    toys = [m for m in g["models"] if study.pretrain_spec(m)]
    assert len(toys) == 3
    real = [m for m in g["models"] if "package" in models[m]["weights"]]
    assert real == ["lite0"] and models["lite0"]["arch"] == "timm/efficientnet_lite0"
    # ... and a real-photo target: texture patches of scikit-image's photos
    assert DEFAULT["datasets"]["textures"]["source"]["kind"] == "skimage_textures"
    assert "textures" in g["targets"]
    # the real model is probed only: a new head at freeze all, no scratch baseline
    assert {(c["init"], c["freeze"]) for c in cells if c["model"] == "lite0"} == {
        ("pretrained", "all")
    }
    probed = {c["model"] for c in cells if c["init"] == "scratch"}
    assert probed == {m for m in g["models"] if models[m].get("scratch", True)}


def test_a_models_scratch_switch_overrides_the_grid():
    config = copy.deepcopy(DEFAULT)
    config["models"]["small_cnn"]["scratch"] = False
    cells = list(validate(config).finetune_cells())
    assert not [c for c in cells if c["model"] == "small_cnn" and c["init"] == "scratch"]
    assert [c for c in cells if c["model"] == "test_resnet" and c["init"] == "scratch"]


def test_model_train_overrides_study_defaults():
    cfg = broken(lambda c: c["models"]["small_cnn"].update(train={"lr": 0.5}))
    study = validate(cfg)
    assert study.model_train("small_cnn")["lr"] == 0.5
    assert study.model_train("test_resnet")["lr"] == DEFAULT["train"]["lr"]


def test_yaml_syntax_error_names_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("grid: [unclosed\n")
    with pytest.raises(ConfigError, match="YAML syntax error in .*bad.yaml"):
        load_study(bad)
