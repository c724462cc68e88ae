"""Sharing results through DVC: after ``dvc pull``, give the study's outputs modification
times in DAG order, so that Snakemake finds nothing to redo (docs/sharing.md).

Run by ``transfer-atlas restore-mtimes``, ``make restore-mtimes`` and
``scripts/restore_mtimes.py``. Standard library only: it runs snakemake in a subprocess.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

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
