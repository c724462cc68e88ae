"""Atomic file output: a reader sees the old file or the complete new one, never half.

Every output of the workflow goes through these helpers, so a job killed at any
moment leaves no partial record, cache or table behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    The temporary file lives in the same directory so the final ``os.replace`` is a
    single atomic rename on one file system. On error the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(
        prefix=_temp_prefix(path, os.getpid()), suffix=".tmp", dir=path.parent
    )
    # mkstemp creates 0600; give the result the mode a plain open() would have.
    os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _temp_prefix(path: Path, pid: int) -> str:
    # Host and pid in the name let a later writer tell a dead writer's leftover from a
    # live one's file in progress (on a shared file system too: only same-host checks).
    return f".{path.name}~{socket.gethostname()}~{pid}~"


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Delete temporary files beside ``path`` left by killed writers on this host.

    A SIGKILL between ``mkstemp`` and the rename leaves a hidden ``.name~host~pid~*.tmp``;
    the next write of the same output removes it if that pid no longer exists.
    """
    path = Path(path)
    mine = f".{path.name}~{socket.gethostname()}~"
    removed = []
    try:
        entries = [e.name for e in os.scandir(path.parent) if e.name.startswith(mine)]
    except FileNotFoundError:
        return removed
    for name in entries:
        if not name.endswith(".tmp"):
            continue
        try:
            pid = int(name[len(mine) :].split("~", 1)[0])
        except ValueError:
            continue
        if pid_alive(pid):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path.parent / name)
            removed.append(path.parent / name)
    return removed


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)


def write_json(path: str | os.PathLike, obj) -> None:
    write_text(path, json.dumps(obj, indent=1, sort_keys=True, allow_nan=False) + "\n")


def write_csv(path: str | os.PathLike, frame) -> None:
    """A pandas DataFrame as CSV, without its index (pandas is not imported here)."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
