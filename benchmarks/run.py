#!/usr/bin/env python
"""Run the project's benchmarks: all of them, or those named.

Each writes ``benchmarks/results/<name>-<device>.json`` and prints a short table;
every figure is a ratio of two sides measured in the same run.

    python benchmarks/run.py                      # all
    python benchmarks/run.py throughput grid003   # by name
    python benchmarks/run.py --quick              # smallest cases only (a smoke test)
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
import time

import common  # this folder is on sys.path: Python puts a script's own folder first

BENCHMARKS = [
    "throughput", "fixed_cost", "frozen_cache", "grid003", "memory", "prepare_scale",
    "parquet_groups", "prepared_check", "content_check", "numerics", "snakemake_calls",
    "tsne_iterations",
]  # fmt: skip


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "names",
        nargs="*",
        choices=[[], *BENCHMARKS],
        metavar="NAME",
        help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})",
    )
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per job (default 1)")
    p.add_argument("--quick", action="store_true", help="smallest cases only")
    args = p.parse_args(argv)
    args.command = "python benchmarks/run.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    failed = []
    for name in args.names or BENCHMARKS:
        t = time.perf_counter()
        print(f"== {name}", flush=True)
        common.mark_start()
        try:
            result = importlib.import_module(name).run(args)
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            import traceback

            traceback.print_exc()
            failed.append(f"{name}: {exc}")
            continue
        verdict = "goal met" if result.get("met") else "goal NOT met"
        print(f"== {name}: {verdict} ({time.perf_counter() - t:.0f} s)", flush=True)
    for line in failed:
        print(f"FAILED {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
