"""The client side of a warm start: what a job's own process runs (server: ``runtime.warm``).

Everything a job pays before its work reaches the warm server counts in its fixed
cost, so this module imports only what the interpreter has already loaded (``os``,
``sys``, ``time``, ``marshal``) plus ``_socket`` and ``zlib`` (C modules, well under a
millisecond): no ``socket``/``enum``, ``json``/``re``, ``hashlib``/OpenSSL or
``pathlib``. The header goes over as ``marshal`` data, which the server (same
interpreter: the socket path includes ``sys.executable``) reads back exactly.
Starting a server and the cold path live in ``transfer_atlas.runtime.start``, imported only
when they are needed.
"""

from __future__ import annotations

import marshal
import os
import sys

from transfer_atlas.runtime.wire import connect, process_start_time, send_job, socket_path


def launch(target: str, argv: list[str] | None = None, profile: str = "torch") -> int:
    """Run ``target(argv)`` warm through the fork server if possible, else cold."""
    argv = sys.argv[1:] if argv is None else argv
    t0 = process_start_time()
    wants_help = any(a in ("-h", "--help") for a in argv)
    if os.environ.get("TRANSFER_ATLAS_WARM", "1") == "0" or wants_help:
        from transfer_atlas.runtime.start import run_cold

        return run_cold(target, argv, t0)
    try:
        path = socket_path(profile)
        try:
            conn = connect(path)
        except OSError:
            from transfer_atlas.runtime.start import connect_or_start

            conn = connect_or_start(path, profile)
    except (OSError, RuntimeError) as exc:  # RuntimeError: WarmUnavailable (start failed)
        print(f"warm start unavailable ({exc}); running cold", file=sys.stderr, flush=True)
        from transfer_atlas.runtime.start import run_cold

        return run_cold(target, argv, t0)
    header = {"target": target, "argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}
    header["t0"] = t0
    sys.stdout.flush()
    sys.stderr.flush()
    send_job(conn, header, [sys.stdin.fileno(), sys.stdout.fileno(), sys.stderr.fileno()])
    reply = b""
    while chunk := conn.recv(4096):
        reply += chunk
    conn.close()
    if not reply:
        print("error: warm server went away before the job finished", file=sys.stderr)
        return 70
    status = marshal.loads(reply)
    if status.get("signal"):
        print(f"error: job process killed by signal {status['signal']}", file=sys.stderr)
        return 128 + status["signal"]
    return status["exit"]
