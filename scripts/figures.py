#!/usr/bin/env python
"""Draw the report's figures: Vega-Lite JSON, SVG and PNG (--help)."""

import sys

from transfer_atlas.report.cli import figures

if __name__ == "__main__":
    sys.exit(figures())
