"""The client side of a warm start: what a job's own process runs (server: ``runtime.warm``).

Everything a job pays before its work reaches the warm server counts in its fixed
cost, so this module imports only what the interpreter has already loaded (``os``,
``sys``, ``time``) plus ``_socket`` and ``zlib`` (C modules, well under a millisecond):
no ``socket``/``enum``, ``json``/``re``, ``hashlib``/OpenSSL or ``pathlib``. The wire
format and the checks that make it safe on a shared machine are in
``transfer_atlas.runtime.wire``. Starting a server and the cold path live in
``transfer_atlas.runtime.start``, imported only when they are needed.
"""

from __future__ import annotations

import os
import sys

from transfer_atlas.runtime.wire import (
    EXTRA_TARGETS_ENV,
    MAX_HEADER,
    MAX_REPLY,
    connect,
    job_message,
    parse_reply,
    process_start_time,
    registered_targets,
    send_job,
    socket_path,
    target_name,
    warm_supported,
)


def _cold(target, argv: list[str], t0: float) -> int:
    from transfer_atlas.runtime.start import run_cold

    return run_cold(target, argv, t0)


def launch(target, argv: list[str] | None = None, profile: str = "torch", table=()) -> int:
    """Run ``target(argv)`` warm through the fork server if possible, else cold.

    ``target`` is a job function (or a ``module:function`` name) of ``table``, the jobs
    a server of this ``profile`` may run (``transfer_atlas.jobs`` hands its own), or one
    named in ``TA_WARM_TARGETS``; checked on either path, so that warm and
    cold agree. Runtime imports no job: what it runs, it is handed.
    """
    argv = sys.argv[1:] if argv is None else argv
    t0 = process_start_time()
    name = target_name(target)
    listed = [*(target_name(t) for t in table), os.environ.get(EXTRA_TARGETS_ENV, "")]
    listed = ",".join(n for n in listed if n)  # the server's names, and part of its key
    if not _registered(name, listed):
        return 2
    wants_help = any(a in ("-h", "--help") for a in argv)
    if os.environ.get("TA_WARM", "1") == "0" or wants_help:
        return _cold(target, argv, t0)
    supported, why = warm_supported()
    if not supported:  # e.g. macOS: decided before anything is started or forked
        print(f"warm starts off on this platform ({why}); running cold", file=sys.stderr)
        return _cold(target, argv, t0)
    try:
        message = job_message(name, argv, os.getcwd(), os.environ, t0)
        if len(message) > MAX_HEADER:
            raise RuntimeError(f"the job's arguments and environment exceed {MAX_HEADER} bytes")
        path = socket_path(profile, listed)
        try:
            conn = connect(path)
        except OSError:
            from transfer_atlas.runtime.start import connect_or_start

            conn = connect_or_start(path, profile, listed)
    except (OSError, RuntimeError) as exc:  # Unsafe, WarmUnavailable, oversize header
        print(f"warm start unavailable ({exc}); running cold", file=sys.stderr, flush=True)
        return _cold(target, argv, t0)
    sys.stdout.flush()
    sys.stderr.flush()
    send_job(conn, message, [sys.stdin.fileno(), sys.stdout.fileno(), sys.stderr.fileno()])
    return _exit_status(conn)


def _registered(name: str, listed: str) -> bool:
    """Whether ``name`` is a job a server may run; says why not on stderr."""
    try:
        known = name in registered_targets(listed)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return False
    if not known:
        where = f"the job table or {EXTRA_TARGETS_ENV}"
        print(f"error: {name!r} is not a registered job entry point ({where})", file=sys.stderr)
    return known


def _exit_status(conn) -> int:
    """The job's exit status from the server's reply (70: no or a bad reply)."""
    reply = b""
    while len(reply) <= MAX_REPLY and (chunk := conn.recv(4096)):
        reply += chunk
    conn.close()
    if not reply:
        print("error: warm server went away before the job finished", file=sys.stderr)
        return 70
    try:
        kind, value = parse_reply(reply)
    except ValueError as exc:
        print(f"error: bad reply from the warm server ({exc})", file=sys.stderr)
        return 70
    if kind == "refused":
        print(f"error: the warm server refused the job: {value}", file=sys.stderr)
        return 2
    if kind == "signal":
        print(f"error: job process killed by signal {value}", file=sys.stderr)
        return 128 + value
    return value
