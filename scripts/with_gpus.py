#!/usr/bin/env python
"""Run a command on GPU(s) of its own: `with_gpus.py N COMMAND...` (see transfer_atlas.devices)."""

import os
import sys


def _no_gpus(argv: list[str]) -> bool:
    try:
        return len(argv) >= 2 and int(float(argv[0])) == 0
    except ValueError:
        return False


if __name__ == "__main__":
    # Zero GPUs asked (every CPU job): nothing to claim, so exec the command at once, as
    # transfer_atlas.devices.main would, without importing anything first. This runs
    # before every fine-tune and counts in its fixed cost.
    if _no_gpus(sys.argv[1:]):
        os.execvp(sys.argv[2], sys.argv[2:])
    import _bootstrap  # noqa: F401

    from transfer_atlas.devices import main

    sys.exit(main())
