"""GPU assignment for concurrent jobs (transfer_atlas.runtime.gpu_claims), checked without a GPU.

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

from transfer_atlas.runtime.gpu_claims import apple_gpu, plan_run

WITH_GPUS = str(ROOT / "scripts" / "with_gpus.py")
FAKE_JOB = (
    "import os, time; print(os.environ.get('CUDA_VISIBLE_DEVICES'), flush=True); time.sleep(60)"
)
# ...and what ``device: auto`` is told (nn.torch_device.AUTO_DEVICE_ENV), for Apple GPUs
SEES = (
    "import os, time; e = os.environ; "
    "print(e.get('CUDA_VISIBLE_DEVICES'), e.get('TA_AUTO_DEVICE'), sep='|', "
    "flush=True); "
    "time.sleep(60)"
)


@pytest.fixture
def gpu_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID")}
    return {**env, "TA_GPU_DEVICES": "0,1,2", "TA_GPU_LOCK_DIR": str(tmp_path / "locks")}


class Jobs:
    def __init__(self, env):
        self.env, self.procs = env, []

    def start(self, n_gpus: int = 1, job: str = FAKE_JOB, **extra_env) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, WITH_GPUS, str(n_gpus), sys.executable, "-c", job],
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


def test_a_job_that_claims_no_gpu_uses_none_and_cpu_machines_are_left_alone(jobs):
    # gpu=0 on a machine with GPUs: every GPU hidden, and `auto` told to pick the CPU
    assert devices_of(jobs.start(0, job=SEES)) == "|cpu"
    assert devices_of(jobs.start(0, job=SEES, TA_GPU_DEVICES="mps")) == "|cpu"
    no_gpus = {"TA_GPU_DEVICES": ""}  # CPU-only machine: nothing set
    assert devices_of(jobs.start(0, job=SEES, **no_gpus)) == "None|None"
    assert devices_of(jobs.start(1, job=SEES, **no_gpus)) == "None|None"
    assert devices_of(jobs.start(1, CUDA_VISIBLE_DEVICES="7")) == "7"  # scheduler chose
    # a job that claims takes its device, whatever the run's default says
    claimed = jobs.start(1, job=SEES, TA_AUTO_DEVICE="cpu", TA_GPU_DEVICES="3")
    assert devices_of(claimed) == "3|None"


def test_k_slots_share_one_apple_gpu_and_no_more_jobs_run_on_it(jobs):
    """A Mac: one device (``mps``), two slots. No CUDA variable, `auto` left to find it."""
    mac = {"TA_GPU_DEVICES": "mps", "TA_GPU_SLOTS": "2"}
    first = [jobs.start(1, job=SEES, **mac) for _ in range(2)]
    assert [devices_of(p) for p in first] == ["None|None", "None|None"]
    third = jobs.start(1, job=SEES, **mac)
    time.sleep(1.0)  # a job not held back prints well within 1 s
    assert third.poll() is None  # both slots held: it waits
    os.kill(first[0].pid, signal.SIGKILL)
    first[0].wait()
    assert devices_of(third) == "None|None"
    assert (
        "waiting for 1 free GPU(s) among ['mps'], 2 job(s) each"
        in os.read(third.stderr.fileno(), 4096).decode()
    )


def test_slots_fill_every_device_before_doubling_up(jobs):
    two = {"TA_GPU_DEVICES": "0,1", "TA_GPU_SLOTS": "2"}
    got = []
    for _ in range(4):  # one at a time, so that the order is the claim order
        got.append(devices_of(jobs.start(**two)))
    assert sorted(got[:2]) == ["0", "1"] and sorted(got[2:]) == ["0", "1"]
    fifth = jobs.start(**two)
    time.sleep(1.0)  # a job not held back prints well within 1 s
    assert fifth.poll() is None


def test_a_bad_slot_count_is_named(gpu_env):
    proc = subprocess.run(
        [sys.executable, WITH_GPUS, "1", sys.executable, "-c", "print('ran')"],
        capture_output=True,
        text=True,
        env={**gpu_env, "TA_GPU_SLOTS": "0"},
        timeout=60,
    )
    assert proc.returncode == 2 and "ran" not in proc.stdout
    assert "TA_GPU_SLOTS='0': give a whole number of jobs per GPU, >= 1" in proc.stderr


def test_an_apple_silicon_mac_has_one_gpu():
    assert apple_gpu("darwin", "arm64") == ["mps"]
    assert apple_gpu("darwin", "x86_64") == [] and apple_gpu("linux", "arm64") == []


def test_a_run_finds_its_devices_once_and_picks_slots_for_its_models():
    """What setup.smk does once per run (``plan_run``), with fake device lists."""
    env = {"TA_GPU_DEVICES": "0,1"}
    assert plan_run(env, small_models=True) == (["0", "1"], 4)  # small CNNs: 4 per GPU
    assert env["TA_GPU_SLOTS"] == "4"
    assert plan_run({"TA_GPU_DEVICES": "0,1"}, small_models=False) == (["0", "1"], 1)
    assert plan_run({"TA_GPU_DEVICES": "mps"}, small_models=True) == (["mps"], 2)  # a laptop
    assert plan_run({"TA_GPU_DEVICES": "0"}, slots=3, small_models=True) == (["0"], 3)
    env = {"CUDA_VISIBLE_DEVICES": "4,5"}  # a scheduler's allocation is the run's pool
    assert plan_run(env)[0] == ["4", "5"] and env["TA_GPU_DEVICES"] == "4,5"
    with pytest.raises(ValueError, match="gpu_slots='two': give a whole number"):
        plan_run({"TA_GPU_DEVICES": "0"}, slots="two")
