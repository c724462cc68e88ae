"""Benchmark: a test's ``snakemake`` call as a command and forked (tests/snakemake_forks.py).

The suite makes about 80 ``snakemake`` calls, and a call spends most of its start-up
importing Snakemake and its plugins. Side by side, interleaved, ``repeats`` times each: a
dry run of the tiny study (``tests/configs/tiny.yaml``) as the console script
(``subprocess.run``), and as a child forked from the server that has imported Snakemake
once, as ``make test`` runs it. Wall seconds and the call's own CPU seconds (its process
and the processes it waited for), medians.

Goal: a forked call at most half the CPU of a command.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, SNAKEMAKE, median, print_table, write_result

sys.path.insert(0, str(ROOT / "tests"))
import snakemake_forks  # noqa: E402  (test infrastructure, in tests/)

NAME = "snakemake_calls"
GOAL = 0.5


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _command(argv: list[str], env: dict) -> tuple[float, float]:
    t, cpu = time.perf_counter(), _children_cpu()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    return time.perf_counter() - t, _children_cpu() - cpu


def _forked(argv: list[str], env: dict) -> tuple[float, float]:
    t = time.perf_counter()
    proc, cpu = snakemake_forks.forked(argv, env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return time.perf_counter() - t, cpu


def run(args) -> dict:
    repeats = 2 if getattr(args, "quick", False) else 5
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    config = ROOT / "tests" / "configs" / "tiny.yaml"
    with tempfile.TemporaryDirectory(prefix="bench-snakemake-calls-") as work:
        argv = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", work, "--configfile", str(config)]
        argv += ["-n", "--quiet", "rules"]
        t = time.perf_counter()
        snakemake_forks.forked([SNAKEMAKE, "--version"], env, timeout=120)  # starts the server
        server_s = time.perf_counter() - t
        sides = {"command": [], "forked": []}
        for _ in range(repeats):
            sides["command"].append(_command(argv, env))
            sides["forked"].append(_forked(argv, env))
    rows = [
        {
            "call": side,
            "wall_s": median(w for w, _ in values),
            "cpu_s": median(c for _, c in values),
        }
        for side, values in sides.items()
    ]
    ratio = rows[1]["cpu_s"] / rows[0]["cpu_s"]
    print_table(
        f"a dry run of the tiny study, median of {repeats}", rows, ["call", "wall_s", "cpu_s"]
    )
    print(f"forked / command CPU: {ratio:.2f} (goal <= {GOAL})")
    print(f"server start and a first call: {server_s:.1f} s")
    payload = {
        "repeats": repeats,
        "rows": rows,
        "cpu_ratio_forked_to_command": ratio,
        "server_start_s": server_s,
        "goal": f"forked call CPU <= {GOAL} x a command's",
        "met": ratio <= GOAL,
        "runs": {side: [list(v) for v in values] for side, values in sides.items()},
    }
    write_result(
        NAME, "cpu", payload, getattr(args, "command", "python benchmarks/run.py snakemake_calls")
    )
    return payload


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    run(p.parse_args())
