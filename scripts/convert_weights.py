#!/usr/bin/env python
"""Convert a model's package-shipped checkpoint to safetensors, once (--help)."""

import sys

from transfer_atlas.nn.cli import convert_weights

if __name__ == "__main__":
    sys.exit(convert_weights())
