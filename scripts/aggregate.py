#!/usr/bin/env python
"""Aggregate run records: runs.parquet / runs.csv and summary.csv (--help)."""

import sys

from transfer_atlas.jobs import aggregate

if __name__ == "__main__":
    sys.exit(aggregate.run())
