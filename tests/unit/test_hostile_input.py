"""Hostile and broken input: each case stops early with a message naming the culprit.

Config cases are checked while Snakemake builds the DAG (``config.resolve`` +
``preflight.check_study``), or, where that needs a model or the data, in the job's
first second before training (``finetune.run_finetune``). Data cases use the checks of
``transfer_atlas.data.checks`` on real files in the real formats (PNG, JPEG, CSV).
Weights cases use real safetensors / torch files, including a malicious pickle.
"""

from __future__ import annotations

import copy
import io
import json
import pickle
from pathlib import Path

import pytest
import torch
from conftest import ROOT, load_yaml
from PIL import Image

from transfer_atlas.data import checks as validate_images
from transfer_atlas.data import prepared as data
from transfer_atlas.data.checks import DataError
from transfer_atlas.nn import models, weights
from transfer_atlas.spec import preflight
from transfer_atlas.spec.preflight import load_study
from transfer_atlas.spec.study import ConfigError, resolve
from transfer_atlas.train import finetune

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


# ------------------------------------------------------------------ config, DAG time

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
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_bad_config_is_refused_naming_the_culprit(case):
    mutate, expected = CONFIG_CASES[case]
    with pytest.raises(ConfigError) as err:
        preflight.check_study(resolve(tiny(mutate)))
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


def test_config_that_is_not_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_study(path)


# ------------------------------------------------------------------ config, job time

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


# ------------------------------------------------------------------ data


def png_bytes(color=128, size=(8, 8), fmt="PNG") -> bytes:
    buf = io.BytesIO()
    Image.new("L", size, color).save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture
