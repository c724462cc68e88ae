"""Make ``transfer_atlas`` importable when the package is not installed (plain checkouts).

Plain ``os.path`` (no ``pathlib``): every job's process imports this first.
"""

import os
import sys

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))), "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)
