#!/usr/bin/env python
"""Write results/findings.md, the study's findings in plain language (--help)."""

import sys

from transfer_atlas.results.findings import main_findings

if __name__ == "__main__":
    sys.exit(main_findings())
