"""The tests' ``snakemake`` calls, each in a fresh process forked from one that has
already imported Snakemake.

A ``snakemake`` command spends most of its start-up importing Snakemake, its plugins (the
SLURM plugin imports pandas) and smart_open: a dry run costs 1.8 CPU-seconds as a command
and 0.5 forked (``benchmarks/snakemake_calls.py``), and the suite makes about 80 calls.
Here each pytest worker starts one server process (``python tests/snakemake_forks.py``)
that imports those modules, and nothing of the project, once; every call is then a child
forked from it that runs ``snakemake.cli.main`` with the call's arguments, environment,
working directory and output files, as the ``snakemake`` console script would, in its own
session, so that a timeout can kill it with its jobs. Calls that need a real process of
their own (the crash test kills one, SLURM starts its own) run the console script; so does
every call with ``TA_TEST_SNAKEMAKE=exec``. docs/testing.md.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

MODE_ENV = "TA_TEST_SNAKEMAKE"  # "exec": run the console script for every call


def _preload() -> None:
    """Import what every ``snakemake`` call imports before it reads the Snakefile."""
    import importlib
    import pkgutil

    import smart_open  # noqa: F401  (Snakemake imports it at its first include)
    import snakemake.cli  # noqa: F401

    for module in pkgutil.iter_modules():  # the plugins, found the way Snakemake finds them
        if module.ispkg and module.name.startswith("snakemake_") and "_plugin_" in module.name:
            importlib.import_module(module.name)


def _child(request: dict, reply_fd: int) -> None:
    """Run one call in this forked process and leave with its exit status."""
    code = 1
    try:
        os.close(reply_fd)
        os.setsid()
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        for fd, path, flags in (
            (0, os.devnull, os.O_RDONLY),
            (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
            (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        ):
            opened = os.open(path, flags)
            os.dup2(opened, fd)
            os.close(opened)
        sys.argv = list(request["argv"])
        from snakemake.cli import main

        try:
            main()
            code = 0
        except SystemExit as exc:  # how the console script ends
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:
                print(exc.code, file=sys.stderr)
        import atexit

        atexit._run_exitfuncs()  # noqa: SLF001  (what interpreter exit would run)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001, S110  (a closed stream: nothing to flush)
                pass
        os._exit(code)


def serve() -> None:
    """Read one JSON request per line on stdin; answer its pid, then its exit status."""
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # what an import prints goes to stderr, never into the answers
    _preload()
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(request, reply.fileno())
        reply.write(json.dumps({"pid": pid}) + "\n")
        _, status, usage = os.wait4(pid, 0)
        cpu_s = usage.ru_utime + usage.ru_stime  # the call's, with the jobs it waited for
        reply.write(json.dumps({"rc": os.waitstatus_to_exitcode(status), "cpu_s": cpu_s}) + "\n")


# Read when an interpreter starts (the import path, hashing, the loader): a call that
# sets one differently from the server's own environment gets a process of its own.
AT_START = ("PYTHON", "LD_")


def _at_start(env: dict) -> dict:
    return {k: v for k, v in env.items() if k.startswith(AT_START)}


class _Server:
    """This worker's server, started at its first call."""

    proc: subprocess.Popen | None = None
    env: dict = {}

    @classmethod
    def get(cls) -> subprocess.Popen:
        if cls.proc is None or cls.proc.poll() is not None:
            cls.env = _at_start(os.environ)
            cls.proc = subprocess.Popen(
                [sys.executable, __file__],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
        return cls.proc


def _read(proc: subprocess.Popen, timeout: float | None) -> dict | None:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        return None
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError("the snakemake fork server died (tests/snakemake_forks.py)")
    return json.loads(line)


def _stop(server: subprocess.Popen, pid: int) -> None:
    """Kill a call with its jobs, and read the server's answer for it."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:  # it ended just now, and the server has its answer
        pass
    _read(server, 60)


def forked(
    argv: list[str], env: dict, timeout: float, cwd: Path | None = None
) -> tuple[subprocess.CompletedProcess, float]:
    """The call in a child of this worker's server: what ``subprocess.run`` would return,
    and the child's CPU seconds."""
    server = _Server.get()
    with tempfile.TemporaryDirectory(prefix="snakemake-call-") as tmp:
        out, err = Path(tmp, "stdout"), Path(tmp, "stderr")
        request = {"argv": argv, "env": env, "cwd": str(cwd or os.getcwd())}
        server.stdin.write(json.dumps({**request, "stdout": str(out), "stderr": str(err)}) + "\n")
        pid = _read(server, None)["pid"]
        try:
            done = _read(server, timeout)
        except BaseException:  # Ctrl-C: the call is in a session of its own, so stop it here
            _stop(server, pid)
            raise
        if done is None:  # as subprocess.run would, but the call's jobs go with it
            _stop(server, pid)
            raise subprocess.TimeoutExpired(argv, timeout, out.read_text(), err.read_text())
        proc = subprocess.CompletedProcess(argv, done["rc"], out.read_text(), err.read_text())
        return proc, done["cpu_s"]


def run(
    argv: list[str], env: dict, timeout: float, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """``subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
    timeout=timeout)`` for a ``snakemake`` command line: forked (:func:`forked`) unless
    ``TA_TEST_SNAKEMAKE=exec`` or the call sets what an interpreter reads at start-up."""
    if os.environ.get(MODE_ENV, "fork") != "exec":
        _Server.get()
        if _at_start(env) == _Server.env:
            return forked(argv, env, timeout, cwd)[0]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


if __name__ == "__main__":
    serve()
