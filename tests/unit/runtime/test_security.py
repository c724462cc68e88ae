"""Safe on a machine shared with other users (docs/security.md): the warm server's
rendezvous, its peer checks and target table, its wire format, and GPU lock files.

The other user is ``nobody``: where the tests run as root, a forked child drops to it
with ``os.setuid`` and plays the part of someone else on the machine. Such a child can
read nothing under /root, where the interpreter's standard library may live, so every
module it uses is imported here first. Without root those tests skip (fail under CI=1).
"""

from __future__ import annotations

import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import pytest
from conftest import ROOT

from transfer_atlas.runtime import gpu_claims, wire
from transfer_atlas.runtime.client import launch
from transfer_atlas.runtime.start import connect_or_start

SRC, TESTS = str(ROOT / "src"), str(ROOT / "tests")
WITH_GPUS = str(ROOT / "scripts" / "with_gpus.py")
try:
    NOBODY = pwd.getpwnam("nobody")
except KeyError:  # no such user here: the tests that need one say so
    NOBODY = None
UID = NOBODY.pw_uid if NOBODY else -1


@pytest.fixture
def nobody():
    """Run a function as user nobody, in a forked child: ``nobody(fn, *args)``."""
    reason = None
    if os.geteuid() != 0:
        reason = "acting as a second user (nobody, through os.setuid) needs root"
    elif NOBODY is None:
        reason = "there is no user 'nobody' to act as a second user"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI=1 but {reason}")
        pytest.skip(reason)
    children = []

    def run(fn, *args, wait: bool = True) -> int:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.setgroups([])
                os.setgid(NOBODY.pw_gid)
                os.setuid(NOBODY.pw_uid)
                fn(*args)
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        if wait:
            assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0, "step as nobody failed"
        else:
            children.append(pid)
        return pid

    yield run
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


