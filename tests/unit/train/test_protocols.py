"""Training protocols of the reference studies: optimizer x learning rate as grid axes
(study 001), per-model freeze depths (study 002), fine-tuning after the frozen phase
(study 003), and the cost metrics every record carries."""

import pytest
import torch

from transfer_atlas.data import prepared as data
from transfer_atlas.nn import models, weights
from transfer_atlas.spec.study import ConfigError, resolve
from transfer_atlas.train.finetune import run_finetune


def _config(**grid):
    return {
        "datasets": {"d": {"source": {"kind": "generated", "per_class": 12, "image_size": 8}}},
        "models": {
            "cnn": {
                "arch": "small_cnn",
                "arch_args": {"channels": [4, 8]},
                "input_size": 8,
                "weights": {"pretrain": "d"},
            },
            "twin": {
                "arch": "small_cnn",
                "arch_args": {"channels": [4, 8]},
                "input_size": 8,
                "weights": {"pretrain": "d"},
                "train": {"unfreeze": {"epochs": 2, "lr": 0.0001}},
                "freeze": [1, 2],
            },
        },
        "train": {"epochs": 1, "batch_size": 8},
        "grid": {
            "targets": ["d"],
            "models": ["cnn", "twin"],
            "freeze": [0],
            "sizes": ["all"],
            "seeds": [0],
            **grid,
        },
    }


def test_vary_expands_models_and_shares_their_source():
    study = resolve(_config(vary={"optimizer": ["sgd", "adadelta"], "lr": [0.1, 0.01]}))
    names = study.grid["models"]
    assert "cnn.sgd.lr0.1" in names and "twin.adadelta.lr0.01" in names and len(names) == 8
    spec = study.models["cnn.adadelta.lr0.01"]
    assert spec["train"]["optimizer"] == "adadelta" and spec["train"]["lr"] == 0.01
    # every variant (and the identical twin) reuses one pretraining
    paths = {study.weights_path(m) for m in names}
    assert paths == {"results/weights/cnn.safetensors"}
    cells = list(study.finetune_cells())
    twin_depths = {c["freeze"] for c in cells if c["model"].startswith("twin")}
    assert twin_depths == {"1", "2", "0"}  # its own depths, plus its scratch baseline


def test_vary_rejects_unknown_axes():
    with pytest.raises(ConfigError, match="grid.vary"):
        resolve(_config(vary={"momentum": [0.9]}))


def test_unfreeze_phase_trains_everything_after_the_frozen_phase(tmp_path):
    study = resolve(_config())
    prep = data.prepare(study.datasets["d"])
    data.save(prep, tmp_path / "prep")
    spec = study.models["twin"]
    source = models.build(spec, prep.num_classes)
    weights.save_model(source, tmp_path / "src.safetensors")
    job = {
        "study": "t", "dataset": "d", "model": "twin", "init": "pretrained", "freeze": 2,
        "size": "all", "seed": 0, "model_spec": {k: v for k, v in spec.items() if k != "weights"},
    }  # fmt: skip
    rec = run_finetune(job, tmp_path / "prep", str(tmp_path / "src.safetensors"), tmp_path / "r")
    assert rec["timing"]["epochs_run"] == 1 + 2
    assert [p["epoch"] for p in rec["curve"]][-2:] == [2, 3]
    assert rec["curve"][-1]["lr"] == pytest.approx(0.0001, rel=0.5)
    assert rec["params"]["trainable"] < rec["params"]["total"]  # during the frozen phase
    t = rec["timing"]
    assert t["latency_ms"] > 0 and t["inference_img_s"] > 0 and t["throughput_img_s"] > 0
    assert rec["flops"] > 0 and rec["size_bytes"] > 0
    assert rec["metrics"]["accuracy_density"] == pytest.approx(
        rec["metrics"]["accuracy"] / (rec["size_bytes"] / 1e6)
    )


def test_mlp_head_of_a_local_arch_is_replaced_for_the_target():
    spec = {"arch": "lenet", "input_size": 32, "head": {"kind": "mlp", "hidden": 10}}
    net = models.build(spec, 3)
    net.reset_classifier(5)
    assert net(torch.randn(2, 1, 32, 32)).shape == (2, 5)
    assert isinstance(net.get_classifier(), torch.nn.Sequential)
