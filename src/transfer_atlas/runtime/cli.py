"""Entry point of scripts/with_gpus.py: ``with_gpus.py N COMMAND...`` (see runtime.gpu_claims).

It runs before every fine-tune job and counts in its fixed cost, so the zero-GPU path
(every CPU job) imports nothing beyond ``os`` and ``sys``: there is nothing to claim, and
the command starts at once, as ``gpu_claims.main`` would start it.
"""

from __future__ import annotations

import builtins
import os
import sys


def _no_gpus(argv: list[str]) -> bool:
    try:
        return len(argv) >= 2 and int(float(argv[0])) == 0
    except ValueError:
        return False


def _run_here(command: list[str]) -> None:
    """``python SCRIPT.py ARGS`` with this very interpreter: run the script in this
    process, as the exec would, minus a second interpreter start."""
    script = command[1]
    sys.argv = command[1:]
    # What the interpreter does for ``python SCRIPT.py``: the script's folder comes first
    # on the path (a job script may import its siblings), in place of with_gpus.py's own.
    sys.path[0] = os.path.dirname(os.path.realpath(script))
    with open(script, "rb") as f:
        code = compile(f.read(), script, "exec")
    namespace = {"__name__": "__main__", "__file__": script, "__builtins__": builtins}
    exec(code, namespace)  # noqa: S102 (the job's own entry point, as exec would run it)
    sys.exit(0)


def with_gpus(argv: list[str] | None = None) -> int:
    """Run ``argv[1:]`` on ``argv[0]`` GPU(s) of its own; in this process if it asks none."""
    argv = sys.argv[1:] if argv is None else argv
    if _no_gpus(argv):
        command = argv[1:]
        if os.environ.get("CUDA_VISIBLE_DEVICES") or os.environ.get("TA_GPU_DEVICES"):
            # GPUs exist (the workflow lists them once per run): this job claimed none,
            # so it must not use one (runtime.gpu_claims.hide_gpus; not imported: fixed cost)
            os.environ["CUDA_VISIBLE_DEVICES"] = ""
            os.environ["TA_AUTO_DEVICE"] = "cpu"
        if (
            len(command) >= 2
            and command[0] == sys.executable
            and command[1].endswith(".py")
            and os.path.isfile(command[1])
        ):
            _run_here(command)
        os.execvp(command[0], command)
    from transfer_atlas.runtime.gpu_claims import main

    return main(argv)
