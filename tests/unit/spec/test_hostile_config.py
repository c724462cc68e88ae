"""Hostile and broken configs: each is refused while Snakemake builds the DAG
(``spec.validate.validate``, what ``setup.smk`` runs), with a message
naming the key or line at fault. Job-time checks are in ``tests/unit/train``.
"""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
from conftest import ROOT, load_yaml

from transfer_atlas.spec.study import ConfigError
from transfer_atlas.spec.validate import load_study, validate

TINY = load_yaml(ROOT / "tests" / "configs" / "tiny.yaml")


def tiny(mutate) -> dict:
    cfg = copy.deepcopy(TINY)
    mutate(cfg)
    return cfg


def set_in(cfg, dotted: str, value):
    *parents, last = dotted.split(".")
    for key in parents:
        cfg = cfg.setdefault(key, {})
    cfg[last] = value


CONFIG_CASES = {
    # names that would escape results/ (they become path components of outputs)
    "dataset name ../x": (
        lambda c: c["datasets"].update({"../x": c["datasets"]["tgt"]}),
        "config key 'datasets'",
    ),
    "model name /abs/path": (
        lambda c: c["models"].update({"/abs/path": c["models"]["cnn"]}),
        "config key 'models'",
    ),
    "model name a/b": (
        lambda c: c["models"].update({"a/b": c["models"]["cnn"]}),
        "config key 'models'",
    ),
    "model name ..": (
        lambda c: c["models"].update({"..": c["models"]["cnn"]}),
        "config key 'models'",
    ),
    "grid target ../../etc": (
        lambda c: set_in(c, "grid.targets", ["../../etc"]),
        "config key 'grid.targets[0]'",
    ),
    "study name ../out": (lambda c: c.update(study="../out"), "config key 'study'"),
    "model named pixels": (
        lambda c: c["models"].update({"pixels": c["models"]["cnn"]}),
        "config key 'models.pixels': 'pixels' is reserved",
    ),
    # unknown names
    "unknown model in grid": (
        lambda c: set_in(c, "grid.models", ["cnn", "vgg99"]),
        "unknown model 'vgg99'",
    ),
    "unknown dataset in grid": (
        lambda c: set_in(c, "grid.targets", ["cifar"]),
        "unknown dataset 'cifar'",
    ),
    "unknown timm architecture": (
        lambda c: set_in(c, "models.tres.arch", "timm/resnet_nope"),
        "unknown timm model 'resnet_nope'",
    ),
    "unknown pretrain source": (
        lambda c: set_in(c, "models.cnn.weights.pretrain", "nowhere"),
        "'models.cnn.weights.pretrain': unknown dataset 'nowhere'",
    ),
    "unknown source kind": (
        lambda c: set_in(c, "datasets.tgt.source.kind", "imagenet"),
        "unknown source kind 'imagenet'",
    ),
    # freeze depth / size / classes
    "freeze beyond small_cnn's groups": (
        lambda c: set_in(c, "grid.freeze", [0, 3, "all"]),
        "'grid.freeze[1]': freeze depth 3 is beyond model 'cnn'",
    ),
    "size larger than the training split": (
        lambda c: set_in(c, "grid.sizes", [8, 500]),
        "'grid.sizes[1]': size 500 exceeds the training split",
    ),
    "size smaller than the number of classes": (
        lambda c: set_in(c, "grid.sizes", [3, "all"]),
        "'grid.sizes[0]': size 3 is smaller than the number of classes",
    ),
    "a class with no training images": (
        lambda c: (
            set_in(c, "datasets.tgt.source.per_class", 2),
            set_in(c, "datasets.tgt.split", {"val": 0.45, "test": 0.45}),
        ),
        "a class has no training images",
    ),
    "duplicate class (0 and '0')": (
        lambda c: set_in(c, "datasets.src.classes", [0, "0", 1]),
        "class(es) listed twice: 0",
    ),
    "duplicate grid entry": (lambda c: set_in(c, "grid.seeds", [0, 0]), "config key 'grid.seeds'"),
    "split val + test >= 1": (
        lambda c: set_in(c, "datasets.tgt.split", {"val": 0.5, "test": 0.5}),
        "'datasets.tgt.split': val + test must be < 1",
    ),
    # wrong types
    "epochs as a word": (lambda c: set_in(c, "train.epochs", "ten"), "config key 'train.epochs'"),
    "lr as a string": (lambda c: set_in(c, "train.lr", "0.1"), "config key 'train.lr'"),
    "batch size 0": (lambda c: set_in(c, "train.batch_size", 0), "config key 'train.batch_size'"),
    "seeds not a list": (lambda c: set_in(c, "grid.seeds", 0), "config key 'grid.seeds'"),
    "classes as one string": (
        lambda c: set_in(c, "datasets.src.classes", "0,1,2"),
        "config key 'datasets.src.classes'",
    ),
    "per_class as a word": (
        lambda c: set_in(c, "datasets.tgt.source.per_class", "many"),
        "'datasets.tgt.source.per_class': expected an integer >= 1",
    ),
    "oom_retry as a string": (
        lambda c: set_in(c, "train.oom_retry", "yes"),
        "config key 'train.oom_retry'",
    ),
    "weights sha256 not hex": (
        lambda c: set_in(c, "models.cnn.weights.sha256", "abc"),
        "config key 'models.cnn.weights.sha256'",
    ),
    "empty grid sizes": (lambda c: set_in(c, "grid.sizes", []), "config key 'grid.sizes'"),
    # issue 24: a variant may not replace a model; splits must give val and test images
    "grid.vary variant named like a defined model": (
        lambda c: (
            c["models"].update({"cnn.adam": c["models"]["cnn"]}),
            set_in(c, "grid.vary", {"optimizer": ["adam", "sgd"]}),
        ),
        "config key 'grid.vary': variant 'cnn.adam' of model 'cnn' has the name of a model",
    ),
    "split leaves a class without val images": (
        lambda c: (
            set_in(c, "datasets.tgt.source.per_class", 4),
            set_in(c, "datasets.tgt.split", {"val": 0.1, "test": 0.25}),
        ),
        "'datasets.tgt.split.val': 0.1 of source.per_class 4 rounds to no val image per class",
    ),
    "max_pixels 0": (
        lambda c: set_in(c, "datasets.tgt.source.max_pixels", 0),
        "config key 'datasets.tgt.source.max_pixels'",
    ),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_bad_config_is_refused_naming_the_culprit(case):
    mutate, expected = CONFIG_CASES[case]
    with pytest.raises(ConfigError) as err:
        validate(tiny(mutate))
    assert expected in str(err.value)


def test_the_tiny_and_default_configs_pass_every_check():
    for path in (ROOT / "tests" / "configs" / "tiny.yaml", ROOT / "config" / "config.yaml"):
        load_study(path)


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("study: x\ngrid: [unclosed\nmodels: {}\n")
    with pytest.raises(ConfigError, match=r"YAML syntax error in .*bad.yaml[\s\S]*line 2"):
        load_study(bad)


def test_duplicate_yaml_key_names_both_lines(tmp_path):
    text = (ROOT / "tests" / "configs" / "tiny.yaml").read_text()
    dup = tmp_path / "dup.yaml"
    dup.write_text(text.replace("  tgt:\n", "  src:\n    source: {kind: sklearn_digits}\n  tgt:\n"))
    with pytest.raises(ConfigError, match=r"duplicate key 'src' at line \d+ \(first at line \d+\)"):
        load_study(dup)


def test_validate_rereads_the_files_for_duplicate_keys_first(tmp_path):
    """What setup.smk runs: Snakemake's loader kept the last 'src', validate() names both
    lines before the schema or any cross-check sees the config."""
    text = (ROOT / "tests" / "configs" / "tiny.yaml").read_text()
    dup = tmp_path / "dup.yaml"
    dup.write_text(text.replace("  tgt:\n", "  src:\n    source: {kind: sklearn_digits}\n  tgt:\n"))
    with pytest.raises(ConfigError, match=rf"{dup}: duplicate key 'src' at line \d+"):
        validate({"not": "a study"}, [dup])


def test_config_that_is_not_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_study(path)


def test_check_config_script_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("study: x\ngrid: [unclosed\nmodels: {}\n")
    script = str(ROOT / "scripts" / "check_config.py")
    proc = subprocess.run([sys.executable, script, str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert f'in "{bad}", line 2' in proc.stderr
    good = subprocess.run(
        [sys.executable, script, str(ROOT / "tests" / "configs" / "tiny.yaml")],
        capture_output=True,
        text=True,
    )
    assert good.returncode == 0 and "valid (12 fine-tune jobs)" in good.stdout


def test_yaml_merge_keys_are_not_mistaken_for_duplicates(tmp_path):
    from transfer_atlas.spec.preflight import load_yaml_strict

    path = tmp_path / "anchors.yaml"
    path.write_text("base: &b {lr: 0.1, epochs: 2}\nmodel:\n  <<: *b\n  lr: 0.01\n")
    assert load_yaml_strict(path)["model"] == {"lr": 0.01, "epochs": 2}
