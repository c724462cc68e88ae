"""Entry point of scripts/prepare_dataset.py.

The data modules (numpy, PIL, torchvision sources) load after the arguments are parsed,
so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import sys


def prepare_dataset(argv: list[str] | None = None) -> int:
    """Prepare one dataset: load its source, select classes, split, write arrays + meta."""
    p = argparse.ArgumentParser(description=prepare_dataset.__doc__)
    p.add_argument("--name", required=True, help="dataset name (for messages)")
    p.add_argument("--spec", required=True, help="dataset spec as JSON")
    p.add_argument("--out", required=True, help="output directory (*.npy, meta.json)")
    p.add_argument("--workers", type=int, default=1, help="decoding processes (file sources)")
    args = p.parse_args(argv)
    from transfer_atlas.data import prepared as data

    try:
        prep = data.prepare_to(json.loads(args.spec), args.out, max(1, args.workers))
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: dataset '{args.name}': {exc}", file=sys.stderr)
        return 2
    print(
        f"{args.name}: {len(prep.labels)} images {prep.images.shape[1:]}, "
        f"{prep.num_classes} classes, train/val/test = {len(prep.train_idx)}/"
        f"{len(prep.val_idx)}/{len(prep.test_idx)}, fingerprint {prep.fingerprint[:12]}"
    )
    return 0
