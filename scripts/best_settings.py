#!/usr/bin/env python
"""Choose each model's best setting on validation accuracy: results/best_settings.csv (--help)."""

import sys

from transfer_atlas.jobs import best_settings

if __name__ == "__main__":
    sys.exit(best_settings.run())
