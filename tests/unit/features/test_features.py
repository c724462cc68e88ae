"""Feature extraction layers, the classifier path and its fixed cost (no torch import)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT
from torch import nn

from transfer_atlas.data import prepared as data
from transfer_atlas.features import classifiers
from transfer_atlas.features import extract as features
from transfer_atlas.nn import models
from transfer_atlas.spec import record
from transfer_atlas.spec import study as config
from transfer_atlas.spec.validate import validate

# ------------------------------------------------------------------ layers


def _tiny_vgg(num_classes=3):
    """torchvision's VGG class with narrow conv layers and a narrow 7-module classifier."""
    from torchvision.models.vgg import VGG, make_layers

    with torch.device("meta"):  # skip allocating the full-width 25088 x 4096 classifier
        vgg = VGG(make_layers([4, "M", 8, "M"]), num_classes=num_classes, init_weights=False)
    vgg.features = make_layers([4, "M", 8, "M"])
    vgg.classifier = nn.Sequential(
        nn.Linear(8 * 7 * 7, 12),
        nn.ReLU(True),
        nn.Dropout(),
        nn.Linear(12, 10),
        nn.ReLU(True),
        nn.Dropout(),
        nn.Linear(10, num_classes),
    )
    return vgg.eval()


def test_vgg_layers_follow_study_002_names():
    torch.manual_seed(0)
    vgg = _tiny_vgg()
    x = torch.randn(5, 3, 32, 32)
    with torch.no_grad():
        flat = torch.flatten(vgg.avgpool(vgg.features(x)), 1)
        c = vgg.classifier
        fc1 = torch.relu(c[0](flat))
        fc2 = torch.relu(c[3](fc1))
        expected = {
            "flatten": flat,
            "fc1": fc1,
            "fc2": fc2,
            "pre_logits": fc2,
            "predictions": torch.softmax(c[6](fc2), 1),
        }
        for layer, want in expected.items():
            got = features.layer_function(vgg, layer)(x)
            torch.testing.assert_close(got, want, msg=layer)
        # the logits of the full model are what "predictions" normalises
        torch.testing.assert_close(
            features.layer_function(vgg, "predictions")(x).sum(1), torch.ones(5)
        )
    assert features.available_layers(vgg) == list(features.VGG_LAYERS)
    with pytest.raises(ValueError, match="not defined for VGG"):
        features.layer_function(vgg, "stage0")


def test_vgg_found_inside_a_wrapper():
    class Wrapper(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = _tiny_vgg()

        def forward(self, x):
            return self.net(x)

    w = Wrapper()
    assert features.find_vgg(w) is w.net


def test_staged_net_layers():
    torch.manual_seed(0)
    net = models.small_cnn(4, channels=(3, 5), input_size=8).eval()
    x = torch.randn(6, 1, 8, 8)
    assert features.available_layers(net) == ["pre_logits", "predictions", "stage0", "stage1"]
    with torch.no_grad():
        s0 = net.stages[0](x)
        torch.testing.assert_close(features.layer_function(net, "stage0")(x), s0.mean((2, 3)))
        torch.testing.assert_close(
            features.layer_function(net, "stage1")(x), net.stages[1](s0).mean((2, 3))
        )
        torch.testing.assert_close(
            features.layer_function(net, "pre_logits")(x),
            net.forward_head(net.forward_features(x), pre_logits=True),
        )
        torch.testing.assert_close(
            features.layer_function(net, "predictions")(x), torch.softmax(net(x), 1)
        )
    with pytest.raises(ValueError, match=r"available: \['pre_logits'"):
        features.layer_function(net, "stage7")


def test_timm_stage_layers_are_pooled_intermediates():
    torch.manual_seed(0)
    net = models.build({"arch": "timm/test_resnet", "input_size": 16}, 3).eval()
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        inter = net.forward_intermediates(x, intermediates_only=True)
        assert features.stage_count(net) == len(inter) == 5
        for i, t in enumerate(inter):
            torch.testing.assert_close(features.layer_function(net, f"stage{i}")(x), t.mean((2, 3)))


def test_source_model_keeps_its_head(tmp_path):
    from transfer_atlas.nn import weights

    spec = {"arch": "small_cnn", "arch_args": {"channels": [4]}, "input_size": 8}
    torch.manual_seed(1)
    src = models.build(spec, 7)
    path = tmp_path / "w.safetensors"
    weights.save_model(src, path)
    loaded = features.load_source_model(spec, path)
    assert loaded.head.out_features == 7
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), src.eval()(x))


