"""core.atomic: a reader sees the old file or the whole new one; a failed or killed writer
leaves no temporary behind (the next write removes a dead writer's); results get the mode a
plain open() gives."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys

import pytest

from transfer_atlas.core import atomic


def _writer(path, payload, n):
    for _ in range(n):
        atomic.write_bytes(path, payload)


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    out = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], text=True, capture_output=True
    )
    return int(out.stdout)


def test_parallel_writers_of_one_file_never_leave_a_torn_file(tmp_path):
    """Several processes rewrite one shared file; every read sees one writer's whole payload."""
    path = tmp_path / "shared.bin"
    payloads = [bytes([i]) * 300_000 for i in range(4)]
    atomic.write_bytes(path, payloads[0])
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(path, p, 30)) for p in payloads]
    for p in procs:
        p.start()
    reads = 0
    while any(p.is_alive() for p in procs):
        assert path.read_bytes() in payloads
        reads += 1
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert path.read_bytes() in payloads and reads > 0
    assert [p.name for p in tmp_path.iterdir()] == ["shared.bin"]  # no temporary left


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "r.json"
    atomic.write_json(path, {"a": 1})
    with pytest.raises(ValueError):
        atomic.write_json(path, {"a": float("nan")})  # allow_nan=False
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_an_exception_inside_atomic_path_leaves_the_old_file(tmp_path):
    path = tmp_path / "t.txt"
    atomic.write_text(path, "old")
    with pytest.raises(RuntimeError), atomic.atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.txt"]


def test_temporaries_of_killed_writers_are_removed_by_the_next_write(tmp_path):
    path = tmp_path / "r.json"
    stale = tmp_path / (atomic._temp_prefix(path, _dead_pid()) + "x.tmp")
    live = tmp_path / (atomic._temp_prefix(path, os.getppid()) + "y.tmp")
    other = tmp_path / (atomic._temp_prefix(tmp_path / "other.json", _dead_pid()) + "z.tmp")
    for f in (stale, live, other):
        f.write_text("half")
    atomic.write_json(path, {"ok": True})
    assert not stale.exists() and live.exists()
    assert other.exists()  # another output's leftovers wait for that output's next write


def test_pid_alive():
    assert atomic.pid_alive(os.getpid())
    assert atomic.pid_alive(1)  # another user's process (init) counts as alive
    assert not atomic.pid_alive(_dead_pid())


def test_written_files_get_the_mode_of_a_plain_open(tmp_path):
    old = os.umask(0o027)
    try:
        atomic.write_text(tmp_path / "a.txt", "x")
        plain = tmp_path / "b.txt"
        plain.write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 == 0o640


def test_parent_folders_are_created(tmp_path):
    path = tmp_path / "a" / "b" / "r.json"
    atomic.write_json(path, {"k": [1, 2]})
    assert json.loads(path.read_text()) == {"k": [1, 2]}
    assert path.read_text().endswith("\n")


def test_write_csv_writes_the_frame_without_its_index_and_no_temp(tmp_path):
    import pandas as pd

    from transfer_atlas.core import atomic

    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}, index=[7, 8])
    atomic.write_csv(tmp_path / "t.csv", frame)
    assert (tmp_path / "t.csv").read_text() == "a,b\n1,x\n2,y\n"
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]
