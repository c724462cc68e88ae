#!/usr/bin/env python
"""Run a command on GPU(s) of its own: `with_gpus.py N COMMAND...` (see runtime.gpu_claims)."""

import sys

from transfer_atlas.runtime.cli import with_gpus

if __name__ == "__main__":
    sys.exit(with_gpus())
