#!/usr/bin/env python
"""Prepare one dataset: arrays + meta (--help)."""

import sys

from transfer_atlas.jobs import prepare_dataset

if __name__ == "__main__":
    sys.exit(prepare_dataset.run())
