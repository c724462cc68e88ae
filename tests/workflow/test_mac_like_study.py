"""A laptop without the Linux primitives of warm starts (macOS), simulated on Linux.

CI has no Mac. ``TA_WARM_UNSUPPORTED=1`` makes the capability check
(``runtime.wire.warm_supported``) answer as it does on macOS (it can only switch warm
starts off), and ``TA_GPU_DEVICES=mps`` stands for the Mac's one Apple GPU, which jobs
claim in slots. Part of the tiny study then runs cold: one fine-tune of each model, one
from pretrained weights (after its source pretraining, which trains cold too) and one from
scratch, and their data preparation: every kind of job with a warm path. They write the
records the warm run of the ``tiny_study`` fixture wrote, apart from ``timing``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, snakemake

from transfer_atlas.runtime import wire

pytestmark = pytest.mark.slow


def records(work: Path) -> dict[str, dict]:
    """Every job record of a study (fine-tune, classifier, transferability), by path."""
    found = {}
    for folder in ("results/runs", "results/transferability"):
        for path in sorted((work / folder).rglob("*.json")):
            found[str(path.relative_to(work))] = json.loads(path.read_text())
    return found


def test_the_tiny_study_runs_cold_where_warm_starts_cannot_work(tiny_study, tmp_path):
    warm_work, _ = tiny_study
    work = tmp_path / "mac"
    work.mkdir()
    cfg = work / "config.yaml"
    shutil.copy(ROOT / "tests" / "configs" / "tiny.yaml", cfg)
    env = {
        "TA_WARM": "1",  # warm starts wanted, as by default...
        "TA_WARM_UNSUPPORTED": "1",  # ...on a platform that cannot have them
        "TA_WARM_DIR": str(tmp_path / "warm"),
        "TA_GPU_DEVICES": "mps",
        "TA_GPU_LOCK_DIR": str(tmp_path / "locks"),
    }
    # Jobs that write records (the only jobs with a warm path) and their inputs; the report
    # side (figures, pictures, report) never starts warm and ran in ``tiny_study``. Each
    # cold job pays the imports (seconds), so a sample of them, not the whole study.
    targets = ["results/runs/tgt/cnn/pretrained_f0_n8_s0.json",
               "results/runs/tgt/tres/scratch_f0_n8_s0.json"]  # fmt: skip
    proc = snakemake(work, "--cores", "2", *targets, configfile=cfg, env=env)
    assert "gpu=1" in proc.stdout + proc.stderr  # training jobs ask for a GPU without flags

    warm, cold = records(warm_work), records(work)
    usual = "warm" if wire.warm_supported(env={})[0] else "cold"  # on a real Mac: cold too
    assert sorted(cold) == targets
    for path in cold:
        w, c = warm[path], cold[path]
        if "timing" in w and "startup" in w["timing"]:
            assert (w["timing"]["startup"], c["timing"]["startup"]) == (usual, "cold"), path
        for rec in (w, c):
            rec.pop("timing", None)
            # the hash of the library's source: the same in CI, but it differs when the
            # source is edited between the fixture's run and this one (as here, by others)
            rec.get("provenance", {}).pop("code_version", None)
        assert c == w, path
    assert not (tmp_path / "warm").exists()  # no server was started, no socket made

    logs = sorted((work / "logs" / "finetune").rglob("*.log"))
    assert logs
    for log in logs:
        text = log.read_text()
        assert text.count("warm starts off on this platform") == 1, log
        assert "TA_WARM_UNSUPPORTED=1 simulates" in text
        assert "GPU(s) mps of mps" in text, log  # each training job claimed the Apple GPU
        # Snakemake counts the device's one slot (a timm model: the default is 1), so no
        # job had to wait for the lock, although 2 cores could have run two at once
        assert "waiting for" not in text, log
