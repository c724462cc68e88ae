#!/usr/bin/env python
"""Run a command on GPU(s) of its own: `with_gpus.py N COMMAND...` (see transfer_atlas.devices)."""

import sys

import _bootstrap  # noqa: F401

from transfer_atlas.devices import main

if __name__ == "__main__":
    sys.exit(main())
