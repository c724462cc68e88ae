#!/usr/bin/env python
"""Check a study config without running anything; exit status 2 if it is invalid (--help)."""

import sys

from transfer_atlas.spec.cli import check_config

if __name__ == "__main__":
    sys.exit(check_config())
