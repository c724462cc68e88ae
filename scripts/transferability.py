#!/usr/bin/env python
"""Five transferability scores (LogME, LEEP, NCE, H-score, SFDA) and two baselines (k-NN,
source accuracy) of one model on one target's training split (JSON).

Reads cached features (pre_logits, predictions); never imports torch.
"""

import sys

from transfer_atlas.jobs import transferability

if __name__ == "__main__":
    sys.exit(transferability.run())
