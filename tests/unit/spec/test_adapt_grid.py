"""grid.adapt: adaptation methods expand into the freeze slot after the freeze depths,
leave freeze-depth cells (paths, job JSON) as they were, carry their resolved options,
and a bad method or LoRA pattern is a config error naming the key."""

import copy
import json

import pytest
from conftest import ROOT, load_yaml

from transfer_atlas.results.aggregate import freeze_order
from transfer_atlas.results.views import setting_label, setting_order
from transfer_atlas.spec.jobspec import job_json_reference
from transfer_atlas.spec.study import ADAPT_DEFAULTS, ConfigError
from transfer_atlas.spec.validate import validate

TINY = load_yaml(ROOT / "tests" / "configs" / "tiny.yaml")


def _with(**grid):
    cfg = copy.deepcopy(TINY)
    cfg["grid"].update(grid)
    return cfg


def test_adapt_settings_follow_the_freeze_depths_and_leave_those_cells_unchanged():
    before = list(validate(copy.deepcopy(TINY)).finetune_cells())
    after = list(validate(_with(adapt=["bitfit", "lora", "lp_ft"])).finetune_cells())
    assert [c for c in after if c["freeze"] not in ("bitfit", "lora", "lp_ft")] == before
    pretrained = [c["freeze"] for c in after if c["model"] == "cnn" and c["init"] == "pretrained"]
    assert pretrained[:5] == ["0", "all", "bitfit", "lora", "lp_ft"]
    assert len(after) == len(before) + 3 * 2 * 2  # 3 methods x 2 models x 2 sizes (1 seed)


def test_a_model_may_override_the_adapt_list():
    cfg = _with(adapt=["bitfit"])
    cfg["models"]["tres"]["adapt"] = ["lora", "norm"]
    study = validate(cfg)
    assert study.settings("cnn") == ["0", "all", "bitfit"]
    assert study.settings("tres") == ["0", "all", "lora", "norm"]


def test_job_json_carries_the_method_and_its_options_only_for_adapt_cells():
    cfg = _with(adapt=["lora", "lp_ft"])
    cfg["adapt_args"] = {"lora": {"r": 4, "target_modules": ["qkv"]}}
    study = validate(cfg)
    spec = json.dumps({"arch": "small_cnn"}, sort_keys=True)
    cell = dict(dataset="tgt", model="cnn", init="pretrained", freeze="all", size="8", seed="0")
    plain = job_json_reference(study.name, spec, cell)
    assert job_json_reference(study.name, spec, cell, study.adapt_args("lora")) == plain
    assert "adapt" not in json.loads(plain)
    job = json.loads(job_json_reference(study.name, spec, {**cell, "freeze": "lora"},
                                        study.adapt_args("lora")))  # fmt: skip
    assert job["adapt"] == "lora" and job["freeze"] == "lora"
    assert job["adapt_args"] == {**ADAPT_DEFAULTS["lora"], "r": 4, "target_modules": ["qkv"]}
    assert study.adapt_args("lp_ft") == ADAPT_DEFAULTS["lp_ft"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["grid"].update(adapt=["prompt"]), r"grid\.adapt\[0\]"),
        (lambda c: c["models"]["cnn"].update(adapt=["lora", "ia3"]), r"models\.cnn\.adapt\[1\]"),
        (lambda c: c.update(adapt_args={"lora": {"rank": 8}}), r"adapt_args\.lora.*'rank'"),
        (
            lambda c: c.update(adapt_args={"lora": {"target_modules": ["attn.(qkv"]}}),
            r"adapt_args\.lora\.target_modules\[0\].*not a regular expression",
        ),
    ],
)
def test_hostile_adapt_config_is_refused_naming_the_key(change, message):
    cfg = copy.deepcopy(TINY)
    change(cfg)
    with pytest.raises(ConfigError, match=message):
        validate(cfg)


def test_adapt_settings_are_labelled_by_name_and_ordered_after_the_freeze_depths():
    assert setting_label("pretrained", "lora") == "lora"
    assert setting_label("pretrained", "2") == "freeze 2"
    assert freeze_order(["lp_ft", "all", "10", "bitfit", "2"]) == [
        "2",
        "10",
        "all",
        "bitfit",
        "lp_ft",
    ]
    labels = ["lora", "freeze all", "scratch", "bitfit", "freeze 0"]
    assert setting_order(labels) == ["scratch", "freeze 0", "freeze all", "bitfit", "lora"]


@pytest.mark.parametrize("where", ["study", "model"])
def test_unfreeze_with_adapt_is_refused_naming_both_keys(where):
    # norm + unfreeze trained everything but was recorded as norm (issue 25, item 3).
    cfg = _with(adapt=["norm", "bitfit"])
    phase = {"epochs": 1, "lr": 0.001}
    if where == "study":
        cfg["train"]["unfreeze"] = phase
        key = "config key 'train.unfreeze' with 'grid.adapt' (norm, bitfit)"
    else:
        cfg["models"]["tres"].setdefault("train", {})["unfreeze"] = phase
        key = "config key 'models.tres.train.unfreeze' with 'grid.adapt' (norm, bitfit)"
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert key in str(err.value)
    cfg["grid"]["adapt"] = []  # unfreeze alone (study 003's protocol) stays valid
    validate(cfg)
