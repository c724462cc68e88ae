"""A CI-sized study through a real single-node SLURM cluster (ci/start-slurm.sh).

Runs `snakemake --workflow-profile slurm` as docs/slurm.md says: SLURM's sbatch starts
every job, fine-tunes share submissions (profile groups), GPU requests go through
SLURM's gres (the test cluster offers fake GPU devices, so SLURM itself assigns
CUDA_VISIBLE_DEVICES; nothing runs on a GPU).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, SNAKEMAKE

from transfer_atlas.spec import record

pytestmark = pytest.mark.slow

CONFIG = ROOT / "tests" / "configs" / "slurm.yaml"
NEEDED = ("sbatch", "squeue", "scontrol", "slurmctld", "slurmd", "munged")


def _missing() -> list[str]:
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    return [cmd for cmd in NEEDED if shutil.which(cmd, path=path) is None]


@pytest.fixture(scope="module")
def slurm_env():
    """SLURM_CONF of a running cluster: started here (and stopped after) unless it runs."""
    missing = _missing()
    reason = None
    if missing:
        reason = f"SLURM is not installed ({', '.join(missing)} missing): ci/install-system-deps.sh"
    elif os.geteuid() != 0:
        reason = "ci/start-slurm.sh must run as root (it starts munged and slurmd)"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI=1 but {reason}")
        pytest.skip(reason)
    conf = Path(os.environ.get("TA_SLURM_DIR", "/tmp/transfer-atlas-slurm")) / "slurm.conf"
    env = {**os.environ, "SLURM_CONF": str(conf)}
    was_running = conf.exists() and "UP" in _out(["scontrol", "ping"], env)
    proc = subprocess.run(
        [str(ROOT / "ci" / "start-slurm.sh")], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"ci/start-slurm.sh failed:\n{proc.stdout}\n{proc.stderr}"
    assert f"SLURM_CONF={conf}" in proc.stdout
    yield env
    if not was_running:
        subprocess.run([str(ROOT / "ci" / "stop-slurm.sh")], timeout=60, check=False)


def _out(cmd: list[str], env: dict) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout + proc.stderr


def test_study_runs_through_slurm_with_grouped_jobs_and_gpus(slurm_env, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    cmd = [
        SNAKEMAKE,
        "-s",
        str(ROOT / "Snakefile"),
        "--workflow-profile",
        "slurm",
        "--configfile",
        str(CONFIG),
        # The test node has 2 CPUs: a grouped submission asks for the threads of the jobs
        # that can run side by side (group summary: 3 closing rules), more than the node
        # has, and SLURM would hold it forever (PartitionConfig). --cores caps what one
        # submission asks for (docs/slurm.md); it does not limit how many are in flight.
        "--cores",
        "2",
        # The test cluster has no accounting database: ask squeue, and early.
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "2",
        # ...and often: the study is a chain of short stages, each waiting for a check
        "--seconds-between-status-checks",
        "2",
        "--slurm-keep-successful-logs",
    ]
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, env=slurm_env, timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert "workflow specific profile" in log and "profiles/slurm" in log, log[:2000]

    records = sorted((work / "results" / "runs").rglob("*.json"))
    assert len(records) == 2  # freeze all + scratch
    for path in records:
        rec = json.loads(path.read_text())
        record.validate(rec)
        assert rec["timing"]["startup"] == "cold"  # cluster jobs do not fork a warm server
    html = (work / "results" / "report.html").read_text()
    assert "vegaEmbed" in html and "2 runs" in html

    # Every job went through sbatch; the fine-tunes shared one submission.
    slurm_logs = work / ".snakemake" / "slurm_logs"
    logs = [p for p in slurm_logs.rglob("*.log")]
    by_rule = {}
    for path in logs:
        by_rule.setdefault(path.relative_to(slurm_logs).parts[0], []).append(path)
    groups = [key for key in by_rule if key.startswith("group_finetune")]
    assert len(groups) == 1 and len(by_rule[groups[0]]) == 1, sorted(map(str, logs))
    assert not any(key.startswith("rule_finetune") for key in by_rule), sorted(by_rule)
    assert {"rule_prepare_dataset", "rule_pretrain"} <= set(by_rule), by_rule
    # aggregate -> figures -> report: one submission (profile group "summary")
    summary = [key for key in by_rule if key.startswith("group_summary")]
    assert len(summary) == 1 and len(by_rule[summary[0]]) == 1, sorted(by_rule)
    # GPU requests reached SLURM: each fine-tune ran on devices of its allocation
    # (SLURM's CUDA_VISIBLE_DEVICES; scripts/with_gpus.py picks one per job). The pool is
    # the group's 2 GPUs, or the one SLURM gives the job step that runs this fine-tune.
    gpu_line = re.compile(r"GPU\(s\) [01](,[01])? (of [01](,[01])?|\(asked for 1\))")
    for path in (work / "logs" / "finetune").rglob("*.log"):
        first = path.read_text().splitlines()[0]
        assert gpu_line.fullmatch(first), (path, first)
    again = subprocess.run(
        cmd + ["-n"], cwd=work, capture_output=True, text=True, env=slurm_env, timeout=300
    )
    assert "Nothing to be done" in again.stdout + again.stderr
