#!/usr/bin/env python
"""Shortlist mode: rank the scored models per target, keep the top k (--help)."""

import sys

from transfer_atlas.jobs import shortlist

if __name__ == "__main__":
    sys.exit(shortlist.run())
