#!/usr/bin/env python
"""Build the self-contained HTML report (--help)."""

import sys
from pathlib import Path

from transfer_atlas.jobs import report

if __name__ == "__main__":
    # This checkout is the workflow's: its git commit goes into the report's provenance.
    sys.exit(report.run([*sys.argv[1:], "--repo", str(Path(__file__).resolve().parents[1])]))
