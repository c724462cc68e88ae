"""The tests' forked ``snakemake`` calls (tests/snakemake_forks.py) behave as the command:
the same exit status and output, the environment and working directory of the call, and a
timeout that takes the call down while the server goes on."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
import snakemake_forks
from conftest import ROOT, SNAKEMAKE, job_counts, load_yaml, write_config

pytestmark = pytest.mark.slow


def both(argv: list[str], env: dict, cwd) -> tuple:
    forked, _ = snakemake_forks.forked(argv, env, timeout=300, cwd=cwd)
    command = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    return forked, command


def test_a_forked_call_fails_and_succeeds_as_the_command(tmp_path):
    cfg = load_yaml(ROOT / "tests" / "configs" / "tiny.yaml")
    cfg["grid"]["freeze"] = ["deep"]  # not a freeze depth: refused before any job
    bad = write_config(tmp_path / "bad.yaml", cfg)
    argv = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-n", "--configfile"]
    env = {**os.environ, "TA_WARM": "0"}
    forked, command = both(argv + [str(bad)], env, tmp_path)
    assert forked.returncode == command.returncode == 1
    assert "grid.freeze[0]': 'deep' is not valid" in forked.stdout  # Snakemake's report
    assert (forked.stdout, forked.stderr) == (command.stdout, command.stderr)

    good = tmp_path / "good"
    good.mkdir()
    forked, command = both(
        argv + [str(ROOT / "tests/configs/tiny.yaml"), "--quiet", "rules"], env, good
    )
    assert forked.returncode == command.returncode == 0
    assert job_counts(forked.stdout) == job_counts(command.stdout)
    assert job_counts(forked.stdout)["finetune"] > 0
    assert not (good / "results").exists()  # a dry run, in the call's own directory


def test_a_timeout_kills_the_call_and_the_server_goes_on(tmp_path):
    argv = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-n", "--configfile"]
    argv.append(str(ROOT / "config" / "studies" / "large-grid.yaml"))  # a 20,000-job DAG
    t = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        snakemake_forks.forked(argv, dict(os.environ), timeout=1, cwd=tmp_path)
    assert time.monotonic() - t < 30
    proc, cpu_s = snakemake_forks.forked([SNAKEMAKE, "--version"], dict(os.environ), timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip()[0].isdigit() and cpu_s > 0
