#!/usr/bin/env python
"""Transferability scores against measured accuracy: table, Kendall tau, figure (--help)."""

import sys

from transfer_atlas.jobs import transferability_table

if __name__ == "__main__":
    sys.exit(transferability_table.run())
