#!/usr/bin/env python
"""Write stand-in data and weights for a study config (--help)."""

import sys

from transfer_atlas.testing.cli import make_standin

if __name__ == "__main__":
    sys.exit(make_standin())
