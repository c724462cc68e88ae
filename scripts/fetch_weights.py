#!/usr/bin/env python
"""Fetch a model's hub weights once, as safetensors (--help)."""

import sys

from transfer_atlas.jobs import fetch_weights

if __name__ == "__main__":
    sys.exit(fetch_weights.run())
