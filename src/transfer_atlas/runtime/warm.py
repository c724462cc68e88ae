"""Warm starts: jobs fork from a server that has already imported torch (and timm).

A cold job pays ~6 s to import torch and 15-19 s with timm before it trains for a
second. Here each job's process stays a real, separate Snakemake job (own log, exit
status, outputs), but it is a thin client: it hands its argv, cwd, environment and
stdin/stdout/stderr file descriptors to a local fork server over a Unix socket. The
server (one per user, Python and code version) forks a child that runs the job with
those descriptors, and reports the child's exit status back to the client. The
client side is ``transfer_atlas.runtime.client`` (kept nearly import-free: its time
counts in every job's fixed cost); the server keeps one spare child forked ahead, so
that a job does not wait for the fork either.

Safety rules: the server never touches a GPU or runs torch work, so forking is safe;
if the client dies (Snakemake kills the job), the server kills the child; if the
server or child dies, the client exits non-zero. Where no server can be used
(``TA_WARM=0``, as the SLURM profile sets, or a start failure), the job
runs cold in its own process. Every record says which path it took.

On a machine shared with other users (``runtime.wire``, docs/security.md): the socket
is in a folder only its user can use, both ends check the other's uid, the server runs
entry points its starter named only (the job table, handed to it: runtime imports no
job), and headers are length-checked strings, never code.
"""

from __future__ import annotations

import importlib
import os
import selectors
import signal
import socket
import sys
import time
import traceback
from pathlib import Path

from transfer_atlas.runtime import wire
from transfer_atlas.runtime.start import resolve_target

PRELOAD = (
    "numpy",
    "torch",
    "safetensors.torch",
    "jsonschema",
    # imported lazily during a job (measured: modules new in a forked child after one
    # plain-torch and one timm job); each costs a child up to 0.4 s when missing.
    "torch._dynamo",  # by every torch.optim optimizer's constructor: 800 modules
    "numpy.ma",
    "numpy.ctypeslib",
    "torch.utils.flop_counter",
    "encodings.cp437",
    "threadpoolctl",  # every child sizes its BLAS/OpenMP pools with it (_threads_as_the_job_asked)
)
#: The libraries each kind of server imports before forking (the project's own modules
#: come from its jobs: :func:`preload_jobs`). Classifier jobs fork from a server that
#: never imported torch: their fixed cost is a fork, not 15 s of imports.
PROFILES = {
    "torch": PRELOAD,
    "sklearn": (
        "numpy",
        "scipy.stats",
        "sklearn.linear_model",
        "sklearn.svm",
        "sklearn.ensemble",
        "sklearn.naive_bayes",
        "sklearn.multiclass",
        "sklearn.decomposition",
        "sklearn.model_selection",
        "sklearn.pipeline",
        "xgboost",
        "jsonschema",
        "threadpoolctl",
        # the tables, figures and report (jobs.py): pandas, Parquet, Altair, t-SNE
        "pandas",
        "pyarrow.parquet",
        "altair",
        "sklearn.manifold",
    ),
}
#: Imported by the server only once a job whose arguments mention the key arrives, so a
#: plain-torch study never pays for timm (15-19 s): {argument substring: modules}.
PRELOAD_IF = {
    '"timm/': ("torchvision", "timm", "timm.models"),
    '"adapt": "lora"': ("peft",),  # LoRA jobs (nn.adapt); seconds to import
}
IDLE_S = float(os.environ.get("TA_WARM_IDLE", "120"))


HEADER_TIMEOUT_S = 10.0  # a client sends its header at once; a stalled one is dropped


def _recv_header(conn: socket.socket) -> tuple[dict, list[int]]:
    """A job header (``wire.job_message``) and the 3 stdio descriptors sent with it.

    The declared length is checked against ``wire.MAX_HEADER`` before the rest is read,
    then every field is parsed and checked; on any fault the descriptors received are
    closed and ValueError/OSError is raised.
    """
    msg, fds, flags, _ = socket.recv_fds(conn, 1 << 16, 3)
    try:
        if flags & socket.MSG_CTRUNC or len(fds) != 3:
            raise ValueError(f"a job comes with 3 descriptors, not {len(fds)}")
        msg = bytearray(msg)
        while len(msg) < 4 or len(msg) < 4 + int.from_bytes(msg[:4], "big"):
            if len(msg) >= 4 and int.from_bytes(msg[:4], "big") > wire.MAX_HEADER:
                raise ValueError(f"header over {wire.MAX_HEADER} bytes")
            chunk = conn.recv(1 << 20)
            if not chunk:
                raise ValueError("client closed during the header")
            msg += chunk
        if len(msg) != 4 + int.from_bytes(msg[:4], "big"):
            raise ValueError("data after the header")
        return wire.parse_job(wire.unpack(bytes(msg[4:]))), fds
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def _has_prctl() -> bool:
    try:
        import ctypes

        return hasattr(ctypes.CDLL(None), "prctl")
    except (OSError, ImportError):
        return False


