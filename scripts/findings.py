#!/usr/bin/env python
"""Write results/findings.md, the study's findings in plain language (--help)."""

import sys

from transfer_atlas.jobs import findings

if __name__ == "__main__":
    sys.exit(findings.run())
