"""The warm path's semantics: jobs forked from the warm server behave like cold jobs.

A failing job fails in Snakemake with its log; a killed job process or server does
not leave the client (the Snakemake job) hanging nor an orphan running; warm and cold
jobs write the same records; the client falls back to a cold start when no server
can be used. Each test module has its own server (private socket directory).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, load_yaml, snakemake, write_config

from transfer_atlas.runtime import wire

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(  # macOS: jobs run cold (tests/workflow/test_mac_like_study.py)
        not wire.warm_supported(env={})[0], reason="no warm starts on this platform"
    ),
]
TESTS = ROOT / "tests"  # warm_targets.py: job functions the warm server runs
# ...once registered: a server runs the project's entry points and those its starter names
TARGETS = "warm_targets:exits,warm_targets:sleeper,warm_targets:naps,warm_targets:blas_threads"
FINETUNE = str(ROOT / "scripts" / "finetune.py")


@pytest.fixture(scope="module")
def warm_dir(tmp_path_factory):
    """Environment of a private warm server (started by the first client that needs it)."""
    base = tmp_path_factory.mktemp("warm")
    env = {
        "TA_WARM": "1",
        "TA_WARM_DIR": str(base),
        "TA_WARM_IDLE": "30",
        "TA_WARM_TARGETS": TARGETS,
        "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT / "src")]),
    }
    yield env
    for sock in base.glob("*.sock"):  # a server whose socket is gone exits when idle
        sock.unlink()


def client(target: str, *argv: str, env: dict, **kw) -> subprocess.Popen:
    code = "import sys; from transfer_atlas.runtime.client import launch; "
    code += f"sys.exit(launch({target!r}))"
    return subprocess.Popen(
        [sys.executable, "-c", code, *argv], env={**os.environ, **env}, text=True, **kw
    )


def wait_for(path: Path, timeout: float = 240) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[1].split()[0] != "Z"


def test_a_warm_job_gets_the_blas_threads_its_environment_asks_for(warm_dir, tmp_path):
    """The server's pools are sized by the job that started it (OMP_NUM_THREADS=2 here);
    each forked job resizes them from its own environment, as a cold process would."""
    seen = []
    for i, threads in enumerate(["2", "1", "2"]):
        out = tmp_path / f"threads{i}.txt"
        env = {**warm_dir, "OMP_NUM_THREADS": threads}
        assert client("warm_targets:blas_threads", str(out), env=env).wait(timeout=240) == 0
        seen.append(out.read_text())
    assert seen == ["2", "1", "2"]


def test_exit_status_and_output_pass_through(warm_dir, tmp_path):
    out = tmp_path / "out.txt"
    with open(out, "w") as fh:
        proc = client("warm_targets:exits", "3", env=warm_dir, stdout=fh, stderr=fh)
        assert proc.wait(timeout=240) == 3
    assert out.read_text().splitlines() == ["out warm", "err"]


def test_killed_job_process_fails_its_client(warm_dir, tmp_path):
    pidfile = tmp_path / "pid"
    proc = client("warm_targets:sleeper", str(pidfile), env=warm_dir)
    child, server, startup = wait_for(pidfile).split()
    assert startup == "warm" and int(server) != proc.pid
    os.kill(int(child), signal.SIGKILL)
    assert proc.wait(timeout=20) == 128 + signal.SIGKILL


def test_killed_client_kills_its_job(warm_dir, tmp_path):
    pidfile = tmp_path / "pid"
    proc = client("warm_targets:sleeper", str(pidfile), env=warm_dir)
    child = int(wait_for(pidfile).split()[0])
    proc.kill()  # what Snakemake does to a job it cancels
    proc.wait()
    deadline = time.time() + 20
    while alive(child) and time.time() < deadline:
        time.sleep(0.05)
    assert not alive(child)


def test_a_job_ends_for_its_client_while_a_later_job_runs(warm_dir, tmp_path):
    """No job process holds another client's connection: a client returns when its own
    job ends, not when a job forked after it (which inherited the server's open
    descriptors) ends too."""
    first = client("warm_targets:naps", str(tmp_path / "first"), "3", env=warm_dir)
    assert wait_for(tmp_path / "first") == "warm"
    later = client("warm_targets:sleeper", str(tmp_path / "pid"), env=warm_dir)
    wait_for(tmp_path / "pid")  # forked while the first job still naps
    try:
        assert first.wait(timeout=60) == 0
        assert later.poll() is None
    finally:
        later.kill()
        later.wait()


def test_killed_server_fails_the_client_and_takes_the_job_down(warm_dir, tmp_path):
    pidfile = tmp_path / "pid"
    proc = client("warm_targets:sleeper", str(pidfile), env=warm_dir)
    child, server, _ = map(str, wait_for(pidfile).split())
    os.kill(int(server), signal.SIGKILL)
    assert proc.wait(timeout=20) != 0
    deadline = time.time() + 20
    while alive(int(child)) and time.time() < deadline:
        time.sleep(0.05)
    assert not alive(int(child)), "the job outlived its server"
    # the next client starts a new server
    out = tmp_path / "again"
    with open(out, "w") as fh:
        again = client("warm_targets:exits", "0", env=warm_dir, stdout=fh, stderr=fh)
        assert again.wait(timeout=240) == 0
    assert out.read_text().startswith("out warm")


def test_falls_back_to_cold_when_no_server_can_be_used(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")  # the socket directory cannot be created here
    env = {
        "TA_WARM": "1",
        "TA_WARM_DIR": str(blocker / "warm"),
        "TA_WARM_TARGETS": TARGETS,
        "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT / "src")]),
    }
    proc = client(
        "warm_targets:exits", "0", env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0
    assert out.startswith("out cold") and "running cold" in err


FAILING = {
    "study": "warm_fail",
    "datasets": {"tgt": {"source": {"kind": "generated", "per_class": 12, "image_size": 8}}},
    "models": {
        "cnn": {
            "arch": "timm/test_resnet",
            "input_size": 8,
            "weights": {"pretrain": "tgt"},
        }
    },
    "train": {"epochs": 1, "batch_size": 8},
    # timm models' group counts are known only once built: freezing 9 of test_resnet's
    # groups passes the DAG-time checks and fails in the job, before training
    "grid": {
        "targets": ["tgt"],
        "models": ["cnn"],
        "freeze": [9],
        "sizes": [8],
        "seeds": [0],
        "scratch": False,
    },
}


def test_failing_job_fails_in_snakemake_with_its_log(warm_dir, tmp_path):
    path = write_config(tmp_path / "config.yaml", FAILING)
    proc = snakemake(tmp_path, "--cores", "1", configfile=path, check=False, env=warm_dir)
    assert proc.returncode != 0
    log = tmp_path / "logs" / "finetune" / "tgt" / "cnn" / "pretrained_f9_n8_s0.log"
    assert "freeze depth 9 is beyond" in log.read_text()
    assert "freeze depth 9 is beyond" in proc.stdout + proc.stderr  # shown by Snakemake
    assert (tmp_path / "results" / "weights" / "cnn.safetensors").exists()  # ran warm too
    assert not list((tmp_path / "results").rglob("runs/**/*.json"))


def _comparable(rec: dict) -> dict:
    rec = json.loads(json.dumps(rec))
    rec.pop("timing")
    return rec


def test_warm_and_cold_jobs_write_identical_records(tiny_study, tmp_path):
    """Two jobs of the tiny study (plain torch, timm) rerun cold give the same records;
    report-side jobs (a t-SNE map, a timm model's pictures, the tables) the same bytes."""
    work, cfg = tiny_study
    dst = tmp_path / "w"
    shutil.copytree(work, dst, symlinks=True)
    runs = Path("results/runs/tgt")
    picked = [runs / "cnn" / "pretrained_fall_n8_s0.json", runs / "tres" / "scratch_f0_n8_s0.json"]
    same_bytes = [
        Path("results/explore/embeddings/tgt/pixels.json"),
        Path("results/explore/models/tres.json"),
        Path("results/best_settings.csv"),
        Path("results/findings.md"),
    ]
    for rel in picked + same_bytes:
        (dst / rel).unlink()
    cfg_path = write_config(dst / "config.yaml", load_yaml(cfg))
    snakemake(
        dst,
        "--cores",
        "2",
        *map(str, picked + same_bytes),  # after a one-value option, not --configfile
        configfile=cfg_path,
        env={"TA_WARM": "0"},
    )
    for rel in picked:
        warm, cold = (json.loads((w / rel).read_text()) for w in (work, dst))
        assert warm["timing"]["startup"] == "warm" and cold["timing"]["startup"] == "cold"
        assert _comparable(warm) == _comparable(cold)
    for rel in same_bytes:
        assert (work / rel).read_bytes() == (dst / rel).read_bytes(), rel