def test_features_see_the_inputs_fine_tuning_sees(tmp_path):
    """A hub weights file's own normalisation reaches feature extraction as it reaches
    fine-tuning (one helper, ``pipeline.spec_input``), not the defaults."""
    from transfer_atlas.nn import weights
    from transfer_atlas.nn.pipeline import spec_input
    from transfer_atlas.train.finetune import prepare_inputs

    spec = {"arch": "small_cnn", "arch_args": {"channels": [4]}, "input_size": 8}
    torch.manual_seed(1)
    path = tmp_path / "w.safetensors"
    cfg = {"mean": [0.9], "std": [0.05]}
    weights.save_model(models.build(spec, 3), path, {"input_config": json.dumps(cfg)})
    rng = np.random.default_rng(0)
    idx = np.arange(12)
    prep = data.Prepared(
        rng.integers(0, 255, (12, 8, 8, 1), dtype=np.uint8), idx % 3, ["a", "b", "c"],
        idx[:6], idx[6:9], idx[9:], "f" * 64,
    )  # fmt: skip
    meta = {}
    got = features._run_backbone(spec, prep, path, "pre_logits", "cpu", meta)
    x_train = prepare_inputs(prep, spec, torch.device("cpu"), prep.train_idx, cfg)[0]
    torch.testing.assert_close(x_train, spec_input(prep.images[:6], spec, "cpu", cfg))
    model = features.load_source_model(spec, path)
    with torch.no_grad():
        want = features.layer_function(model, "pre_logits")(
            spec_input(prep.images, spec, "cpu", cfg)
        )
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-6)
    default = spec_input(prep.images, spec, "cpu")
    assert not torch.allclose(default, spec_input(prep.images, spec, "cpu", cfg))


# ------------------------------------------------------- identity features on digits


@pytest.fixture(scope="module")
def digits_pixels(tmp_path_factory):
    """Prepared sklearn digits and their identity (raw pixel) feature cache."""
    tmp = tmp_path_factory.mktemp("digits")
    prep = data.prepare({"source": {"kind": "sklearn_digits"}, "split": config.SPLIT_DEFAULTS})
    data.save(prep, tmp / "prep")
    job = {"dataset": "digits", "model": "none", "layer": "pixels", "model_spec": {"arch": "x"}}
    features.extract(job, tmp / "prep", None, tmp / "pixels.npz")
    return prep, tmp


def pixels_job(classifier, size, seed=0, layer="pixels", **extra):
    """A classifier job on the digits pixel cache."""
    job = {"study": "t", "dataset": "digits", "model": "none", "layer": layer}
    return {**job, "classifier": classifier, "size": size, "seed": seed, **extra}


@pytest.mark.parametrize(
    ("name", "size", "seed", "options"),
    [
        ("logreg", "all", 0, {}),
        ("svm_rbf", 100, 1, {}),
        ("random_forest", 200, 2, {}),
        ("gaussian_nb", "all", 0, {"standardize": False}),
        ("svm_linear", "all", 0, {"pca": True}),
    ],
)
def test_identity_features_reproduce_scikit_learn(digits_pixels, name, size, seed, options):
    from sklearn.decomposition import PCA
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    prep, tmp = digits_pixels
    job = pixels_job(name, str(size), seed, options=options)
    rec = classifiers.run_classifier(job, str(tmp / "pixels.npz"), str(tmp / f"{name}.json"))
    record.validate(rec)
    # scikit-learn's own, on the raw pixels, the same subset and the same test split
    x = prep.images.reshape(len(prep.images), -1).astype(np.float32)  # as cached
    idx = data.training_subset(prep.labels, prep.train_idx, size, seed)
    reference = {
        "logreg": LogisticRegression(max_iter=2000, random_state=seed),
        "svm_rbf": SVC(kernel="rbf"),
        "random_forest": RandomForestClassifier(n_estimators=100, random_state=seed),
        "gaussian_nb": GaussianNB(),
        "svm_linear": SVC(kernel="linear"),
    }[name]
    steps = [] if options.get("standardize") is False else [StandardScaler()]
    if options.get("pca"):
        steps.append(PCA(n_components=0.95, svd_solver="full"))
    ref = make_pipeline(*steps, reference).fit(x[idx], prep.labels[idx])
    y_te = prep.labels[prep.test_idx]
    pred = ref.predict(x[prep.test_idx])
    assert rec["n_train"] == len(idx) and rec["metrics"]["n_test"] == len(y_te)
    assert rec["metrics"]["accuracy"] == pytest.approx(accuracy_score(y_te, pred), abs=1e-12)
    assert rec["metrics"]["macro_f1"] == pytest.approx(f1_score(y_te, pred, average="macro"))
    assert rec["metrics"]["accuracy"] > 0.8  # raw pixels separate digits well
    assert rec["regime"] == "features" and rec["features"]["dim"] == 64
    if options.get("pca"):
        assert rec["features"]["pca_components"] == ref[1].n_components_ < 64


@pytest.mark.slow  # a job in a subprocess, or seconds of training
def test_grid_search_and_bayesian_ridge(digits_pixels):
    prep, tmp = digits_pixels
    grids = {"bayesian_ridge": {"alpha_1": [1e-6, 1.0]}}
    job = pixels_job("bayesian_ridge", "100", options={"grid_search": {"cv": 3, "grids": grids}})
    rec = classifiers.run_classifier(job, str(tmp / "pixels.npz"), str(tmp / "br.json"))
    f = rec["features"]
    assert f["grid_search"] and f["cv_folds"] == 3 and f["best_params"]["alpha_1"] in (1e-6, 1.0)
    assert rec["metrics"]["accuracy"] > 0.7 and rec["params"]["trainable"] == 10 * 65