def image_tree(tmp_path):
    root = tmp_path / "tree"
    for cls in ("ants", "bees"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            (root / cls / f"{i}.png").write_bytes(png_bytes(40 * i))
    (root / "bees" / "3.jpg").write_bytes(png_bytes(200, (32, 32), "JPEG"))
    return root


def test_good_image_tree_passes(image_tree):
    found = validate_images.check_image_folder(image_tree)
    assert {k: len(v) for k, v in found.items()} == {"ants": 3, "bees": 4}


@pytest.mark.parametrize(
    "break_it, culprit, expected",
    [
        (
            lambda r: (r / "ants/1.png").write_bytes(png_bytes(size=(64, 64))[:60]),
            "ants/1.png",
            "broken image",
        ),
        (
            lambda r: (r / "bees/3.jpg").write_bytes((r / "bees/3.jpg").read_bytes()[:200]),
            "bees/3.jpg",
            "broken image",
        ),
        (
            lambda r: (r / "ants/notes.txt").write_text("hello"),
            "ants/notes.txt",
            "not an image file in ImageFolder tree",
        ),
        (
            lambda r: (r / "ants/fake.png").write_text("not really a png"),
            "ants/fake.png",
            "not an image file PIL can read",
        ),
        (lambda r: (r / "wasps").mkdir(), "wasps", "class 'wasps' has no images"),
    ],
    ids=["truncated PNG", "truncated JPEG", "non-image file", "text named .png", "empty class"],
)
def test_broken_image_tree_names_the_file(image_tree, break_it, culprit, expected):
    break_it(image_tree)
    with pytest.raises(DataError) as err:
        validate_images.check_image_folder(image_tree)
    msg = str(err.value)
    assert msg.startswith(str(image_tree / culprit)) and expected in msg


def test_non_image_files_can_be_skipped_where_allowed(image_tree):
    (image_tree / "ants" / "notes.txt").write_text("hello")
    (image_tree / "ants" / ".DS_Store").write_bytes(b"\0")
    found = validate_images.check_image_folder(image_tree, allow_other_files=True)
    assert len(found["ants"]) == 3


def test_empty_image_tree(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty dataset"):
        validate_images.check_image_folder(tmp_path / "empty")


@pytest.fixture
def csv_folder(tmp_path):
    (tmp_path / "img").mkdir()
    for i in range(3):
        (tmp_path / "img" / f"{i}.png").write_bytes(png_bytes(50 * i))
    (tmp_path / "secret.png").write_bytes(png_bytes())
    return tmp_path


@pytest.mark.parametrize(
    "rows, expected",
    [
        ("image,label\n0.png,a\n1.png,b\n2.png,a\n", None),
        ("image,label\n0.png,a\nmissing.png,b\n", "line 3: image 'missing.png' not found"),
        ("image,label\n0.png,a\n1.png,zebra\n", "line 3: unknown label 'zebra' (known: a, b)"),
        ("image,label\n../secret.png,a\n", "line 2: image path '../secret.png' leaves"),
        ("image,label\n,a\n", "line 2: empty 'image' value"),
        ("file,label\n0.png,a\n", "missing column(s) ['image']"),
        ("image,label\n", "empty dataset (no rows)"),
    ],
    ids=[
        "good",
        "missing file",
        "unknown label",
        "path escape",
        "empty cell",
        "no column",
        "empty",
    ],
)
def test_csv_rows_are_checked(csv_folder, rows, expected):
    (csv_folder / "labels.csv").write_text(rows)
    check = lambda: validate_images.check_csv_rows(  # noqa: E731
        csv_folder / "labels.csv", csv_folder / "img", labels=["a", "b"], decode=True
    )
    if expected is None:
        assert [label for _, label in check()] == ["a", "b", "a"]
        return
    with pytest.raises(DataError) as err:
        check()
    assert str(err.value).startswith(str(csv_folder / "labels.csv")) and expected in str(err.value)


def test_class_counts_check():
    with pytest.raises(DataError, match="x: empty dataset"):
        validate_images.check_class_counts({"a": 0, "b": 0}, "x")
    with pytest.raises(DataError, match="class\\(es\\) with no images: b"):
        validate_images.check_class_counts({"a": 3, "b": 0}, "x")


def test_prepare_refuses_a_class_that_is_not_in_the_data():
    spec = {
        "source": {"kind": "generated", "per_class": 4, "image_size": 8},
        "classes": ["circle", "hexagon"],
    }
    with pytest.raises(ValueError, match="class 'hexagon' not in dataset"):
        data.prepare(spec)


# ------------------------------------------------------------------ weights


class Exploit:
    """A pickle payload that would create a file when unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "pwned"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickle_checkpoint_is_refused_and_never_executed(prepared, tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"stages.0.0.weight": Exploit(marker)}))
    model = models.build(SPEC, 4)
    with pytest.raises(weights.WeightsError, match=r"evil.pt: refused: not a tensor-only"):
        weights.load_backbone(model, evil)
    assert not marker.exists()
    # The same bytes under a .safetensors name are not parsed as a pickle either.
    disguised = tmp_path / "evil.safetensors"
    disguised.write_bytes(evil.read_bytes())
    with pytest.raises(weights.WeightsError, match="not a valid safetensors file"):
        weights.load_backbone(model, disguised)
    assert not marker.exists()


def test_tensor_only_torch_state_dict_is_accepted(tmp_path):
    source = models.build(SPEC, 4)
    torch.save(source.state_dict(), tmp_path / "ok.pt")
    target = models.build(SPEC, 7)
    loaded = weights.load_backbone(target, tmp_path / "ok.pt")
    assert "stages.0.0.weight" in loaded and "head.weight" not in loaded
    assert torch.equal(target.stages[0][0].weight, source.stages[0][0].weight)


@pytest.mark.parametrize(
    "other_spec, expected",
    [
        (
            {**SPEC, "arch_args": {"channels": [4, 16]}},
            "stages.0.0.weight: file (4, 1, 3, 3) vs model (8, 1, 3, 3)",
        ),
        ({**SPEC, "arch": "lenet", "arch_args": {}, "input_size": 32}, "missing ["),
    ],
    ids=["wrong shapes", "another architecture"],
)
def test_weights_that_do_not_fit_the_architecture(tmp_path, other_spec, expected):
    path = tmp_path / "other.safetensors"
    weights.save_model(models.build(other_spec, 4), path)
    with pytest.raises(weights.WeightsError) as err:
        weights.load_backbone(models.build(SPEC, 4), path)
    assert str(err.value).startswith(str(path)) and expected in str(err.value)


@pytest.mark.parametrize("name", ["w.h5", "w.ckpt", "absent.safetensors"])
def test_unsupported_or_missing_weights_file(tmp_path, name):
    if not name.startswith("absent"):
        (tmp_path / name).write_bytes(b"\0" * 16)
    with pytest.raises(weights.WeightsError, match=name.replace(".", r"\.")):
        weights.load_backbone(models.build(SPEC, 4), tmp_path / name)


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


def test_check_config_script_names_file_and_line(tmp_path):
    import subprocess
    import sys

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
