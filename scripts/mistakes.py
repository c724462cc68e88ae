#!/usr/bin/env python
"""Most confidently wrong test images per model x dataset (--help)."""

import sys

from transfer_atlas.jobs import mistakes

if __name__ == "__main__":
    sys.exit(mistakes.run())
