"""A bad config stops a real Snakemake run before any job, with the key or line at fault."""

from __future__ import annotations

import copy
import time

import pytest
from conftest import ROOT, load_yaml, snakemake, write_config

DEFAULT = load_yaml(ROOT / "config" / "config.yaml")
TINY = load_yaml(ROOT / "tests" / "configs" / "tiny.yaml")


def broken(mutate, base=DEFAULT) -> dict:
    cfg = copy.deepcopy(base)
    mutate(cfg)
    return cfg


def test_snakemake_rejects_bad_config_before_any_job(tmp_path):
    cfg = write_config(tmp_path / "c.yaml", broken(lambda c: c["grid"].update(models=["nope"])))
    t = time.monotonic()
    proc = snakemake(tmp_path, "-n", configfile=cfg, check=False)
    assert proc.returncode != 0
    assert "unknown model 'nope'" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()
    assert time.monotonic() - t < 60  # fails during parsing, not after jobs


@pytest.mark.slow
def test_snakemake_refuses_duplicate_keys_and_bad_freeze_before_any_job(tmp_path):
    """The DAG-time checks are wired into the real workflow (common.smk)."""
    dup = tmp_path / "dup.yaml"
    text = (ROOT / "tests" / "configs" / "tiny.yaml").read_text()
    dup.write_text(text + "models:\n  other: {arch: lenet}\n")
    proc = snakemake(tmp_path, "-n", configfile=dup, check=False)
    assert proc.returncode != 0
    assert "duplicate key 'models'" in proc.stdout + proc.stderr
    cfg = write_config(tmp_path / "c.yaml", broken(lambda c: c["grid"].update(freeze=[0, 7]), TINY))
    proc = snakemake(tmp_path, "-n", configfile=cfg, check=False)
    assert proc.returncode != 0
    assert "freeze depth 7 is beyond model 'cnn'" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()
