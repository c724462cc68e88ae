"""Entry point of scripts/aggregate.py (the ``aggregate`` job).

Heavy imports (pandas) wait until the arguments are parsed, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from transfer_atlas.core import atomic, faults


def aggregate(argv: list[str] | None = None) -> int:
    """Aggregate run records: runs.parquet / runs.csv (one row per job) and summary.csv."""
    p = argparse.ArgumentParser(description=aggregate.__doc__)
    p.add_argument("--records", required=True, help="file listing record paths, one per line")
    p.add_argument("--runs", required=True, help="output runs.parquet (runs.csv is written beside)")
    p.add_argument("--summary", required=True, help="output summary.csv")
    args = p.parse_args(argv)
    from transfer_atlas.results import aggregate as results

    paths = [line for line in Path(args.records).read_text().splitlines() if line]
    runs = results.load_runs(paths)
    summary = results.summarize(runs)
    with atomic.atomic_path(args.runs) as tmp:
        runs.to_parquet(tmp, index=False)
    faults.pause_point("aggregate")  # test-only hook (crash tests); a no-op otherwise
    atomic.write_csv(Path(args.runs).with_suffix(".csv"), runs)
    atomic.write_csv(args.summary, summary)
    print(f"{len(runs)} runs -> {args.runs}; {len(summary)} cells -> {args.summary}")
    return 0
