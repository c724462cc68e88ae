#!/usr/bin/env python
"""Fit one classical classifier on cached features; writes a run record (regime features).

Never imports torch. Runs warm (forked from a server that has only numpy, scikit-learn
and xgboost imported) when it can, cold otherwise. ``--help`` lists the arguments.
"""

import sys

from transfer_atlas.jobs import classify

if __name__ == "__main__":
    sys.exit(classify.run())