def test_wrong_layer_in_cache_is_refused(digits_pixels):
    _, tmp = digits_pixels
    job = pixels_job("logreg", "all", layer="fc1")
    with pytest.raises(ValueError, match="holds layer 'pixels'"):
        classifiers.run_classifier(job, str(tmp / "pixels.npz"), str(tmp / "x.json"))
    assert not (tmp / "x.json").exists()


@pytest.mark.slow  # a job in a subprocess, or seconds of training
def test_classifier_job_never_imports_torch(digits_pixels):
    """The CLI, run cold in a fresh interpreter, fits and records without torch."""
    _, tmp = digits_pixels
    job = pixels_job("xgboost", "100")
    out = tmp / "xgb.json"
    code = (
        "import os, runpy, sys; sys.argv = sys.argv[1:]\n"
        "sys.path.insert(0, os.path.dirname(sys.argv[0]))\n"
        "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "print('TORCH', 'torch' in sys.modules, 'timm' in sys.modules)"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(ROOT / "scripts" / "classify.py"),
            "--job",
            json.dumps(job),
            "--features",
            str(tmp / "pixels.npz"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "TA_WARM": "0"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "TORCH False False" in proc.stdout
    rec = json.loads(out.read_text())
    assert rec["features"]["torch_imported"] is False and rec["timing"]["startup"] == "cold"


# ------------------------------------------------------------------ config


def _cfg(**grid_extra):
    cfg = {
        "datasets": {"d": {"source": {"kind": "sklearn_digits"}}},
        "models": {
            "m": {"arch": "small_cnn", "weights": {"pretrain": "d"}},
            "plain": {"arch": "small_cnn"},
        },
        "grid": {
            "targets": ["d"],
            "models": ["m", "plain"],
            "freeze": ["all"],
            "sizes": [10, "all"],
            "seeds": [0, 1],
        },
    }
    cfg["grid"].update(grid_extra)
    return cfg


def test_config_expands_feature_cells_once_per_cache():
    study = config.resolve(
        _cfg(
            features={"layers": ["pre_logits", "pixels"], "classifiers": ["logreg", "xgboost"]},
            transferability=True,
        )
    )
    cells = list(study.feature_cells())
    # pre_logits: only the model with weights; pixels: both models
    assert len(cells) == (1 + 2) * 2 * 2 * 2
    assert {c["model"] for c in cells if c["layer"] == "pre_logits"} == {"m"}
    ext = study.extraction_cells()
    assert sorted((e["model"], e["layer"]) for e in ext) == [
        ("m", "pixels"),
        ("m", "pre_logits"),
        ("m", "predictions"),
        ("plain", "pixels"),
    ]
    assert list(study.transferability_cells()) == [{"dataset": "d", "model": "m"}]
    assert list(config.resolve(_cfg()).feature_cells()) == []


def test_freeze_all_fine_tunes_read_the_pre_logits_cache_only_where_it_stands_for_them():
    """Study.prefix_caches: the workflow hands these pairs' freeze-all jobs their cache."""
    probe = {"layers": ["pre_logits"], "classifiers": ["logreg"]}
    assert config.resolve(_cfg(features=probe)).prefix_caches() == {("m", "d")}
    assert config.resolve(_cfg(transferability=True)).prefix_caches() == {("m", "d")}
    stage = {"layers": ["stage0"], "classifiers": ["logreg"]}
    assert config.resolve(_cfg(features=stage)).prefix_caches() == set()  # not the head's input
    assert config.resolve(_cfg()).prefix_caches() == set()  # nothing extracted: jobs run it
    for train in ({"augment": {"hflip": True}}, {"unfreeze": {"epochs": 1, "lr": 0.001}}):
        cfg = _cfg(features=probe)
        cfg["models"]["m"]["train"] = train  # the frozen output changes, or training goes on
        assert config.resolve(cfg).prefix_caches() == set(), train


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ({"features": {"layers": ["conv9"], "classifiers": ["logreg"]}}, r"grid\.features\.layers"),
        ({"features": {"layers": ["fc1"], "classifiers": ["knn"]}}, r"grid\.features\.classifiers"),
        (
            {
                "features": {
                    "layers": ["fc1"],
                    "classifiers": ["svm_rbf"],
                    "grid_search": {"grids": {"svm_rbf": {"depth": [1]}}},
                }
            },
            r"grids\.svm_rbf\.depth': not a tunable parameter",
        ),
    ],
)
def test_bad_features_config_names_the_key(extra, match):
    with pytest.raises(config.ConfigError, match=match):
        validate(_cfg(**extra))


def test_transferability_needs_a_model_with_weights():
    cfg = _cfg(transferability=True)
    cfg["grid"]["models"] = ["plain"]
    with pytest.raises(config.ConfigError, match="need a model with source weights"):
        validate(cfg)
