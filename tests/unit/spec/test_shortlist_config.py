"""grid.shortlist: a shortlist that cannot run fails at config time, naming the key."""

from __future__ import annotations

import copy

import pytest
from conftest import ROOT, load_yaml

from transfer_atlas.spec.shortlist import finetune_jobs
from transfer_atlas.spec.study import ConfigError
from transfer_atlas.spec.validate import validate

DEFAULT = load_yaml(ROOT / "config" / "config.yaml")


def with_shortlist(shortlist: dict, **grid) -> dict:
    cfg = copy.deepcopy(DEFAULT)
    cfg["grid"].update(shortlist=shortlist, **grid)
    return cfg


def test_a_valid_shortlist_resolves_and_counts_each_models_jobs():
    study = validate(with_shortlist({"k": 2, "by": "sfda", "audit": True}))
    assert study.grid["shortlist"] == {"k": 2, "by": "sfda", "audit": True}
    jobs = finetune_jobs(study)
    # per size and seed (the shortlist is made per subset): small_cnn runs 3 freezes +
    # scratch; test_vit and lite0 freeze all only
    assert jobs["digits_5to9/small_cnn/5/0"] == 4 and jobs["digits_5to9/test_vit/all/2"] == 1
    assert jobs["textures/lite0/20/1"] == 1
    assert len(jobs) == 2 * 4 * 3 * 3  # targets x models x sizes x seeds
    assert sum(jobs.values()) == sum(1 for _ in study.finetune_cells())


@pytest.mark.parametrize(
    "shortlist, grid, expected",
    [
        ({"k": 5, "by": "logme"}, {}, "'grid.shortlist.k': 5 is more than the 4 grid models"),
        ({"k": 0, "by": "logme"}, {}, "config key 'grid.shortlist.k'"),
        ({"k": 2, "by": "accuracy"}, {}, "config key 'grid.shortlist.by'"),
        ({"k": 2}, {}, "'by' is a required property"),
        ({"k": 2, "by": "logme"}, {"transferability": False}, "grid.transferability: true"),
    ],
)
def test_hostile_shortlist_is_refused(shortlist, grid, expected):
    with pytest.raises(ConfigError) as err:
        validate(with_shortlist(shortlist, **grid))
    assert expected in str(err.value)


def test_prior_needs_recorded_source_accuracy_and_every_model_needs_weights():
    # the default study's ImageNet model (package weights) has no recorded source accuracy
    with pytest.raises(ConfigError, match="lite0 have hub, file or package weights"):
        validate(with_shortlist({"k": 1, "by": "prior"}))
    cfg = with_shortlist({"k": 1, "by": "prior"})
    cfg["grid"]["models"].remove("lite0")
    cfg["models"]["test_vit"]["weights"] = {"file": "data/weights/vit.safetensors"}
    with pytest.raises(ConfigError, match="test_vit have hub, file or package weights"):
        validate(cfg)
    cfg = with_shortlist({"k": 1, "by": "logme"})
    cfg["models"]["test_vit"]["weights"] = "none"
    with pytest.raises(ConfigError, match="test_vit have no source weights"):
        validate(cfg)


def test_prior_over_models_pretrained_on_different_sources_is_refused():
    # Source accuracies on different source tasks do not rank anything (issue 25, item 8).
    cfg = with_shortlist({"k": 1, "by": "prior"})
    cfg["datasets"]["other_source"] = copy.deepcopy(cfg["datasets"]["digits_0to4"])
    cfg["models"]["test_vit"]["weights"] = {"pretrain": "other_source"}
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    msg = str(err.value)
    assert "config key 'grid.shortlist.by': 'prior'" in msg
    assert "test_vit on 'other_source'" in msg and "models.<name>.weights.pretrain" in msg
    cfg["grid"]["shortlist"]["by"] = "logme"  # a score computed on the target is fine
    validate(cfg)
