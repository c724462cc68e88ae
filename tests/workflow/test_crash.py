"""Crash safety: SIGKILL the whole workflow mid-training and mid-aggregation, then resume.

The workflow runs in its own process group and is killed with SIGKILL (no cleanup
possible) at two exact moments, reached through the test-only pause hook of
``transfer_atlas.core.faults``: (1) inside a fine-tune job right after its first training
step, (2) inside aggregation after runs.parquet is written but before runs.csv and
summary.csv. Each time the test resumes it the way docs/reliability.md tells users
(``snakemake --unlock``, then the same command again; the default profile sets
``rerun-incomplete``) and finally checks the results are complete, valid, and equal,
metric for metric, to the uninterrupted run of the same jobs in ``tiny_study``.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time

import pandas as pd
import pytest
from conftest import ROOT, SNAKEMAKE, load_yaml, snakemake, write_config

from transfer_atlas.spec import record

pytestmark = pytest.mark.slow

PAUSED_JOB = "tgt/cnn/pretrained_fall_n8_s0"


def start_paused(work, cfg, pause_at, marker):
    """Start the workflow in a new process group; return it once a job sits at ``pause_at``."""
    env = {
        **os.environ,
        "TA_PAUSE_AT": pause_at,
        "TA_PAUSE_FILE": str(marker),
    }
    log = open(work / f"snakemake-{marker.stem}.txt", "w")
    cmd = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(work), "--configfile", str(cfg)]
    proc = subprocess.Popen(
        cmd + ["--cores", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 600
    while not marker.exists() or not marker.read_text().endswith("\n"):
        if proc.poll() is not None or time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(
                f"workflow never reached {pause_at}:\n{log.name}\n" + open(log.name).read()[-3000:]
            )
        time.sleep(0.1)
    label, pid = marker.read_text().split()
    return proc, label, int(pid)


def kill_workflow(proc, pid):
    os.killpg(proc.pid, signal.SIGKILL)  # the whole group: snakemake and its job processes
    proc.wait()
    # A warm job runs in the fork server's process tree, not in the workflow's group: the
    # server must notice its client died and kill the job too.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    pytest.fail(f"job process {pid} outlived the killed workflow")


def marked_incomplete(work) -> set[str]:
    """Outputs Snakemake had started but not yet confirmed when it was killed.

    A job can finish writing its record an instant before the kill, before Snakemake
    confirms it; such outputs are rightly recomputed by ``--rerun-incomplete``. Snakemake
    keeps one marker per output, its path base64-encoded, in ``.snakemake/incomplete``.
    """
    folder = work / ".snakemake" / "incomplete"
    names = set()
    for marker in folder.iterdir() if folder.is_dir() else ():
        try:
            names.add(base64.urlsafe_b64decode(marker.name).decode())
        except (ValueError, UnicodeDecodeError):
            continue
    return names


def resume(work, cfg, *extra):
    snakemake(work, "--unlock", configfile=cfg)
    return snakemake(work, "--cores", "2", *extra, configfile=cfg)


def without_timing(path):
    rec = json.loads(path.read_text())
    del rec["timing"]
    return rec


def test_killed_twice_then_resumed_equals_an_uninterrupted_run(tiny_study, tmp_path):
    ref_work, ref_cfg = tiny_study
    cfg = load_yaml(ref_cfg)  # the tiny study's cnn jobs only: same specs, same records
    del cfg["models"]["tres"]
    cfg["grid"]["models"] = ["cnn"]
    work = tmp_path / "w"
    work.mkdir()
    cfg = write_config(work / "config.yaml", cfg)
    runs_dir = work / "results" / "runs"

    # 1. SIGKILL in the middle of a training job.
    proc, label, pid = start_paused(work, cfg, f"finetune:{PAUSED_JOB}", tmp_path / "train.m")
    assert label == f"finetune:{PAUSED_JOB}"
    # The paused job waits; let the other core finish a job first (under load, or when the
    # scheduler starts the paused job early, none has yet), so the resume has work to keep.
    deadline = time.time() + 300
    while time.time() < deadline and not any(
        p.name != f"{PAUSED_JOB.rsplit('/', 1)[1]}.json" for p in runs_dir.rglob("*.json")
    ):
        time.sleep(0.5)
    time.sleep(1.0)  # a record appears by rename, after its job's last write
    kill_workflow(proc, pid)
    assert not (runs_dir / f"{PAUSED_JOB}.json").exists(), "a killed job left a record"
    done_before = {
        p: p.stat().st_mtime_ns
        for p in runs_dir.rglob("*.json")
        if str(p.relative_to(work)) not in marked_incomplete(work)
    }
    assert done_before, "no job had finished before the kill; the test proves less than it says"

    # 2. Resume; SIGKILL again in the middle of aggregation.
    snakemake(work, "--unlock", configfile=cfg)
    proc, label, pid = start_paused(work, cfg, "aggregate", tmp_path / "aggregate.m")
    assert (work / "results" / "runs.parquet").exists()
    assert not (work / "results" / "summary.csv").exists()
    kill_workflow(proc, pid)

    # 3. Resume to the end.
    resume(work, cfg)
    proc = snakemake(work, "-n", configfile=cfg)
    assert "Nothing to be done" in proc.stdout + proc.stderr

    # Nothing finished before the first kill was recomputed.
    for path, mtime in done_before.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was recomputed"
    # Complete and valid: every record, table, figure and the report; no temporaries.
    records = sorted(runs_dir.rglob("*.json"))
    assert len(records) == 6
    for path in records:
        record.validate(json.loads(path.read_text()))
        reference = ref_work / path.relative_to(work)
        assert without_timing(path) == without_timing(reference), path
    leftovers = [p for p in (work / "results").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    for name in ("accuracy_heatmap", "gain_heatmap"):
        for ext in ("vl.json", "svg", "png"):
            assert (work / "results" / "figures" / f"{name}.{ext}").stat().st_size > 0
    assert "vegaEmbed" in (work / "results" / "report.html").read_text()
    # Tables equal to the uninterrupted run's rows for the same jobs (timings aside).
    keys = ["dataset", "model", "init", "freeze", "size", "seed"]
    metrics = ["accuracy", "balanced_accuracy", "macro_f1", "cohen_kappa", "n_train"]
    runs = pd.read_parquet(work / "results" / "runs.parquet").sort_values(keys)
    ref = pd.read_parquet(ref_work / "results" / "runs.parquet")
    ref = ref[ref["model"] == "cnn"].sort_values(keys)
    pd.testing.assert_frame_equal(
        runs[keys + metrics].reset_index(drop=True), ref[keys + metrics].reset_index(drop=True)
    )
    summary = pd.read_csv(work / "results" / "summary.csv")
    ref_summary = pd.read_csv(ref_work / "results" / "summary.csv")
    ref_summary = ref_summary[ref_summary["model"] == "cnn"]
    cols = ["dataset", "model", "init", "freeze", "size", "accuracy_mean", "gain_mean"]
    order = cols[:5]
    pd.testing.assert_frame_equal(
        summary[cols].sort_values(order).reset_index(drop=True),
        ref_summary[cols].sort_values(order).reset_index(drop=True),
    )
