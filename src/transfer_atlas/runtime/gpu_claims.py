"""Give each concurrent job its own GPU(s) on a machine with several: GPU slot claims, one
lock file per slot (the torch device a job then computes on: ``nn.torch_device``).

Snakemake counts ``gpu`` resources (so no more jobs run than there are GPUs) but it
does not say *which* device a job should use, so by default every job would pick
device 0. A job started through :func:`main` claims free devices from the pool with
an exclusive ``flock`` on one lock file per device, exports them as
``CUDA_VISIBLE_DEVICES`` and then ``exec``s the real command, which inherits the
locks. The kernel drops a lock when the last process holding it ends, however it
ends (exit, crash, SIGKILL), so a device can never stay claimed by a dead job.

The pool is, in order: ``CUDA_VISIBLE_DEVICES`` when set (for example a SLURM
allocation of several GPUs shared by a group of jobs), ``TA_GPU_DEVICES`` (a
comma-separated list; the workflow sets it once per run), the GPUs ``nvidia-smi -L``
lists, or on a Mac with Apple silicon its one GPU, ``mps``. ``TA_GPU_SLOTS`` (k, default
1) lets k jobs share each device: slot j of device d is its own lock file. A job that
claims no GPU on a machine that has some is kept off them (:func:`hide_gpus`). Lock
files live in ``TA_GPU_LOCK_DIR`` (default: a folder under the temp dir; inside a SLURM job, one of
the user's own per job). Imports nothing heavy: it runs before every fine-tune.

Shared machine (docs/security.md): every user's jobs claim in the same folder, so jobs
of different users never share a device by accident. The folder is made like ``/tmp``
(anyone may add a lock file, nobody may remove another's) and checked; lock files are
opened read-only, ``O_NOFOLLOW``, and must be plain files, so that a symlink or link
another user plants there cannot make a job touch any other file; nothing is written
to them (``fuser gpu0.lock`` shows the holder). If the shared folder fails a check,
the job claims in a private folder instead, and says so in its log.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from transfer_atlas.runtime.wire import Unsafe, private_dir

POLL_S = 0.2


def device_pool(env=os.environ) -> list[str]:
    """The devices this job may choose from (may be empty: no GPU)."""
    for var in ("CUDA_VISIBLE_DEVICES", "TA_GPU_DEVICES"):
        if env.get(var) is not None:
            return [d.strip() for d in env[var].split(",") if d.strip()]
    if shutil.which("nvidia-smi") is not None:
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
            found = [i for i, ln in enumerate(out.stdout.splitlines()) if ln.startswith("GPU ")]
            if found:
                return [str(i) for i in found]
        except (OSError, subprocess.SubprocessError):
            pass
    return apple_gpu()


def apple_gpu(system: str = sys.platform, machine: str | None = None) -> list[str]:
    """``["mps"]`` on a Mac with Apple silicon (one GPU, which every job shares), else [].

    Read from the platform, not from torch, which this module must not import; torch
    on such a Mac has ``mps`` unless it is older than 1.12 or macOS older than 12.3."""
    import platform

    return ["mps"] if system == "darwin" and (machine or platform.machine()) == "arm64" else []


def gpu_slots(env=os.environ) -> int:
    """How many jobs may share one device at a time (``TA_GPU_SLOTS``, default 1)."""
    value = env.get("TA_GPU_SLOTS", "1")
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"TA_GPU_SLOTS={value!r}: give a whole number of jobs per GPU, >= 1")
    return int(value)


def plan_run(env, slots=None, small_models: bool = False) -> tuple[list[str], int]:
    """Once per workflow run: the devices its jobs claim from and the jobs per device,
    written to ``env`` (``TA_GPU_DEVICES``, ``TA_GPU_SLOTS``) for every job to read.

    ``slots``: the run's ``gpu_slots`` setting, else ``TA_GPU_SLOTS``, else a default
    that fits the study: models of the project's own small architectures use a few
    percent of a GPU, so 4 share a CUDA GPU (2 a laptop's Apple GPU, whose memory is the
    system's); anything else, one job per device.
    """
    pool = device_pool(env)
    env.setdefault("TA_GPU_DEVICES", ",".join(pool))
    if slots is None:
        slots = env.get("TA_GPU_SLOTS") or (1 if not small_models else 2 if pool == ["mps"] else 4)
    env["TA_GPU_SLOTS"] = str(slots).strip()
    try:
        return pool, gpu_slots(env)
    except ValueError:
        raise ValueError(
            f"gpu_slots={slots!r}: give a whole number of jobs per GPU, >= 1"
        ) from None


#: Read by ``transfer_atlas.nn.torch_device.pick_device`` (runtime imports core only, so the
#: name is written out in both places).
AUTO_DEVICE_ENV = "TA_AUTO_DEVICE"


def hide_gpus(env: dict) -> None:
    """Keep a job that claimed no GPU off every GPU: CUDA hides them all with an empty
    ``CUDA_VISIBLE_DEVICES``; an Apple GPU cannot be hidden, so ``device: auto`` is told
    to pick the CPU."""
    env["CUDA_VISIBLE_DEVICES"] = ""
    env[AUTO_DEVICE_ENV] = "cpu"


def lock_dir(env=os.environ) -> Path:
    """The checked folder to claim in: the one every user's jobs share, except inside a
    SLURM job, whose device numbers are its allocation's own (one user's): its own."""
    if env.get("TA_GPU_LOCK_DIR"):
        return shared_folder(Path(env["TA_GPU_LOCK_DIR"]))
    if env.get("SLURM_JOB_ID"):
        return private_lock_dir(env)
    return shared_folder(Path(tempfile.gettempdir()) / "transfer-atlas-gpu-locks")


def private_lock_dir(env=os.environ) -> Path:
    """This user's own folder (per SLURM job if any): the first of
    :func:`private_lock_candidates` that passes its check; raises Unsafe naming every
    folder tried when none does (another user may have made or linked each one)."""
    problems = []
    for own in private_lock_candidates(env):
        try:
            folder = private_dir(own)
            if env.get("SLURM_JOB_ID"):
                folder = private_dir(os.path.join(folder, f"slurm-{env['SLURM_JOB_ID']}"))
            return Path(folder)
        except Unsafe as exc:
            problems.append(str(exc))
    raise Unsafe("; ".join(problems))


def private_lock_candidates(env=os.environ) -> list[str]:
    """Where this user's own lock folder may be: under the temp dir (which another user
    may occupy first), then ``$XDG_RUNTIME_DIR`` and the home folder (nobody else's)."""
    uid = os.getuid()
    found = [os.path.join(tempfile.gettempdir(), f"transfer-atlas-gpu-locks-{uid}")]
    if env.get("XDG_RUNTIME_DIR"):  # per user by design (systemd: /run/user/UID)
        found.append(os.path.join(env["XDG_RUNTIME_DIR"], "transfer-atlas-gpu-locks"))
    home = env.get("HOME") or os.path.expanduser("~")
    if home and home != "~":
        found.append(os.path.join(home, ".cache", "transfer-atlas", f"gpu-locks-{uid}"))
    return found


def shared_folder(folder: Path) -> Path:
    """``folder``, created like ``/tmp`` (mode 1777) if missing, once checked: a real
    directory, sticky if others may write in it (else anyone could delete a held lock
    file, and the next job would lock a new file for the same device)."""
    try:
        if not os.path.lexists(folder):
            folder.parent.mkdir(parents=True, exist_ok=True)
            try:
                folder.mkdir(0o700)
                os.chmod(folder, 0o1777)  # after mkdir: the umask would clear the bits
            except FileExistsError:  # another job made it first: check that one
                pass
        st = os.lstat(folder)
    except OSError as exc:
        raise Unsafe(f"cannot create {folder}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise Unsafe(f"{folder} is not a directory (a symbolic link?)")
    if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
        raise Unsafe(f"{folder} (mode {st.st_mode & 0o777:o}) lets anyone delete lock files")
    return folder


def lock_name(device: str, slot: int = 0) -> str:
    """Slot 0 keeps the name of one-job-per-device claims (``gpu0.lock``)."""
    return f"gpu{device}.lock" if slot == 0 else f"gpu{device}.slot{slot}.lock"


def try_claim(device: str, folder: Path, slot: int = 0) -> int | None:
    """An open, exclusively locked fd for ``slot`` of ``device``, or None if another job
    holds it.

    Read-only (``flock`` needs no more, and another user's lock file is read-only to
    us), not through a symlink, non-blocking (a FIFO planted here must not hang us).
    Created with ``O_EXCL`` when missing, and opened without ``O_CREAT`` otherwise:
    where ``fs.protected_regular`` is on, ``O_CREAT`` on another user's file fails.
    """
    path = folder / lock_name(device, slot)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        try:
            fd = os.open(path, flags)
        except FileNotFoundError:
            try:
                fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o444)
            except FileExistsError:
                fd = os.open(path, flags)
    except OSError as exc:
        why = "a symbolic link" if exc.errno == errno.ELOOP else exc.strerror
        raise Unsafe(f"cannot use {path}: {why}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise Unsafe(f"{path} is not a regular file")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def claim(n: int, pool: list[str], folder: Path, timeout_s: float | None = None, slots: int = 1):
    """Wait until a free slot on each of ``n`` distinct devices of ``pool``; return
    (devices, lock fds). Slots are tried slot by slot across the pool, so jobs spread
    over every device before any device takes a second job."""
    if n > len(pool):
        raise ValueError(f"the job asks for {n} GPU(s) but only {len(pool)} exist: {pool}")
    start, told = time.monotonic(), False
    while True:
        held = []
        try:
            for slot in range(slots):
                for device in pool:
                    if device in (d for d, _ in held):
                        continue
                    fd = try_claim(device, folder, slot)
                    if fd is not None:
                        held.append((device, fd))
                        if len(held) == n:
                            return [d for d, _ in held], [fd for _, fd in held]
        finally:
            if len(held) < n:  # not enough (or a fault): give back, so jobs never deadlock
                for _, fd in held:
                    os.close(fd)
        if timeout_s is not None and time.monotonic() - start > timeout_s:
            raise TimeoutError(f"no {n} free GPU(s) among {pool} after {timeout_s} s")
        if not told:
            where = f"{pool}, {slots} job(s) each" if slots > 1 else f"{pool}"
            print(f"waiting for {n} free GPU(s) among {where} ({folder})", file=sys.stderr)
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
    try:
        slots = gpu_slots()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if n > 0 and pool and n <= len(pool):  # claim even the only device: k slots bound it
        try:
            devices, fds = claim(n, pool, lock_dir(), slots=slots)
        except Unsafe as exc:  # planted by another user, or made by hand: not ours to fix
            try:
                folder = private_lock_dir()
            except Unsafe as again:
                print(f"error: no safe GPU lock folder: {exc}; {again}", file=sys.stderr)
                return 1
            print(
                f"GPU lock folder not safe to use ({exc}); claiming in {folder}, which does "
                "not keep other users' jobs off these GPUs",
                file=sys.stderr,
                flush=True,
            )
            devices, fds = claim(n, pool, folder, slots=slots)
        for fd in fds:
            os.set_inheritable(fd, True)  # the command holds the locks until it ends
        if devices != ["mps"]:  # an Apple GPU is not a CUDA device; auto finds it
            env["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
        env.pop(AUTO_DEVICE_ENV, None)
        print(f"GPU(s) {','.join(devices)} of {','.join(pool)}", file=sys.stderr, flush=True)
    elif n > 0:  # nothing to choose: say what the job has
        has = ",".join(pool) if pool else "none found"
        print(f"GPU(s) {has} (asked for {n})", file=sys.stderr, flush=True)
    elif pool:
        hide_gpus(env)
    os.execvpe(command[0], command, env)


if __name__ == "__main__":
    sys.exit(main())