def _die_with_parent(server_pid: int) -> None:
    """Have the kernel SIGKILL this child if the server dies (Linux), so that no orphan
    job goes on writing outputs after its client has reported a failure."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != server_pid:  # the server died before prctl took effect
        os._exit(70)


def _preload_for(argv: list[str]) -> None:
    for key, modules in PRELOAD_IF.items():
        if any(key in a for a in argv):
            for name in modules:
                importlib.import_module(name)


def _threads_as_the_job_asked() -> None:
    """Size the BLAS and OpenMP pools from the job's own ``OMP_NUM_THREADS`` (else all the
    CPUs it may use), as a cold process's libraries would have at load. A forked child
    inherits the pools of the server, sized from the environment of whichever job started
    it: a classifier would then record, and run with, another job's thread count."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    limit = int(value) if value.isdigit() and int(value) > 0 else len(os.sched_getaffinity(0))
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # not installed: no pool of numpy's or scikit-learn's to size
        return
    threadpool_limits(limits=limit)


def _child(header: dict, fds: list[int]) -> None:
    """In the forked child: become the job, then exit with its status."""
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        for i, fd in enumerate(fds):
            os.dup2(fd, i)
            os.close(fd)
        os.chdir(header["cwd"])
        os.environ.clear()
        os.environ.update(header["env"])
        _threads_as_the_job_asked()
        sys.argv = [header["target"], *header["argv"]]
        job = resolve_target(header["target"])
        code = job(header["argv"], t_start=header["t0"], startup="warm")
        code = code or 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


class _Server:
    """The accept loop, its running jobs, and one spare child forked ahead of time.

    Forking a process that holds torch and timm takes 20-30 ms (page tables); the
    spare pays that while no job waits. It has already set its death signal and its
    own process group, and blocks until the server hands it a job (header and
    descriptors, as the client sent them) or closes its end (then it exits). Every
    forked process first closes the server's other descriptors: a job holding another
    client's connection would keep that client waiting until the job ended.
    """

    def __init__(self, listener: socket.socket, profile: str, targets: frozenset):
        self.pid, self.profile, self.targets = os.getpid(), profile, targets
        self.listener = listener
        self.sel = selectors.DefaultSelector()
        self.sel.register(listener, selectors.EVENT_READ, ("listen", None))
        self.jobs: dict[int, tuple] = {}  # pid -> (conn, pidfd)
        self.spare: tuple[int, socket.socket, int] | None = None  # pid, its end, modules

    def _close_inherited(self) -> None:
        """In a forked process: drop every descriptor that belongs to the server."""
        self.sel.close()
        self.listener.close()
        for conn, pidfd in self.jobs.values():
            conn.close()
            os.close(pidfd)
        if self.spare is not None:
            self.spare[1].close()

    def fork(self) -> int:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            try:
                self._close_inherited()
                _die_with_parent(self.pid)
                os.setpgid(0, 0)
            except BaseException:
                os._exit(70)
        return pid

    def start_spare(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = self.fork()
        if pid == 0:
            ours.close()
            try:
                header, fds = _recv_header(theirs)
            except BaseException:  # the server closed our end (idle, replaced) or died;
                os._exit(70)  # non-zero: a job that did not arrive whole must not pass
            theirs.close()
            _child(header, fds)
        theirs.close()
        self.spare = (pid, ours, len(sys.modules))

    def drop_spare(self) -> None:
        if self.spare is None:
            return
        pid, ours, _ = self.spare
        self.spare = None
        ours.close()  # the spare reads EOF and exits
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)

    def run_job(self, header: dict, fds: list[int], conn: socket.socket) -> int:
        """Hand the job to the spare if it is current, else fork one for it; its pid."""
        if self.spare is not None and self.spare[2] != len(sys.modules):
            self.drop_spare()  # forked before a preload: it would import it again
        if self.spare is not None:
            pid, ours, _ = self.spare
            self.spare = None
            try:
                _send_header(ours, header, fds)
                ours.close()
                return pid
            except OSError:  # the spare is gone (killed by hand?): fork afresh
                ours.close()
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                os.waitpid(pid, 0)
        pid = self.fork()
        if pid == 0:
            conn.close()
            _child(header, fds)
        return pid

    def accept(self) -> None:
        conn, _ = self.listener.accept()
        try:
            uid = wire.peer_uid(conn)
            if uid != os.getuid():  # checked before reading a byte or taking a descriptor
                raise PermissionError(f"refused a connection from uid {uid}")
            conn.settimeout(HEADER_TIMEOUT_S)
            header, fds = _recv_header(conn)
            conn.settimeout(None)
        except (OSError, ValueError) as exc:
            print(f"bad request: {exc}", flush=True)
            conn.close()
            return
        if header["target"] not in self.targets:
            for fd in fds:
                os.close(fd)
            print(f"refused unregistered target {header['target'][:200]!r}", flush=True)
            reason = f"{header['target'][:200]!r} is not a registered job entry point"
            _reply(conn, ["refused", reason])
            conn.close()
            return
        try:
            if self.profile == "torch":  # never pull torch into the sklearn server
                _preload_for(header.get("argv", []))
        except Exception as exc:  # the job itself will report the import error
            print(f"preload failed: {exc}", flush=True)
        child = self.run_job(header, fds, conn)
        for fd in fds:
            os.close(fd)
        pidfd = os.pidfd_open(child)
        self.jobs[child] = (conn, pidfd)
        self.sel.register(conn, selectors.EVENT_READ, ("client", child))
        self.sel.register(pidfd, selectors.EVENT_READ, ("exit", child))

    def client_gone(self, pid: int) -> None:
        """The client closed early: it was killed, so kill the job."""
        conn, _ = self.jobs[pid]
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.sel.unregister(conn)

    def job_exited(self, pid: int) -> None:
        conn, pidfd = self.jobs.pop(pid)
        _, status = os.waitpid(pid, 0)
        self.sel.unregister(pidfd)
        os.close(pidfd)
        if os.WIFSIGNALED(status):
            _reply(conn, ["signal", str(os.WTERMSIG(status))])
        else:
            _reply(conn, ["exit", str(os.WEXITSTATUS(status))])
        if conn.fileno() >= 0:
            try:
                self.sel.unregister(conn)
            except (KeyError, ValueError):
                pass
            conn.close()


