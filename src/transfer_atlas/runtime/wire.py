"""The warm start's rendezvous, peer check and wire format, shared by client and server.

Imported by every job's own process, so only what the interpreter has already loaded
(``os``, ``sys``, ``time``) plus ``_socket`` and ``zlib`` (C modules, well under a
millisecond). Safety on a shared machine (docs/security.md):

- the socket lives in a directory only this user can use (:func:`warm_dir`);
- each end checks the other's uid with ``SO_PEERCRED`` (:func:`connect`, :func:`peer_uid`);
- the server runs only the entry points its starter named on its command line (the job
  table a script hands to ``client.launch``, plus :data:`EXTRA_TARGETS_ENV`), never a
  dotted path a header names;
- messages are length-checked lists of strings (:func:`pack`, :func:`unpack`), which a
  peer cannot turn into code. Not ``json``: it pulls in ``re`` and ``enum``, 18-40 ms
  on the machine where it was measured, against a warm job's ~60 ms fixed cost.
"""

from __future__ import annotations

import os
import sys
import time

# The package folder (transfer_atlas/): its sources key the server; its parent goes on PYTHONPATH.
SRC_DIR = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))

#: Extra entry points (comma-separated), for tests and plugins. Read by the client only:
#: a server takes its table from its own command line, set by the client that starts it.
EXTRA_TARGETS_ENV = "TA_WARM_TARGETS"
VERSION = "ta-warm-2"
MAX_HEADER = 1 << 22  # bytes; Linux caps a process's argv + environment well below this
MAX_REPLY = 1 << 12


class Unsafe(RuntimeError):
    """A folder or peer failed a check (the message says which): not used, nothing sent."""


#: Set to 1 to make :func:`warm_supported` answer "no" on any platform: how tests (and
#: a user who wants to see it) run the path a Mac takes. It can never switch warm starts on.
UNSUPPORTED_ENV = "TA_WARM_UNSUPPORTED"


def warm_supported(env=os.environ, platform: str = sys.platform, os_module=os) -> tuple[bool, str]:
    """Whether this platform has what a warm server needs, and if not, why not.

    Decided from capabilities, before anything is forked or started, not by trying: the
    server waits on each job through ``os.pidfd_open`` (Linux 5.3+), its children ask
    the kernel for a death signal with ``prctl`` (Linux), both ends check the peer's
    uid with ``SO_PEERCRED`` (Linux), and forking a process that has loaded torch is
    unsafe where system frameworks forbid fork without exec (macOS: the Objective-C
    runtime may abort the child). Anywhere else the job runs cold.
    """
    import _socket

    if env.get(UNSUPPORTED_ENV, "0") not in ("", "0"):
        return False, f"{UNSUPPORTED_ENV}={env[UNSUPPORTED_ENV]} simulates a platform without them"
    if platform != "linux":
        return False, f"the fork server needs Linux process primitives; this is {platform}"
    for name, ok in (
        ("os.fork", hasattr(os_module, "fork")),
        ("os.pidfd_open", hasattr(os_module, "pidfd_open")),
        ("socket.SO_PEERCRED", hasattr(_socket, "SO_PEERCRED")),
    ):
        if not ok:
            return False, f"{name} is not available here"
    return True, ""


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


def target_name(target) -> str:
    """A job's name on the wire: ``module:function`` for a function (or a callable that
    has ``__module__`` and ``__qualname__``, as ``transfer_atlas.jobs.Job`` has); a string
    is taken as that name already."""
    if isinstance(target, str):
        return target
    return f"{target.__module__}:{target.__qualname__}"


def registered_targets(names: str = "") -> frozenset:
    """The entry points ``names`` lists (comma-separated ``module:function`` names).

    Runtime has no table of its own (it imports no job): a script hands its job table to
    ``client.launch``, which passes the names to the server it starts.
    """
    names = [t.strip() for t in names.split(",") if t.strip()]
    for name in names:
        module, _, func = name.partition(":")
        if not (func.isidentifier() and all(p.isidentifier() for p in module.split("."))):
            raise ValueError(f"{EXTRA_TARGETS_ENV}: {name!r} is not a module:function name")
    return frozenset(names)


def private_dir(path: str) -> str:
    """``path``, created if missing, once checked to be usable by this user alone.

    Checked after creation, since another user may have made it first: a real directory
    (not a symlink), owned by us, no group/other permissions, in a parent that no other
    user can rename it out of (ours or root's, and sticky if others may write there).
    Raises :class:`Unsafe` saying what is wrong.
    """
    try:
        os.makedirs(path, 0o700)  # the mode applies to the last folder only
    except FileExistsError:
        pass
    except OSError as exc:
        raise Unsafe(f"cannot create {path}: {exc.strerror}") from None
    st, parent = os.lstat(path), os.stat(os.path.dirname(os.path.abspath(path)))
    uid = os.getuid()
    kind = st.st_mode & 0o170000  # S_IFMT: 0o040000 a directory, 0o120000 a symlink
    if kind != 0o040000:
        what = "a symbolic link" if kind == 0o120000 else "not a directory"
        raise Unsafe(f"{path} is {what}")
    if st.st_uid != uid:
        raise Unsafe(f"{path} is owned by uid {st.st_uid}, not by this user ({uid})")
    if st.st_mode & 0o077:
        raise Unsafe(f"{path} has mode {st.st_mode & 0o777:o}: other users may use it")
    if parent.st_uid not in (0, uid) or (parent.st_mode & 0o1022) in (0o002, 0o020, 0o022):
        raise Unsafe(f"the folder above {path} lets another user replace it")
    return path


