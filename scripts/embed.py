#!/usr/bin/env python
"""PCA and t-SNE maps of a dataset's pixels or a model's cached features (--help)."""

import sys

from transfer_atlas.jobs import embed

if __name__ == "__main__":
    sys.exit(embed.run())
