#!/usr/bin/env python
"""Run a command on GPU(s) of its own: `with_gpus.py N COMMAND...` (see runtime.devices)."""

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
    sys.path[0] = os.path.dirname(os.path.realpath(script))
    with open(script, "rb") as f:
        code = compile(f.read(), script, "exec")
    namespace = {"__name__": "__main__", "__file__": script, "__builtins__": __builtins__}
    exec(code, namespace)  # noqa: S102 (the job's own entry point, as exec would run it)
    sys.exit(0)


if __name__ == "__main__":
    # Zero GPUs asked (every CPU job): nothing to claim, so run the command at once, as
    # transfer_atlas.runtime.devices.main would, without importing anything first. This runs
    # before every fine-tune and counts in its fixed cost.
    if _no_gpus(sys.argv[1:]):
        command = sys.argv[2:]
        if (
            len(command) >= 2
            and command[0] == sys.executable
            and command[1].endswith(".py")
            and os.path.isfile(command[1])
        ):
            _run_here(command)
        os.execvp(command[0], command)
    import _bootstrap  # noqa: F401

    from transfer_atlas.runtime.devices import main

    sys.exit(main())