def warm_dir() -> str:
    """The verified folder of this user's warm servers (see :func:`private_dir`)."""
    if os.environ.get("TA_WARM_DIR"):
        return private_dir(os.environ["TA_WARM_DIR"])
    if os.environ.get("XDG_RUNTIME_DIR"):  # per user by design (systemd: /run/user/UID)
        return private_dir(os.path.join(os.environ["XDG_RUNTIME_DIR"], "transfer-atlas"))
    return private_dir(f"/tmp/transfer-atlas-{os.getuid()}")


def _source_files(folder: str):
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    for e in entries:
        if e.is_dir(follow_symlinks=False):
            yield from _source_files(e.path)
        elif e.name.endswith(".py"):
            yield e


def socket_path(profile: str = "torch", extra_targets: str = "") -> str:
    """One server per user, interpreter, profile, target table, library source state and
    CPU numerics (the server's libraries read the pinned variables once, when it starts)."""
    import zlib

    from transfer_atlas.core.numerics import MODE_ENV, PORTABLE_ENV

    key = [sys.executable, "" if profile == "torch" else profile, extra_targets]
    key += [f"{k}={os.environ.get(k, '')}" for k in (MODE_ENV, *PORTABLE_ENV)]
    for e in _source_files(SRC_DIR):
        st = e.stat()
        key.append(f"{e.path}:{st.st_mtime_ns}:{st.st_size}")
    data = "\n".join(key).encode()
    digest = f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}"
    return os.path.join(warm_dir(), f"{digest}.sock")


def peer_uid(sock) -> int:
    """The uid of the process at the other end of a connected Unix socket."""
    import _socket

    if not hasattr(_socket, "SO_PEERCRED"):
        raise Unsafe("this system has no SO_PEERCRED to check the server's user")
    creds = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)  # pid, uid, gid
    return int.from_bytes(creds[4:8], sys.byteorder)


def connect(path: str):
    """A connected Unix socket to this user's server at ``path``.

    Raises OSError if none listens, :class:`Unsafe` if another user's process does.
    """
    import _socket

    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        s.connect(path)
        uid = peer_uid(s)
    except BaseException:
        s.close()
        raise
    if uid != os.getuid():
        s.close()
        raise Unsafe(f"the server at {path} runs as uid {uid}, not as this user")
    return s


# ---------------------------------------------------------------- messages
# A message: a 4-byte big-endian body length, then the body: fields, each a 4-byte
# length and UTF-8 text ("surrogatepass": environment strings may hold undecodable
# bytes as lone surrogates). Fields never hold NUL (no path, argument or variable can).


def pack(fields: list[str]) -> bytes:
    body = b"".join(
        len(b).to_bytes(4, "big") + b for b in (f.encode("utf-8", "surrogatepass") for f in fields)
    )
    return len(body).to_bytes(4, "big") + body


def unpack(body: bytes) -> list[str]:
    """The fields of a message body; ValueError for anything malformed."""
    fields, i, n = [], 0, len(body)
    while i < n:
        if n - i < 4:
            raise ValueError("truncated field length")
        size = int.from_bytes(body[i : i + 4], "big")
        i += 4
        if size > n - i:
            raise ValueError("field runs past the end of the message")
        field = body[i : i + size].decode("utf-8", "surrogatepass")
        if "\0" in field:
            raise ValueError("NUL in a field")
        fields.append(field)
        i += size
    return fields


def job_message(target: str, argv: list[str], cwd: str, env, t0: float) -> bytes:
    fields = [VERSION, target, cwd, repr(t0), str(len(argv)), *argv]
    for k, v in env.items():
        fields += (k, v)
    return pack(fields)


def parse_job(fields: list[str]) -> dict:
    """The job a header describes (server side), after checking every field."""
    if len(fields) < 5 or fields[0] != VERSION:
        raise ValueError(f"not a {VERSION} job header")
    _, target, cwd, t0, n_argv = fields[:5]
    if not n_argv.isdigit() or int(n_argv) > len(fields) - 5:
        raise ValueError("bad argument count")
    argv, rest = fields[5 : 5 + int(n_argv)], fields[5 + int(n_argv) :]
    t0 = float(t0)
    if not (cwd.startswith("/") and t0 == t0 and abs(t0) < 1e11):  # t0 == t0: not NaN
        raise ValueError("bad working directory or start time")
    if len(rest) % 2 or any(not k or "=" in k for k in rest[::2]):
        raise ValueError("bad environment")
    env = dict(zip(rest[::2], rest[1::2], strict=True))
    return {"target": target, "argv": argv, "cwd": cwd, "env": env, "t0": t0}


def parse_reply(message: bytes) -> tuple[str, int | str]:
    """("exit", status), ("signal", number) or ("refused", reason); ValueError otherwise."""
    if len(message) < 4 or int.from_bytes(message[:4], "big") != len(message) - 4:
        raise ValueError("reply length does not match")
    fields = unpack(message[4:])
    if len(fields) == 2 and fields[0] == "refused":
        return "refused", fields[1]
    if len(fields) == 2 and fields[0] in ("exit", "signal") and fields[1].isdigit():
        value = int(fields[1])
        if value < (256 if fields[0] == "exit" else 65) and fields[1] == str(value):
            return fields[0], value
    raise ValueError("not an exit status")


def send_job(conn, message: bytes, fds: list[int]) -> None:
    """A packed job header with the job's stdio descriptors attached."""
    import _socket

    anc = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in fds)
    sent = conn.sendmsg([message], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, anc)])
    if sent < len(message):
        conn.sendall(message[sent:])
