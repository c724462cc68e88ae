#!/usr/bin/env python
"""Choose each model's best setting on validation accuracy: results/best_settings.csv (--help)."""

import sys

from transfer_atlas.results.findings import main_best

if __name__ == "__main__":
    sys.exit(main_best())
