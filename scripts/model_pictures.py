#!/usr/bin/env python
"""First-layer filters and feature maps of one model (--help)."""

import sys

from transfer_atlas.jobs import model_pictures

if __name__ == "__main__":
    sys.exit(model_pictures.run())
