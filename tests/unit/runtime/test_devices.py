"""GPU assignment for concurrent jobs (transfer_atlas.runtime.devices), checked without a GPU.

Fake jobs run through scripts/with_gpus.py exactly as the finetune rule runs its
command; each prints the CUDA_VISIBLE_DEVICES it was given and then waits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT

WITH_GPUS = str(ROOT / "scripts" / "with_gpus.py")
FAKE_JOB = (
    "import os, time; print(os.environ.get('CUDA_VISIBLE_DEVICES'), flush=True); time.sleep(60)"
)


@pytest.fixture
def gpu_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID")}
    return {**env, "TA_GPU_DEVICES": "0,1,2", "TA_GPU_LOCK_DIR": str(tmp_path / "locks")}


class Jobs:
    def __init__(self, env):
        self.env, self.procs = env, []

    def start(self, n_gpus: int = 1, **extra_env) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, WITH_GPUS, str(n_gpus), sys.executable, "-c", FAKE_JOB],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**self.env, **extra_env},
        )
        self.procs.append(proc)
        return proc

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


@pytest.fixture
def jobs(gpu_env):
    j = Jobs(gpu_env)
    yield j
    j.stop()


def devices_of(proc) -> str:
    return proc.stdout.readline().strip()


def test_concurrent_jobs_get_distinct_devices_and_a_killed_job_frees_its_own(jobs):
    first = [jobs.start() for _ in range(3)]
    got = [devices_of(p) for p in first]
    assert sorted(got) == ["0", "1", "2"]
    waiting = jobs.start()  # all three devices are held: this one must wait
    time.sleep(1.5)
    assert waiting.poll() is None
    os.kill(first[1].pid, signal.SIGKILL)  # killed, not exited: the kernel frees the lock
    first[1].wait()
    assert devices_of(waiting) == got[1]
    assert "waiting for 1 free GPU" in os.read(waiting.stderr.fileno(), 4096).decode()


def test_a_finished_job_releases_its_devices(jobs, gpu_env):
    fast = subprocess.run(
        [sys.executable, WITH_GPUS, "3", sys.executable, "-c", "print('ok')"],
        capture_output=True,
        text=True,
        env={**gpu_env, "TA_GPU_DEVICES": "0,1,2,3"},
        timeout=60,
    )
    assert fast.returncode == 0 and fast.stdout.strip() == "ok"
    assert "GPU(s) 0,1,2 of 0,1,2,3" in fast.stderr
    again = jobs.start(3, TA_GPU_DEVICES="0,1,2,3")
    assert devices_of(again) == "0,1,2"


def test_two_gpu_jobs_and_the_allocation_pool(jobs):
    a = jobs.start(2, TA_GPU_DEVICES="0,1,2,3")
    b = jobs.start(2, TA_GPU_DEVICES="0,1,2,3")
    got = {devices_of(a), devices_of(b)}
    assert set(",".join(got).split(",")) == {"0", "1", "2", "3"} and len(got) == 2
    # A scheduler's allocation (e.g. SLURM: CUDA_VISIBLE_DEVICES=4,5) is the pool.
    c = jobs.start(1, CUDA_VISIBLE_DEVICES="4,5")
    d = jobs.start(1, CUDA_VISIBLE_DEVICES="4,5")
    assert {devices_of(c), devices_of(d)} == {"4", "5"}


def test_no_gpu_asked_or_no_choice_leaves_the_environment_alone(jobs):
    assert devices_of(jobs.start(0)) == "None"  # gpu=0: no claim, nothing set
    assert devices_of(jobs.start(1, TA_GPU_DEVICES="")) == "None"  # CPU-only machine
    assert devices_of(jobs.start(1, CUDA_VISIBLE_DEVICES="7")) == "7"  # scheduler chose
