#!/usr/bin/env python
"""Extract one named layer's features for every image of a prepared dataset (cached .npz).

Runs warm (forked from a server that has torch and timm imported) when it can, cold
otherwise; see ``transfer_atlas.runtime.warm`` (this process is only its thin client,
``transfer_atlas.runtime.client``). ``--help`` lists the arguments.
"""

import sys

from transfer_atlas.jobs import extract_features

if __name__ == "__main__":
    sys.exit(extract_features.run())
