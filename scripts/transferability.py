#!/usr/bin/env python
"""LogME, LEEP, NCE and H-score of one model on one target's training split (JSON).

Reads cached features (pre_logits, predictions); never imports torch.
"""

import sys

from transfer_atlas.runtime.client import launch

if __name__ == "__main__":
    sys.exit(launch("transfer_atlas.results.ranking:main_score", profile="sklearn"))
