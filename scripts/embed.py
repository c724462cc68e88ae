#!/usr/bin/env python
"""PCA and t-SNE maps of a dataset's pixels or a model's cached features (--help)."""

import sys

from transfer_atlas.features.cli import embed

if __name__ == "__main__":
    sys.exit(embed())
