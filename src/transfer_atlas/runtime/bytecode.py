"""Bytecode for what the workflow's processes import, compiled once by ``make env``.

Compiling the whole lock (uv's ``--compile-bytecode``, some 20k files, most never imported)
took 40 s of ``make env`` on 2 cores. Instead this imports what the warm servers preload
(``warm.PROFILES``, timm included) and Snakemake with its plugins, in two processes at once,
with Python's bytecode cache on: only the modules those imports reach get their ``.pyc``
(13 s). A module nothing here reaches is compiled the first time a process imports it, and
cached by every process that ``make`` starts (the Makefile un-exports
``PYTHONDONTWRITEBYTECODE``, which this project's development machines set).

``python -m transfer_atlas.runtime.bytecode`` (the Makefile's ``env`` target runs it).
"""

from __future__ import annotations

import os
import subprocess
import sys

from transfer_atlas.runtime.warm import PRELOAD_IF, PROFILES

#: One group per process: the torch side (fine-tunes, extraction) and the rest (classifiers,
#: tables, report, and Snakemake itself with its executor and storage plugins).
GROUPS = (
    (*PROFILES["torch"], *PRELOAD_IF['"timm/']),
    (*PROFILES["sklearn"], "snakemake.cli", "snakemake.api", "snakemake_executor_plugin_slurm"),
)

_IMPORT_ALL = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)"


def compile_imports(groups=GROUPS) -> None:
    """Import each group in a child process with the bytecode cache on; raise if one fails."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    procs = [subprocess.Popen([sys.executable, "-c", _IMPORT_ALL, *g], env=env) for g in groups]
    failed = [" ".join(g) for g, p in zip(groups, procs, strict=True) if p.wait() != 0]
    if failed:
        raise RuntimeError(f"importing failed (see above): {failed}")


if __name__ == "__main__":
    compile_imports()
