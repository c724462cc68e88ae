"""The warm client (what each job's own process runs): its clock and its imports.

``timing.fixed_cost_s`` is measured from ``process_start_time()``; these tests pin that
it is the process's real start (not up to a second early), and that the client and
``with_gpus.py 0`` stay light: they run before every fine-tune job.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from conftest import ROOT

SRC = str(ROOT / "src")
TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def test_process_start_time_is_the_real_start():
    """Between the parent's clock just before the spawn and the child's own 'now'."""
    code = (
        "import time; from transfer_atlas.runtime.client import process_start_time; "
        "print(process_start_time(), time.time())"
    )
    for _ in range(3):
        before = time.time()
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": SRC},
        ).stdout
        start, now = map(float, out.split())
        # ticks round down: at most one tick early (plus clock-read jitter), never late
        assert before - TICK_S - 0.005 <= start <= now


def test_client_imports_nothing_heavy(tmp_path):
    code = (
        "import sys, _socket, zlib; base = set(sys.modules); "
        "from transfer_atlas.runtime import client as warm_client; "
        "warm_client.socket_path(); warm_client.process_start_time(); "
        "print(' '.join(sorted(set(sys.modules) - base)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": SRC, "TA_WARM_DIR": str(tmp_path / "warm")},
    ).stdout.split()
    own = {"transfer_atlas", "transfer_atlas.runtime", "transfer_atlas.runtime.client"}
    # core.numerics: the portable kernel choice, set before any job module loads (os, sys)
    numerics = {"transfer_atlas.core", "transfer_atlas.core.numerics"}
    assert set(out) <= own | numerics | {"transfer_atlas.runtime.wire", "__future__"}, out


def test_with_gpus_zero_runs_the_command_in_place(tmp_path):
    """``with_gpus.py 0 CMD ARGS`` becomes CMD in the same process: arguments, script
    folder on sys.path and exit status intact, whether CMD is another program or a
    script for this same interpreter (then run without a second interpreter start)."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import os, sys\n"
        "print(os.getpid()); print(sys.argv[1:]); print(sys.path[0])\n"
        "if __name__ == '__main__':\n"
        "    sys.exit(int(sys.argv[1]))\n"
    )
    script = str(ROOT / "scripts" / "with_gpus.py")
    for python in (sys.executable, "python3"):
        cmd = [sys.executable, script, "0", python, str(probe), "3", "b c"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 3
        assert out.splitlines() == [str(proc.pid), "['3', 'b c']", str(tmp_path)]
