#!/usr/bin/env python
"""Write results/across_targets.csv: IQM and probability of improvement per setting (--help)."""

import sys

from transfer_atlas.results.across_targets import main

if __name__ == "__main__":
    sys.exit(main())
