#!/usr/bin/env python
"""Draw the report's figures: Vega-Lite JSON, SVG and PNG (--help)."""

import sys

from transfer_atlas.jobs import figures

if __name__ == "__main__":
    sys.exit(figures.run())
