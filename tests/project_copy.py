"""A throwaway copy of the project as its own git repository (for DVC and SLURM tests)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import snakemake_forks

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the environment running the tests
# Tests never reach the network: no DVC analytics or update checks either.
GIT_ENV = {
    "DVC_NO_ANALYTICS": "1",
    "GIT_AUTHOR_NAME": "Transfer Atlas tests",
    "GIT_AUTHOR_EMAIL": "tests@transfer-atlas.invalid",
    "GIT_COMMITTER_NAME": "Transfer Atlas tests",
    "GIT_COMMITTER_EMAIL": "tests@transfer-atlas.invalid",
}


def run(cmd: list[str], cwd: Path, timeout: int = 600, **env) -> str:
    """Run a command; on failure raise with its output (the test then shows why)."""
    env = {**os.environ, **GIT_ENV, **env}
    if cmd[0] == str(BIN / "snakemake"):  # in a fork of a process that imported it
        proc = snakemake_forks.run(cmd, env, timeout, cwd=cwd)
    else:
        proc = subprocess.run(
            cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
        )
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, cmd))} failed ({proc.returncode}) in {cwd}:\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc.stdout + proc.stderr


def project_files() -> list[str]:
    """The files a fresh clone of this checkout would have (tracked + new, not ignored)."""
    out = run(["git", "ls-files", "-co", "--exclude-standard", "-z"], ROOT)
    return [f for f in out.split("\0") if f and f != ".venv" and (ROOT / f).is_file()]


def copy_project(dst: Path) -> Path:
    """Copy the project's files to ``dst`` and commit them there: a repo to clone from."""
    for rel in project_files():
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    run(["git", "init", "-q", "-b", "main"], dst)
    run(["git", "add", "-A"], dst)
    run(["git", "commit", "-q", "-m", "project"], dst)
    return dst
