"""Package weights with hostile or wrong contents: a distribution installed the way pip
installs one (a ``.dist-info`` on ``sys.path``) whose checkpoint is a malicious pickle,
or not the pinned file, or absent. Nothing in it runs; the refusal names the file."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from transfer_atlas.nn import package_weights, weights

PTH = "evil_weights/models/evil.pth"


class Exploit:
    """A pickle payload that would create a file when unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "pwned"))


@pytest.fixture
def evil_distribution(tmp_path, monkeypatch):
    """``evil-weights`` 0.1, installed in a folder on sys.path; returns the marker path."""
    site, marker = tmp_path / "site", tmp_path / "pwned"
    (site / "evil_weights" / "models").mkdir(parents=True)
    (site / PTH).write_bytes(pickle.dumps({"_conv_stem.weight": Exploit(marker)}))
    info = site / "evil_weights-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: evil-weights\nVersion: 0.1\n")
    (info / "RECORD").write_text(f"{PTH},,\nevil_weights-0.1.dist-info/METADATA,,\n")
    monkeypatch.syspath_prepend(str(site))
    return marker


def spec(**package) -> dict:
    return {
        "arch": "timm/efficientnet_lite0",
        "in_chans": 3,
        "weights": {
            "package": {"distribution": "evil-weights", "file": "models/evil.pth", **package},
            "layout": "efficientnet_pytorch",
        },
    }


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_malicious_pickle_in_a_package_is_refused_and_never_executed(evil_distribution, tmp_path):
    out = tmp_path / "out.safetensors"
    with pytest.raises(weights.WeightsError, match=r"evil\.pth: refused: not a tensor-only"):
        package_weights.convert(spec(), out)
    assert not evil_distribution.exists()
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_a_package_file_other_than_the_pinned_one_is_never_read(evil_distribution, tmp_path):
    with pytest.raises(weights.WeightsError, match=r"evil\.pth: sha256 [0-9a-f]{64} differs"):
        package_weights.convert(spec(sha256="0" * 64), tmp_path / "out.safetensors")
    assert not evil_distribution.exists()


def test_a_missing_distribution_or_file_says_what_is_there(evil_distribution):
    with pytest.raises(weights.WeightsError, match="'no-such-weights' is not installed"):
        package_weights.locate("no-such-weights", "models/x.pth")
    with pytest.raises(weights.WeightsError) as err:
        package_weights.locate("evil-weights", "models/other.pth")
    assert "is not one of its files" in str(err.value) and PTH in str(err.value)
    assert package_weights.locate("evil-weights", "models/evil.pth")[1:] == ("0.1", PTH)
