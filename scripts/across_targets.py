#!/usr/bin/env python
"""Write results/across_targets.csv: IQM and probability of improvement per setting (--help)."""

import sys

from transfer_atlas.jobs import across_targets

if __name__ == "__main__":
    sys.exit(across_targets.run())
