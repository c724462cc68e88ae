#!/usr/bin/env python
"""After `dvc pull`: give every workflow output a modification time in DAG order (--help)."""

import sys

from transfer_atlas.core.sharing import restore_mtimes

if __name__ == "__main__":
    sys.exit(restore_mtimes())
