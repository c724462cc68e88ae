"""Give each concurrent job its own GPU(s) on a machine with several.

Snakemake counts ``gpu`` resources (so no more jobs run than there are GPUs) but it
does not say *which* device a job should use, so by default every job would pick
device 0. A job started through :func:`main` claims free devices from the pool with
an exclusive ``flock`` on one lock file per device, exports them as
``CUDA_VISIBLE_DEVICES`` and then ``exec``s the real command, which inherits the
locks. The kernel drops a lock when the last process holding it ends, however it
ends (exit, crash, SIGKILL), so a device can never stay claimed by a dead job.

The pool is, in order: ``CUDA_VISIBLE_DEVICES`` when set (for example a SLURM
allocation of several GPUs shared by a group of jobs), ``TA_GPU_DEVICES`` (a
comma-separated list), or the GPUs ``nvidia-smi -L`` lists. Lock files live in
``TA_GPU_LOCK_DIR`` (default: a folder under the temp dir, per SLURM job if any).
Imports nothing heavy: it runs before every fine-tune.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

POLL_S = 0.2


def device_pool(env=os.environ) -> list[str]:
    """The devices this job may choose from (may be empty: no GPU)."""
    for var in ("CUDA_VISIBLE_DEVICES", "TA_GPU_DEVICES"):
        if env.get(var) is not None:
            return [d.strip() for d in env[var].split(",") if d.strip()]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, ln in enumerate(out.stdout.splitlines()) if ln.startswith("GPU ")]


def lock_dir(env=os.environ) -> Path:
    if env.get("TA_GPU_LOCK_DIR"):
        return Path(env["TA_GPU_LOCK_DIR"])
    base = Path(tempfile.gettempdir()) / "transfer-atlas-gpu-locks"
    # Inside a SLURM job, device numbers are the allocation's own: keep them apart.
    return base / f"slurm-{env['SLURM_JOB_ID']}" if env.get("SLURM_JOB_ID") else base


def try_claim(device: str, folder: Path) -> int | None:
    """An open, exclusively locked fd for ``device``, or None if another job holds it."""
    fd = os.open(folder / f"gpu{device}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())  # who holds it, for people looking
    return fd


def claim(n: int, pool: list[str], folder: Path, timeout_s: float | None = None):
    """Wait until ``n`` devices of ``pool`` are free; return (devices, lock fds)."""
    if n > len(pool):
        raise ValueError(f"the job asks for {n} GPU(s) but only {len(pool)} exist: {pool}")
    folder.mkdir(parents=True, exist_ok=True)
    start, told = time.monotonic(), False
    while True:
        held = []
        for device in pool:
            fd = try_claim(device, folder)
            if fd is not None:
                held.append((device, fd))
                if len(held) == n:
                    return [d for d, _ in held], [fd for _, fd in held]
        for _, fd in held:  # not enough: give back and wait, so jobs never deadlock
            os.close(fd)
        if timeout_s is not None and time.monotonic() - start > timeout_s:
            raise TimeoutError(f"no {n} free GPU(s) among {pool} after {timeout_s} s")
        if not told:
            print(f"waiting for {n} free GPU(s) among {pool} ({folder})", file=sys.stderr)
            told = True
        time.sleep(POLL_S)


def main(argv: list[str] | None = None) -> int:
    """``with_gpus.py N command...``: run command on N devices of its own."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2 or argv[0] in ("-h", "--help"):
        print(__doc__.split("\n\n")[0] + "\n\nusage: with_gpus.py N_GPUS COMMAND [ARGS...]")
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    n, command = int(float(argv[0])), argv[1:]
    pool = device_pool()
    env = dict(os.environ)
    if n > 0 and len(pool) > n:
        devices, fds = claim(n, pool, lock_dir())
        for fd in fds:
            os.set_inheritable(fd, True)  # the command holds the locks until it ends
        env["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
        print(f"GPU(s) {','.join(devices)} of {','.join(pool)}", file=sys.stderr, flush=True)
    elif n > 0:  # nothing to choose: say what the job has
        has = ",".join(pool) if pool else "none found"
        print(f"GPU(s) {has} (asked for {n})", file=sys.stderr, flush=True)
    os.execvpe(command[0], command, env)


if __name__ == "__main__":
    sys.exit(main())
