"""Starting a warm server, and the cold path: what a client needs when no server answers.

Imported only on those paths (never by a warm job's own process on the fast path).
"""

from __future__ import annotations

import fcntl
import importlib
import os
import subprocess
import sys
import time

from transfer_atlas.runtime.wire import SRC_DIR, connect

START_TIMEOUT_S = 180.0


def resolve_target(target: str):
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


def run_cold(target, argv: list[str], t0: float) -> int:
    """Run ``target`` (a job function, or its ``module:function`` name) in this process."""
    job = resolve_target(target) if isinstance(target, str) else target
    return job(argv, t_start=t0, startup="cold") or 0


class WarmUnavailable(RuntimeError):
    pass


def connect_or_start(path: str, profile: str = "torch", extra_targets: str = ""):
    """Connect to the server at ``path``, starting it first if none is running.

    The server runs the registered entry points and those of ``extra_targets``
    (comma-separated), which it gets on its command line from this, its starter.
    """
    try:
        return connect(path)
    except OSError:
        pass
    with open(f"{path}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one client starts the server, the others wait
        try:
            return connect(path)
        except OSError:
            pass
        log = open(f"{path}.log", "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "transfer_atlas.runtime.warm", "serve", path, profile]
            + [t.strip() for t in extra_targets.split(",") if t.strip()],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env={
                **os.environ,
                "PYTHONPATH": os.pathsep.join(
                    filter(None, [os.path.dirname(SRC_DIR), os.environ.get("PYTHONPATH")])
                ),
            },
        )
        deadline = time.time() + START_TIMEOUT_S
        while time.time() < deadline:
            try:
                return connect(path)
            except OSError as exc:
                if proc.poll() is not None:
                    msg = f"server exited with {proc.returncode}; see {path}.log"
                    raise WarmUnavailable(msg) from exc
                time.sleep(0.05)
        raise WarmUnavailable("server did not start in time")


# ---------------------------------------------------------------- server side
