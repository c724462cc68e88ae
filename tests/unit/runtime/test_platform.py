"""Platforms without the Linux primitives the warm server needs (macOS, ...): warm starts
switch themselves off, decided from capabilities, and the job runs cold.

CI has Linux only, so the other platforms are simulated: a fake ``sys.platform`` or an
``os`` without ``pidfd_open`` handed to the capability check, ``os.pidfd_open`` removed
for a real in-process launch, and ``TA_WARM_UNSUPPORTED=1`` for a real server
start (tests/workflow/test_mac_like_study.py runs a whole study that way).
"""

from __future__ import annotations

import os
import subprocess
import sys
import types

import pytest
from conftest import ROOT

from transfer_atlas.runtime import wire
from transfer_atlas.runtime.client import launch


@pytest.mark.skipif(sys.platform != "linux", reason="Linux only")
def test_linux_with_pidfd_open_supports_warm_starts():
    assert wire.warm_supported(env={}) == (True, "")


def test_other_platforms_or_missing_primitives_do_not():
    ok, why = wire.warm_supported(env={}, platform="darwin")
    assert not ok and "darwin" in why
    no_pidfd = types.SimpleNamespace(fork=os.fork)  # an os module as Python has on macOS
    ok, why = wire.warm_supported(env={}, os_module=no_pidfd)
    assert not ok and "os.pidfd_open" in why
    ok, why = wire.warm_supported(env={}, os_module=types.SimpleNamespace())
    assert not ok and "os.fork" in why


def test_the_variable_can_only_switch_warm_starts_off():
    assert not wire.warm_supported(env={wire.UNSUPPORTED_ENV: "1"})[0]
    assert wire.warm_supported(env={wire.UNSUPPORTED_ENV: "0"})[0]
    for value in ("0", "", "no"):  # no value makes a platform without them supported
        assert not wire.warm_supported(env={wire.UNSUPPORTED_ENV: value}, platform="darwin")[0]


def test_launch_runs_cold_with_one_line_and_starts_no_server(tmp_path, monkeypatch, capsys):
    monkeypatch.delattr(os, "pidfd_open", raising=False)  # what Python on macOS lacks
    monkeypatch.setenv("TA_WARM", "1")
    monkeypatch.delenv(wire.UNSUPPORTED_ENV, raising=False)
    monkeypatch.setenv("TA_WARM_DIR", str(tmp_path / "warm"))
    monkeypatch.setenv("TA_WARM_TARGETS", "warm_targets:exits")
    assert launch("warm_targets:exits", ["3"]) == 3
    out, err = capsys.readouterr()
    assert out == "out cold\n"  # the job ran here, cold
    lines = [ln for ln in err.splitlines() if "warm" in ln]
    assert len(lines) == 1 and lines[0].startswith("warm starts off on this platform (")
    if sys.platform == "linux":
        assert "(os.pidfd_open is not available here); running cold" in lines[0]
    assert not (tmp_path / "warm").exists()  # no socket folder, no server


def test_a_server_started_where_it_cannot_work_exits_at_once(tmp_path):
    """A server's own check (it also needs prctl): it exits before importing anything
    heavy, with the reason, so a client that started it falls back to a cold run."""
    sock = tmp_path / "s.sock"
    proc = subprocess.run(
        [sys.executable, "-m", "transfer_atlas.runtime.warm", "serve", str(sock)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src"), wire.UNSUPPORTED_ENV: "1"},
    )
    assert proc.returncode == 1
    assert "warm server not started: TA_WARM_UNSUPPORTED=1" in proc.stderr
    assert not sock.exists()
