"""Hostile and broken weights files: real safetensors / torch files, including a
malicious pickle, are refused naming the file, and nothing in them is executed.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from transfer_atlas.nn import models, weights

#: A two-block small_cnn (4 x 8 x 8 grey inputs): built in milliseconds.
SPEC = {"arch": "small_cnn", "arch_args": {"channels": [8, 16]}, "input_size": 8, "in_chans": 1}


class Exploit:
    """A pickle payload that would create a file when unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "pwned"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickle_checkpoint_is_refused_and_never_executed(tmp_path):
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
