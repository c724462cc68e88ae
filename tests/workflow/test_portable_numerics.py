"""Portable numerics: the same job on another CPU writes the same record.

One small fine-tune (a scratch small_cnn: every layer trains, 30 steps) and one
classifier job (logistic regression on pixels: numpy/scipy's BLAS) run by Snakemake on
this CPU, then by hand under ``qemu-x86_64 -cpu Haswell`` (an emulated AVX2-only CPU:
ci/install-system-deps.sh installs Debian's qemu-user). With the default settings
(``numerics: portable``) the records are identical apart from ``timing`` and the recorded
CPU (a warm job and a cold one write the same record: tests/workflow/test_warm.py).
Emulation is 20-50x slower, and most of an emulated job is importing torch (about 25 s),
so the jobs are small and each runs emulated once; the fine-tune is just big enough that
the kernel choice changes its losses: with ``numerics: native`` (AVX-512 kernels here) it
trains to another curve than with the pinned ones (checked natively by
``test_native_numerics_differ_there``, so the first test is not vacuous).
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, snakemake

from transfer_atlas.core import numerics

pytestmark = pytest.mark.slow
QEMU = shutil.which("qemu-x86_64")
CONFIG = ROOT / "tests/configs/numerics.yaml"
JOBS = {
    "finetune": "results/runs/tgt/cnn/scratch_f0_n8_s0.json",
    "classify": "results/runs/tgt/cnn/features_pixels_logreg_n8_s0.json",
}


def comparable(record: dict) -> dict:
    """The record minus what may differ between CPUs and start-up paths."""
    rec = copy.deepcopy(record)
    rec.pop("timing")
    rec["provenance"]["numerics"].pop("cpu")
    rec.get("features", {}).pop("extract_s", None)
    return rec


def job_commands(workdir: Path) -> dict[str, str]:
    """Each job's own command, as Snakemake would run it (minus the GPU shim and log)."""
    out = snakemake(workdir, "-n", "-p", "-f", *JOBS.values(), "--configfile", str(CONFIG)).stdout
    commands = {}
    for kind, target in JOBS.items():
        line = next(x for x in out.splitlines() if "Shell command:" in x and target in x)
        cmd = line.split("Shell command:", 1)[1].strip()
        cmd = re.sub(r"^\$TA_PY \$TA_SCRIPTS/with_gpus\.py \S+ ", "", cmd)
        commands[kind] = cmd.split(" > logs/")[0]
    return commands


def run_job(workdir: Path, cmd: str, target: str, out: str, python: list[str], **extra_env) -> dict:
    cmd = cmd.replace(f"--out {target}", f"--out {out}")
    env = {
        **os.environ,
        "TA_PY": shlex.join(python),
        "TA_SCRIPTS": str(ROOT / "scripts"),
        "TA_WARM": "0",
    }
    for key in ("TA_NUMERICS", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR"):
        env.pop(key, None)  # what the job sets itself, as a job started by hand
    env.update(extra_env)
    proc = subprocess.run(
        ["bash", "-c", cmd], cwd=workdir, env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((workdir / out).read_text())


needs_qemu = pytest.mark.skipif(QEMU is None and not os.environ.get("CI"), reason="needs qemu-user")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("numerics")
    snakemake(path, *JOBS.values(), "--cores", "2", "--configfile", str(CONFIG))
    return path


@pytest.fixture(scope="module")
def commands(workdir):
    return job_commands(workdir)


@needs_qemu
def test_records_identical_on_an_emulated_avx2_cpu(workdir, commands):
    assert QEMU, "qemu-x86_64 missing: run ci/install-system-deps.sh"
    emulated = [QEMU, "-cpu", "Haswell", sys.executable]
    for kind, target in JOBS.items():
        by_workflow = json.loads((workdir / target).read_text())
        on_haswell = run_job(workdir, commands[kind], target, f"{kind}_haswell.json", emulated)
        assert on_haswell["provenance"]["numerics"]["cpu"] == "avx2", "not an AVX2-only CPU"
        assert on_haswell["provenance"]["numerics"]["mode"] == "portable"
        assert by_workflow["provenance"]["numerics"]["cpu"] == numerics.cpu_level()
        assert comparable(on_haswell) == comparable(by_workflow), kind


def test_native_numerics_differ_there(workdir, commands):
    """The control: the same fine-tune with the kernels left to the CPU (``numerics:
    native``: AVX-512 ones here) trains to other numbers than with the kernels ``portable``
    pins (AVX2; MKL's vendor-neutral branch). The job is sensitive to which kernels run, so
    the emulated run's equality above is the pinning at work, not a job too small to drift.
    Run natively, in seconds; until 2026-12-04 it ran the native job under qemu as well,
    and the two native runs differed there too (docs/reproducibility.md)."""
    if numerics.cpu_level() != "avx512":
        pytest.skip("the control needs a host CPU above AVX2 (this one is not)")
    target = JOBS["finetune"]
    portable = json.loads((workdir / target).read_text())
    cmd = commands["finetune"].replace('"numerics": "portable"', '"numerics": "native"')
    native = run_job(workdir, cmd, target, "native.json", [sys.executable], TA_NUMERICS="native")
    assert native["provenance"]["numerics"]["mode"] == "native"
    assert native["provenance"]["numerics"]["cpu"] == "avx512", "needs an AVX-512 host"
    assert portable["provenance"]["numerics"]["mode"] == "portable"
    # the same data, model and seed...
    assert native["n_train"] == portable["n_train"] and native["seed"] == portable["seed"]
    # ...and another training run: the curve (losses per epoch) differs
    assert native["curve"] != portable["curve"]
