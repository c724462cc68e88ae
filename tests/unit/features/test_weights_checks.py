"""Feature jobs check the weights they use: extraction checks the file before it reads
the dataset or the weights; classifier and transferability jobs check that the cache
they read was made from the weights the config pins."""

from __future__ import annotations

import pytest

from transfer_atlas.features import extract
from transfer_atlas.nn import models, weights

SPEC = {"arch": "small_cnn", "arch_args": {"channels": [8, 16]}, "input_size": 8, "in_chans": 1}


def test_extraction_checks_the_weights_before_anything_else(tmp_path):
    path = tmp_path / "w.safetensors"
    sha = weights.save_model(models.build(SPEC, 3), path)
    job = {"dataset": "d", "model": "cnn", "layer": "pre_logits", "model_spec": SPEC}
    absent = str(tmp_path / "no-such-dataset")  # never reached
    with pytest.raises(weights.WeightsError) as err:
        extract.extract({**job, "weights_sha256": "0" * 64}, absent, str(path), "out.npz")
    assert f"model 'cnn': {path}: sha256 {sha} differs" in str(err.value)
    assert "config key 'models.cnn.weights.sha256'" in str(err.value)
    (tmp_path / "w.json").write_text('{"sha256": "' + "1" * 64 + '"}')  # what made it says
    with pytest.raises(weights.WeightsError, match=r"\[expected sha256 from .*w\.json\]"):
        extract.extract(job, absent, str(path), "out.npz")
    with pytest.raises(weights.WeightsError, match="model 'cnn': weights file .* not found"):
        extract.extract(job, absent, str(tmp_path / "gone.safetensors"), "out.npz")


def test_a_cache_from_other_weights_than_the_pinned_is_refused():
    job = {"model": "cnn", "weights_sha256": "a" * 64}
    extract.check_cache_weights({"weights_sha256": "a" * 64}, job, "c.npz")
    extract.check_cache_weights({"weights_sha256": "b" * 64}, {"model": "cnn"}, "c.npz")
    with pytest.raises(ValueError) as err:
        extract.check_cache_weights({"weights_sha256": "b" * 64}, job, "c.npz")
    assert "model 'cnn': c.npz was computed from weights with sha256 bbbb" in str(err.value)
    assert "config key 'models.cnn.weights.sha256'" in str(err.value)
