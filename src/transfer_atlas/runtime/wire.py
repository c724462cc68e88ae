"""The warm start's rendezvous and wire format, shared by client and server.

Imported by every job's own process, so only what the interpreter has already loaded
(``os``, ``sys``, ``time``, ``marshal``) plus ``_socket`` and ``zlib`` (C modules, well
under a millisecond). The header goes over as ``marshal`` data, which the server (same
interpreter: the socket path includes ``sys.executable``) reads back exactly.
"""

from __future__ import annotations

import marshal
import os
import sys
import time

# The package folder (transfer_atlas/): its sources key the server; its parent goes on PYTHONPATH.
SRC_DIR = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def process_start_time() -> float:
    """Wall-clock time at which this process started, else now.

    ``/proc/self/stat`` gives the start in clock ticks since boot (``CLOCK_BOOTTIME``);
    the boot's wall-clock time is taken from that same clock, not from ``btime`` in
    ``/proc/stat``, which is whole seconds: that rounding alone made every job look up
    to a second older than it was (0.37 s on the machine where it was found). Ticks
    round down, so the start is at most one tick (10 ms) early, never late.
    """
    try:
        with open("/proc/self/stat", "rb") as f:
            stat = f.read()
        ticks = int(stat.rsplit(b")", 1)[1].split()[19])
        now, since_boot = time.time(), time.clock_gettime(time.CLOCK_BOOTTIME)
        return now - since_boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return time.time()


def _source_files(folder: str):
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    for e in entries:
        if e.is_dir(follow_symlinks=False):
            yield from _source_files(e.path)
        elif e.name.endswith(".py"):
            yield e


def socket_path(profile: str = "torch") -> str:
    """One server per user, interpreter, profile and library source state (edits: a new one)."""
    import zlib

    key = [sys.executable, "" if profile == "torch" else profile]
    for e in _source_files(SRC_DIR):
        st = e.stat()
        key.append(f"{e.path}:{st.st_mtime_ns}:{st.st_size}")
    data = "\n".join(key).encode()
    digest = f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}"
    base = os.environ.get("TRANSFER_ATLAS_WARM_DIR", f"/tmp/transfer-atlas-{os.getuid()}")
    os.makedirs(base, mode=0o700, exist_ok=True)
    return os.path.join(base, f"{digest}.sock")


def connect(path: str):
    """A connected Unix socket to the server at ``path`` (raises OSError if none listens)."""
    import _socket

    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError:
        s.close()
        raise
    return s


def send_job(conn, header: dict, fds: list[int]) -> None:
    """The header (length-prefixed marshal data) with the job's stdio descriptors attached."""
    import _socket

    body = marshal.dumps(header)
    msg = len(body).to_bytes(4, "big") + body
    anc = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in fds)
    sent = conn.sendmsg([msg], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, anc)])
    if sent < len(msg):
        conn.sendall(msg[sent:])