@pytest.fixture
def shared():
    """A folder in the temp dir that every user may write to, like /tmp itself."""
    path = Path(tempfile.mkdtemp(prefix="ta-shared-"))
    os.chmod(path, 0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def client(target: str, *argv: str, env: dict) -> subprocess.CompletedProcess:
    """A job's own process, as scripts/*.py run it: ``launch(target)``."""
    code = "import sys; from transfer_atlas.runtime.client import launch; "
    code += f"sys.exit(launch({target!r}))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([TESTS, SRC]), **env}
    env["TA_WARM_TARGETS"] = "warm_targets:exits"
    return subprocess.run(
        [sys.executable, "-c", code, *argv], env=env, capture_output=True, text=True, timeout=120
    )


def read_all(conn) -> bytes:
    """Everything until the peer hangs up (a reset, if it left our bytes unread)."""
    conn.settimeout(60)
    data = b""
    try:
        while chunk := conn.recv(4096):
            data += chunk
    except ConnectionResetError:
        pass
    conn.close()
    return data


# ---------------------------------------------------------------- the rendezvous


@pytest.mark.parametrize(
    "variable, planted",
    [
        ("TA_WARM_DIR", "folder"),
        ("XDG_RUNTIME_DIR", "folder"),
        ("TA_WARM_DIR", "symlink"),
    ],
)
def test_a_folder_another_user_made_first_means_a_cold_run(
    variable, planted, nobody, shared, tmp_path
):
    """Another user creates the warm folder first (open to all, or a symlink to a folder
    of ours): the job runs cold, says why in one line, and leaves no socket there."""
    spot = shared / "transfer-atlas"  # where XDG_RUNTIME_DIR=shared puts the folder
    ours = tmp_path / "ours"
    ours.mkdir(mode=0o700)

    def plant():
        if planted == "symlink":
            os.symlink(ours, spot)
        else:
            os.mkdir(spot)
            os.chmod(spot, 0o777)

    nobody(plant)
    proc = client(
        "warm_targets:exits",
        "0",
        env={
            "TA_WARM": "1",
            "TA_WARM_DIR": "",  # unset: XDG_RUNTIME_DIR is used (or set below)
            variable: str(shared if variable == "XDG_RUNTIME_DIR" else spot),
        },
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("out cold")
    said = [ln for ln in proc.stderr.splitlines() if "running cold" in ln]
    why = "is a symbolic link" if planted == "symlink" else f"is owned by uid {UID}"
    assert len(said) == 1 and why in said[0] and str(spot) in said[0], proc.stderr
    assert not list(ours.iterdir())
    if planted == "folder":
        assert not list(spot.iterdir())


def test_a_folder_of_ours_open_to_others_is_refused(tmp_path):
    loose = tmp_path / "warm"
    loose.mkdir()
    loose.chmod(0o755)
    with pytest.raises(wire.Unsafe, match="has mode 755"):
        wire.private_dir(str(loose))
    assert wire.private_dir(str(tmp_path / "fresh")) == str(tmp_path / "fresh")
    assert (tmp_path / "fresh").stat().st_mode & 0o777 == 0o700


# ---------------------------------------------------------------- peer checks


def _listen_and_count(path: str, ready_w: int, result_w: int) -> None:
    """Another user's listener: says when it is ready, then how many bytes two
    connections brought."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(2)
    os.chmod(path, 0o777)
    os.write(ready_w, b"ready")
    got = 0
    for _ in range(2):
        conn, _ = srv.accept()
        conn.settimeout(60)
        while chunk := conn.recv(65536):
            got += len(chunk)
    os.write(result_w, str(got).encode())


def test_the_client_refuses_a_server_of_another_user(nobody, shared, tmp_path, monkeypatch):
    """Another user's listener found at the socket path (here put there by root) gets
    neither the job's environment nor its descriptors: the job runs cold."""
    ready_r, ready_w = os.pipe()
    result_r, result_w = os.pipe()
    theirs = str(shared / "theirs.sock")
    nobody(_listen_and_count, theirs, ready_w, result_w, wait=False)
    assert os.read(ready_r, 5) == b"ready"
    monkeypatch.setenv("TA_WARM_DIR", str(tmp_path / "warm"))
    path = wire.socket_path("torch", "warm_targets:exits")  # what the client will use
    os.rename(theirs, path)
    proc = client("warm_targets:exits", "0", env={"TA_WARM": "1"})
    assert proc.returncode == 0 and proc.stdout.startswith("out cold"), proc.stderr
    assert f"the server at {path} runs as uid {UID}, not as this user" in proc.stderr
    with pytest.raises(wire.Unsafe, match=f"runs as uid {UID}"):
        wire.connect(path)  # the same check, without a client process around it
    assert os.read(result_r, 32) == b"0"  # connected, checked, closed: nothing sent


class Server:
    """A real warm server of this user (sklearn profile: the lighter one to start)."""

    def __init__(self, base: Path):
        self.dir = Path(wire.private_dir(str(base / "warm")))
        self.path = str(self.dir / "test.sock")
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("PYTHONPATH", os.pathsep.join([TESTS, SRC]))
            connect_or_start(self.path, "sklearn", "warm_targets:naps").close()

    def log(self) -> str:
        return Path(f"{self.path}.log").read_text()

    def run(self, target: str, argv: list[str], cwd: str) -> tuple:
        conn = wire.connect(self.path)
        message = wire.job_message(target, argv, cwd, dict(os.environ), time.time())
        wire.send_job(conn, message, [0, 1, 2])
        return wire.parse_reply(read_all(conn))


@pytest.fixture(scope="module")
def server():
    supported, why = wire.warm_supported(env={})
    if not supported:  # macOS: no warm server to attack (test_platform.py covers this)
        pytest.skip(f"no warm server on this platform: {why}")
    base = Path(tempfile.mkdtemp(prefix="ta-server-"))
    os.chmod(base, 0o711)  # others may pass through (one test opens the server's folder)
    yield Server(base)
    for sock in base.glob("warm/*.sock"):  # a server whose socket is gone exits when idle
        sock.unlink()
    shutil.rmtree(base, ignore_errors=True)


def _send_job_as_stranger(path: str, marker: str) -> None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(path)
    try:
        message = wire.job_message("warm_targets:naps", [marker, "0"], "/", {}, time.time())
        wire.send_job(conn, message, [0, 1, 2])
    except OSError:  # the server may close first
        pass
    assert read_all(conn) == b""  # no reply: the server hung up


def test_the_server_refuses_a_connection_from_another_user(server, nobody, shared):
    """Even where another user can reach the socket (root can; here its folder and the
    socket are opened to all), the server hangs up on them before reading a byte."""
    marker = shared / "ran"
    os.chmod(server.dir, 0o711)
    os.chmod(server.path, 0o777)
    try:
        nobody(_send_job_as_stranger, server.path, str(marker))
    finally:
        os.chmod(server.path, 0o755)
        os.chmod(server.dir, 0o700)
    assert f"refused a connection from uid {UID}" in server.log()
    assert not marker.exists()
    assert server.run("warm_targets:naps", [str(marker), "0"], "/") == ("exit", 0)
    assert marker.read_text() == "warm"  # the same job, from this user, runs


# ---------------------------------------------------------------- entry points


@pytest.mark.parametrize("target", ["warm_targets:sleeper", "builtins:exec", "os:system"])
def test_the_server_refuses_an_unregistered_target(server, tmp_path, target):
    """Real functions, but not in the server's table (its own and what its starter
    named): refused, not run; the server goes on serving registered ones."""
    pidfile = tmp_path / "pid"
    reply = server.run(target, [str(pidfile)], str(tmp_path))
    assert reply == ("refused", f"{target!r} is not a registered job entry point")
    assert f"refused unregistered target {target!r}" in server.log()
    assert not pidfile.exists()
    assert server.run("warm_targets:naps", [str(pidfile), "0"], str(tmp_path)) == ("exit", 0)


def test_the_server_survives_malformed_headers(server, tmp_path):
    good = wire.job_message("warm_targets:naps", [str(tmp_path / "m"), "0"], "/", {}, 1.0)
    bad = [
        b"\xff\xff\xff\xff" + b"x" * 64,  # claims 4 GiB
        good[:-3],  # cut short, then the client hangs up
        good + b"more",  # trailing data
        wire.pack(["ta-warm-2", "warm_targets:naps", "relative/dir", "1.0", "0"]),
        wire.pack(["ta-warm-2", "warm_targets:naps", "/", "nan", "0"]),
        wire.pack(["ta-warm-1", "warm_targets:naps", "/", "1.0", "0"]),
    ]
    for message in bad:
        conn = wire.connect(server.path)
        try:
            wire.send_job(conn, message, [0, 1, 2])
            conn.shutdown(socket.SHUT_WR)
        except OSError:  # the server may hang up first
            pass
        assert read_all(conn) == b""
    assert not (tmp_path / "m").exists()
    assert server.run("warm_targets:naps", [str(tmp_path / "m"), "0"], "/") == ("exit", 0)


def test_launch_refuses_an_unregistered_target_before_anything(capsys, monkeypatch):
    monkeypatch.delenv("TA_WARM_TARGETS", raising=False)
    assert launch("builtins:exec", ["print('ran')"]) == 2
    out, err = capsys.readouterr()
    assert "'builtins:exec' is not a registered job entry point" in err and "ran" not in out
    monkeypatch.setenv("TA_WARM_TARGETS", "os.system")
    assert launch("os.system", []) == 2
    assert "'os.system' is not a module:function name" in capsys.readouterr().err


def test_every_warm_job_is_registered_with_its_server():
    """A warm job's script hands the client its job and the table of its profile: the
    server that client starts runs exactly those (tests/unit/test_jobs.py: the table)."""
    from transfer_atlas import jobs

    for job in jobs.WARM:
        table = [j for j in jobs.WARM if j.warm == job.warm]
        names = wire.registered_targets(",".join(map(wire.target_name, table)))
        assert wire.target_name(job) in names and len(names) == len(table)


# ---------------------------------------------------------------- wire format


def test_messages_round_trip_and_garbage_raises_only_value_error():
    env = {"A": "1", "UNDECODABLE": "caf\udce9", "EMPTY": ""}
    message = wire.job_message("m:f", ["a", "", "ü"], "/w", env, 12.5)
    job = wire.parse_job(wire.unpack(message[4:]))
    assert job == {"target": "m:f", "argv": ["a", "", "ü"], "cwd": "/w", "env": env, "t0": 12.5}
    assert wire.parse_reply(wire.pack(["exit", "3"])) == ("exit", 3)
    rng = random.Random(0)
    samples = [bytes(rng.randrange(256) for _ in range(rng.randrange(40))) for _ in range(2000)]
    for _ in range(2000):  # valid messages, damaged: cut, bit flips
        m = bytearray(message[: rng.randrange(len(message) + 1)])
        for _ in range(rng.randrange(3)):
            if m:
                m[rng.randrange(len(m))] ^= 1 << rng.randrange(8)
        samples.append(bytes(m))
    for data in samples:
        for parse in (
            lambda d: wire.parse_job(wire.unpack(d[4:])),
            wire.parse_reply,
        ):
            try:
                parse(data)
            except ValueError:
                pass
    for reply in (["exit", "256"], ["exit", "-1"], ["signal", "0x9"], ["exit", "3", "4"]):
        with pytest.raises(ValueError):
            wire.parse_reply(wire.pack(reply))


# ---------------------------------------------------------------- GPU lock files


def _plant_lock_folder(folder: Path, victim: Path, kind: str) -> None:
    os.mkdir(folder)
    if kind == "symlink":
        os.symlink(victim, folder / "gpu0.lock")
    else:
        os.mkfifo(folder / "gpu0.lock")  # opening it for reading would block a job


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_a_planted_lock_file_leaves_its_target_untouched(kind, nobody, shared, tmp_path):
    """Another user makes the default lock folder and plants gpu0.lock: the job neither
    truncates nor writes the symlink's target, does not hang on a FIFO, says why it
    claims in a private folder instead, and gets its GPU."""
    victim = tmp_path / "precious.txt"
    victim.write_text("precious\n")
    before = victim.stat()
    nobody(_plant_lock_folder, shared / "transfer-atlas-gpu-locks", victim, kind)
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID")}
    env.update(TMPDIR=str(shared), TA_GPU_DEVICES="0,1", PYTHONPATH=SRC)
    env.pop("TA_GPU_LOCK_DIR", None)
    cmd = [sys.executable, WITH_GPUS, "1", sys.executable, "-c"]
    cmd += ["import os; print(os.environ['CUDA_VISIBLE_DEVICES'])"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "0", proc.stderr
    assert victim.read_text() == "precious\n"
    assert victim.stat().st_mtime_ns == before.st_mtime_ns
    why = "a symbolic link" if kind == "symlink" else "is not a regular file"
    assert "GPU lock folder not safe to use" in proc.stderr and why in proc.stderr
    assert f"transfer-atlas-gpu-locks-{os.getuid()}" in proc.stderr


def _hold_a_device(folder: Path, ready_w: int) -> None:
    devices_, fds = gpu_claims.claim(1, ["0", "1"], gpu_claims.shared_folder(folder))
    os.write(ready_w, devices_[0].encode())
    time.sleep(60)  # held until the test kills this child


def test_jobs_of_two_users_never_share_a_device(nobody, shared):
    """The shared folder still keeps users apart: nobody makes it and holds a device, a
    job of this user gets the other one from the same folder (no private fallback)."""
    folder = shared / "transfer-atlas-gpu-locks"
    ready_r, ready_w = os.pipe()
    nobody(_hold_a_device, folder, ready_w, wait=False)
    held = os.read(ready_r, 8).decode()
    assert (folder.stat().st_uid, folder.stat().st_mode & 0o7777) == (UID, 0o1777)
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID")}
    env.update(TMPDIR=str(shared), TA_GPU_DEVICES="0,1", PYTHONPATH=SRC)
    env.pop("TA_GPU_LOCK_DIR", None)
    cmd = [sys.executable, WITH_GPUS, "1", sys.executable, "-c"]
    cmd += ["import os; print(os.environ['CUDA_VISIBLE_DEVICES'])"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert {held, proc.stdout.strip()} == {"0", "1"} and "not safe" not in proc.stderr


def test_a_slurm_job_claims_in_a_private_folder_of_its_own(shared):
    """An allocation's device numbers are its own (and one user's): no shared folder."""
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES",)}
    env.update(TMPDIR=str(shared), TA_GPU_DEVICES="0,1", SLURM_JOB_ID="42", PYTHONPATH=SRC)
    env.pop("TA_GPU_LOCK_DIR", None)
    cmd = [sys.executable, WITH_GPUS, "1", sys.executable, "-c", "print('ok')"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
    own = shared / f"transfer-atlas-gpu-locks-{os.getuid()}"
    assert (own / "slurm-42" / "gpu0.lock").is_file()
    assert (
        own.stat().st_mode & 0o777 == 0o700 and not (shared / "transfer-atlas-gpu-locks").exists()
    )


def _occupy_lock_folders(shared: Path, victim: Path, uid: int) -> None:
    os.symlink(victim, shared / "transfer-atlas-gpu-locks")
    os.mkdir(shared / f"transfer-atlas-gpu-locks-{uid}", 0o755)


def test_another_users_folders_never_make_a_gpu_job_fail(nobody, shared, tmp_path):
    """nobody links the shared lock folder away and makes this user's private fallback
    in the temp dir first: the job claims in a folder only this user can write
    ($XDG_RUNTIME_DIR here), says so in one line, and runs."""
    victim = tmp_path / "elsewhere"
    victim.mkdir()
    nobody(_occupy_lock_folders, shared, victim, os.getuid())
    runtime = tmp_path / "run-user"
    runtime.mkdir(0o700)
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID")}
    env.update(TMPDIR=str(shared), TA_GPU_DEVICES="0,1", PYTHONPATH=SRC)
    env.update(XDG_RUNTIME_DIR=str(runtime))
    env.pop("TA_GPU_LOCK_DIR", None)
    cmd = [sys.executable, WITH_GPUS, "1", sys.executable, "-c"]
    cmd += ["import os; print(os.environ['CUDA_VISIBLE_DEVICES'])"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "0", proc.stderr
    said = [ln for ln in proc.stderr.splitlines() if "not safe to use" in ln]
    assert len(said) == 1 and str(runtime / "transfer-atlas-gpu-locks") in said[0]
    assert (runtime / "transfer-atlas-gpu-locks" / "gpu0.lock").is_file()
    assert list(victim.iterdir()) == []
