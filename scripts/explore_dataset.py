#!/usr/bin/env python
"""Class counts and sample images of one prepared dataset (--help)."""

import sys

from transfer_atlas.jobs import explore_dataset

if __name__ == "__main__":
    sys.exit(explore_dataset.run())
