#!/usr/bin/env python
"""Fine-tune one grid cell (or pretrain a source model); writes a record / weights.

Runs warm (forked from a server that has torch and timm imported) when it can, cold
otherwise; see ``transfer_atlas.runtime.warm`` (this process is only its thin client,
``transfer_atlas.runtime.client``). ``--help`` lists the arguments.
"""

import sys

from transfer_atlas.jobs import finetune

if __name__ == "__main__":
    sys.exit(finetune.run())