def _reply(conn: socket.socket, fields: list[str]) -> None:
    try:
        conn.sendall(wire.pack(fields))
    except OSError:  # the client is gone: nobody to tell
        pass


def _send_header(conn: socket.socket, header: dict, fds: list[int]) -> None:
    """A checked header passed on to the spare (``_recv_header`` reads it)."""
    msg = wire.job_message(
        header["target"], header["argv"], header["cwd"], header["env"], header["t0"]
    )
    sent = socket.send_fds(conn, [msg], fds)
    if sent < len(msg):
        conn.sendall(msg[sent:])


def preload_jobs(targets) -> None:
    """Import what the server's jobs need before forking: a job that offers ``preload()``
    (``transfer_atlas.jobs.Job``) imports its own modules; runtime names none of them."""
    for name in sorted(targets):
        try:
            preload = getattr(resolve_target(name), "preload", None)
            if callable(preload):
                preload()
        except Exception as exc:  # the job itself will report it, warm or cold
            print(f"preload of {name} failed: {exc}", flush=True)


def serve(path: Path, profile: str = "torch", extra_targets: tuple[str, ...] = ()) -> None:
    """Serve jobs at ``path`` until idle; run only the targets its starter named
    (``extra_targets``: the job table of ``profile`` and any extra ones)."""
    supported, why = wire.warm_supported()
    if supported and not _has_prctl():
        supported, why = False, "libc has no prctl to give jobs a death signal"
    if not supported:  # before any import: a client that started us then runs cold
        sys.exit(f"warm server not started: {why}")
    targets = wire.registered_targets(",".join(extra_targets))
    # TA_WARM_PRELOAD (comma-separated modules; the workflow sets "timm" when
    # a model of the study needs it) is imported up front, before the first job waits.
    # Only the torch server takes it: the sklearn server must never import torch.
    extra = os.environ.get("TA_WARM_PRELOAD", "") if profile == "torch" else ""
    for name in (*PROFILES[profile], *[m for m in extra.split(",") if m]):
        importlib.import_module(name)
    preload_jobs(targets)
    tmp = Path(f"{path}.{os.getpid()}.tmp")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp))
    listener.listen(64)
    server = _Server(listener, profile, targets)
    server.start_spare()
    os.replace(tmp, path)  # clients only ever see a ready server
    inode = path.stat().st_ino
    last_active = time.time()
    print(f"warm server {os.getpid()} ready at {path}", flush=True)
    while True:
        events = server.sel.select(timeout=1.0)
        for key, _ in events:
            kind, pid = key.data
            if kind == "listen":
                server.accept()
            elif kind == "client":
                server.client_gone(pid)
            elif kind == "exit":
                server.job_exited(pid)
                last_active = time.time()
                if server.spare is None:  # forked in the slot the job freed, for the next
                    server.start_spare()
        try:
            replaced = path.stat().st_ino != inode
        except FileNotFoundError:
            replaced = True
        if not server.jobs and (time.time() - last_active > IDLE_S or replaced):
            break
    server.drop_spare()
    if not replaced:
        path.unlink(missing_ok=True)
    print(f"warm server {os.getpid()} idle, exiting", flush=True)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "serve":
        profile = sys.argv[3] if len(sys.argv) > 3 else "torch"
        serve(Path(sys.argv[2]), profile, tuple(sys.argv[4:]))
    else:
        sys.exit("usage: python -m transfer_atlas.runtime.warm serve SOCKET [PROFILE [TARGET...]]")
