"""Entry points of scripts/aggregate.py and scripts/restore_mtimes.py.

Heavy imports (pandas) wait until the arguments are parsed, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
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
    with atomic.atomic_path(Path(args.runs).with_suffix(".csv")) as tmp:
        runs.to_csv(tmp, index=False)
    with atomic.atomic_path(args.summary) as tmp:
        summary.to_csv(tmp, index=False)
    print(f"{len(runs)} runs -> {args.runs}; {len(summary)} cells -> {args.summary}")
    return 0


RESTORE_MTIMES_HELP = """\
After `dvc pull`: give every workflow output a modification time in DAG order.

DVC does not keep modification times, so pulled outputs can look older than their
inputs and Snakemake would recompute them. This touches every output of the study,
inputs before the outputs made from them (`snakemake --touch --forceall`), and so
records Snakemake's metadata for them: afterwards `snakemake -n` has nothing to do,
and a later config change (a model's hyperparameters, a new seed) reruns exactly the
jobs it affects. Nothing is recomputed and no file content changes.

Run it from the project root with the same config the pulled results were made with
(the one committed next to results.dvc). Extra arguments go to snakemake.
"""


def snakemake_command() -> str:
    beside = Path(sys.executable).with_name("snakemake")
    return str(beside) if beside.exists() else (shutil.which("snakemake") or "snakemake")


def restore_mtimes(argv: list[str] | None = None) -> int:
    """Touch the study's outputs in DAG order (see ``RESTORE_MTIMES_HELP``)."""
    p = argparse.ArgumentParser(
        description=RESTORE_MTIMES_HELP, formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--configfile", help="the study config the results were made with")
    p.add_argument("--directory", "-d", default=".", help="working directory (default: .)")
    args, extra = p.parse_known_args(argv)
    results = Path(args.directory) / "results"
    if not results.is_dir():
        p.error(f"{results} does not exist: run `dvc pull` first")
    cmd = [snakemake_command(), "--touch", "--forceall", "--cores", "1", "-d", args.directory]
    if args.configfile:
        cmd += ["--configfile", args.configfile]
    print(" ".join(cmd + extra), flush=True)
    return subprocess.run(cmd + extra).returncode


def shortlist(argv: list[str] | None = None) -> int:
    """Rank every scored model per target x size x seed by one score on that training
    subset; mark the top k (results/shortlist.csv)."""
    import json

    p = argparse.ArgumentParser(description=shortlist.__doc__)
    p.add_argument("--scores", nargs="+", required=True, help="per model x dataset score JSONs")
    p.add_argument("--by", required=True, help="the score that ranks (higher = better)")
    p.add_argument("--k", type=int, required=True, help="models kept per target")
    p.add_argument("--jobs", default="{}", help='JSON: "dataset/model/size/seed" -> fine-tune jobs')
    p.add_argument("--out", required=True, help="output shortlist.csv")
    args = p.parse_args(argv)
    from transfer_atlas.results import shortlist as sl

    try:
        table = sl.select(args.scores, args.by, args.k, json.loads(args.jobs))
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    with atomic.atomic_path(args.out) as tmp:
        table.to_csv(tmp, index=False)
    print(table.to_string(index=False))
    return 0
