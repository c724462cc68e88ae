"""Shared helpers: run the real Snakemake workflow in a scratch directory."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

# First, as in every job: pins the CPU kernels (core.numerics) before numpy or torch load,
# so jobs run in-process by tests check and record the numerics a real job would.
import transfer_atlas  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def snakemake(
    workdir: Path,
    *args: str,
    configfile: Path | None = None,
    check: bool = True,
    env: dict | None = None,
    timeout: int = 900,
) -> subprocess.CompletedProcess:
    """Run the project's Snakefile with ``workdir`` as working directory."""
    cmd = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(workdir)]
    if configfile is not None:
        cmd += ["--configfile", str(configfile)]
    proc = subprocess.run(
        cmd + list(args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


def job_counts(output: str) -> dict[str, int]:
    """Parse Snakemake's 'Job stats' table (rule -> count) from a dry run."""
    counts, in_table = {}, False
    for line in output.splitlines():
        if line.startswith("Job stats"):
            in_table = True
            continue
        if in_table:
            m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
            if m and m.group(1) != "total":
                counts[m.group(1)] = int(m.group(2))
            elif line.strip().startswith("total"):
                break
    return counts


def dry_run(workdir: Path, configfile: Path, *extra: str) -> dict[str, int]:
    proc = snakemake(workdir, "-n", "--quiet", "rules", *extra, configfile=configfile)
    return job_counts(proc.stdout + proc.stderr)


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(Path(path).read_text())


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory):
    """The tiny study run end to end once per session: (workdir, configfile)."""
    work = tmp_path_factory.mktemp("tiny")
    cfg = work / "config.yaml"
    shutil.copy(ROOT / "tests" / "configs" / "tiny.yaml", cfg)
    snakemake(work, "--cores", "2", configfile=cfg)
    return work, cfg


# Files a test leaves for a person to look at (screenshots): listed at the end of the run.
ARTIFACTS: list[str] = []


def pytest_terminal_summary(terminalreporter):
    for line in ARTIFACTS:
        terminalreporter.write_line(f"artifact: {line}")


def assert_freeze_semantics(model) -> int:
    """Trainable parameters fall with every freeze depth, ``all`` leaves exactly the head,
    and the groups plus the head partition the parameters; returns the group count."""
    from transfer_atlas.nn import models
    from transfer_atlas.nn.freezing import apply_freeze, count_params

    n_groups = len(models.freeze_groups(model))
    assert n_groups >= 2
    trainable = []
    for depth in range(n_groups + 1):
        apply_freeze(model, depth)
        trainable.append(count_params(model)[1])
    assert all(a > b for a, b in zip(trainable, trainable[1:], strict=False)), trainable
    apply_freeze(model, "all")
    head = sum(p.numel() for p in model.get_classifier().parameters())
    assert count_params(model)[1] == head == trainable[-1]
    trainable_names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable_names == models.classifier_names(model)
    # every parameter is in exactly one group or the head
    grouped = [n for g in models.freeze_groups(model) for n in g]
    assert len(grouped) == len(set(grouped))
    assert set(grouped) | trainable_names == {n for n, _ in model.named_parameters()}
    return n_groups
