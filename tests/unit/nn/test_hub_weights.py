"""Weights from hubs and local files, never from the network in tests: offline fetches
fail with a message saying how to get the file; locally written safetensors load into
every model form; the record carries the weights file's sha256 and the input size and
normalisation the weights file records."""

import json
import socket

import pytest
import torch
from conftest import ROOT

from transfer_atlas.data import prepared as data
from transfer_atlas.nn import models, weights
from transfer_atlas.spec.study import hub_key, resolve
from transfer_atlas.spec.validate import load_study
from transfer_atlas.testing import standin


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """Any connection attempt fails loudly; hub caches point at an empty folder."""
    attempts = []

    def refuse(self, address, *a, **k):
        attempts.append(address)
        raise OSError(f"network disabled in tests ({address})")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    try:
        import huggingface_hub.constants as hf_constants

        monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    except ImportError:
        pass
    return attempts


@pytest.mark.parametrize(
    "spec",
    [
        {"arch": "tv/resnet18", "weights": {"hub": "IMAGENET1K_V1"}},
        {"arch": "timm/test_resnet", "weights": {"hub": "r160_in1k"}},
    ],
    ids=["torchvision", "timm"],
)
def test_offline_fetch_says_how_to_get_the_weights(no_network, tmp_path, spec):
    out = tmp_path / "data" / "weights" / f"{hub_key(spec)}.safetensors"
    with pytest.raises(weights.WeightsUnavailable) as err:
        weights.fetch_hub(spec, out)
    msg = str(err.value)
    assert spec["arch"] in msg and f"dvc pull {out}" in msg and "fetch_weights.py" in msg
    assert not out.exists()


def test_hub_key_names_arch_tag_and_args():
    assert hub_key({"arch": "tv/vgg16", "weights": {"hub": "IMAGENET1K_V1"}}) == (
        "tv--vgg16--IMAGENET1K_V1"
    )
    with_args = hub_key(
        {
            "arch": "timm/deit_tiny_patch16_224",
            "arch_args": {"img_size": 16},
            "weights": {"hub": "x"},
        }
    )
    assert with_args.startswith("timm--deit_tiny_patch16_224--x--") and len(with_args) > 30


def test_hugging_face_hub_models_are_named_by_repo():
    from transfer_atlas.spec.registry import check_arch

    check_arch("timm/hf-hub:timm/deit_tiny_patch16_224.fb_in1k")
    with pytest.raises(ValueError, match="hf-hub:<org>/<repo>"):
        check_arch("timm/hf-hub:no-repo")
    spec = {"arch": "timm/hf-hub:timm/vit_tiny", "weights": {"hub": "default"}}
    assert hub_key(spec) == "timm--hf-hub_timm--vit_tiny--default"


def test_plain_timm_weights_fit_a_headed_timm_model(tmp_path):
    plain = models.build({"arch": "timm/test_resnet", "in_chans": 3}, 10)
    path = tmp_path / "w.safetensors"
    weights.save_model(plain, path)
    headed = models.build(
        {"arch": "timm/test_resnet", "in_chans": 3, "head": {"kind": "mlp", "hidden": 8}}, 3
    )
    loaded = weights.load_backbone(headed, path)
    assert loaded and all(k.startswith("body.") for k in loaded)
    key = loaded[0]
    torch.testing.assert_close(headed.state_dict()[key], plain.state_dict()[key[5:]])


def test_vgg_style_m3_model_loads_the_full_networks_file(tmp_path):
    spec = {
        "arch": "tv/mobilenet_v2",
        "arch_args": {"width_mult": 0.25},
        "weights": {"hub": "IMAGENET1K_V1"},
    }
    path = tmp_path / "w.safetensors"
    standin.write_hub_weights({**spec, "input_size": 16}, path)
    m3 = models.build({**spec, "head": {"kind": "mlp", "hidden": 4, "replace": "classifier"}}, 3)
    assert weights.load_backbone(m3, path)
    assert weights.input_config(path) == {"input_size": 16, **standin.IMAGENET_NORM}


@pytest.mark.slow  # a job in a subprocess, or seconds of training
def test_local_file_weights_job_records_sha_and_uses_recorded_input_config(tmp_path):
    from transfer_atlas.train.finetune import run_finetune

    cfg = {
        "datasets": {"shapes": {"source": {"kind": "generated", "per_class": 12, "image_size": 8}}},
        "models": {
            "net": {
                "arch": "tv/shufflenet_v2_x0_5",
                "weights": {"file": str(tmp_path / "mine.safetensors")},
            }
        },
        "train": {"epochs": 1, "batch_size": 16},
        "grid": {"targets": ["shapes"], "models": ["net"], "freeze": ["all"], "sizes": ["all"],
                 "seeds": [0]},
    }  # fmt: skip
    study = resolve(cfg)
    assert study.weights_path("net") == str(tmp_path / "mine.safetensors")
    assert study.models["net"]["in_chans"] == 3
    spec = study.models["net"]
    standin.write_hub_weights(
        {**spec, "weights": {"hub": "local"}, "input_size": 24}, tmp_path / "mine.safetensors"
    )
    data.save(data.prepare(study.datasets["shapes"]), tmp_path / "prep")
    job = {
        "study": "t", "dataset": "shapes", "model": "net", "init": "pretrained",
        "freeze": "all", "size": "all", "seed": 0, "model_spec": spec,
    }  # fmt: skip
    rec = run_finetune(
        job, tmp_path / "prep", str(tmp_path / "mine.safetensors"), tmp_path / "r.json"
    )
    assert rec["provenance"]["weights_sha256"] == weights.sha256_file(tmp_path / "mine.safetensors")
    assert rec["params"]["trainable"] == 1024 * 4 + 4  # the head only
    # FLOPs at the recorded 24 px input, not the prepared 8 px
    from transfer_atlas.nn.costs import flops

    net = models.build(spec, 4).eval()
    assert rec["flops"] == flops(net, torch.zeros(1, 3, 24, 24))
    assert rec["flops"] != flops(net, torch.zeros(1, 3, 8, 8))
    assert json.loads((tmp_path / "r.json").read_text())["metrics"]["accuracy"] >= 0


def test_study_configs_name_every_weight_file_under_data_weights():
    for path in sorted((ROOT / "config" / "studies").glob("*.yaml")):
        study = load_study(path)
        for m in study.models:
            if study.hub_spec(m):
                assert study.weights_path(m).startswith("data/weights/"), (path, m)
