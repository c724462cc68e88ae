"""Entry point of scripts/embed.py (numpy and scikit-learn load after argument parsing)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from transfer_atlas.core import atomic


def embed(argv: list[str] | None = None) -> int:
    """PCA and t-SNE maps of one dataset's raw pixels or of one model's cached features (JSON)."""
    p = argparse.ArgumentParser(description=embed.__doc__)
    p.add_argument("--data", required=True, help="prepared dataset directory (meta.json)")
    p.add_argument(
        "--features",
        help="feature cache (.npz) to map; without it, the prepared arrays' raw pixels",
    )
    p.add_argument("--source", required=True, help="'pixels' or the model's name (for the report)")
    p.add_argument("--out", required=True, help="output JSON")
    args = p.parse_args(argv)
    from transfer_atlas.features import embedding

    start = time.perf_counter()
    try:
        meta = json.loads((Path(args.data) / "meta.json").read_text())
        if not isinstance(meta, dict) or "class_names" not in meta:
            raise ValueError("no class_names")
    except (ValueError, OSError) as exc:  # named, no traceback (data.integrity checks more)
        print(f"error: {Path(args.data) / 'meta.json'}: unreadable ({exc})", file=sys.stderr)
        return 2
    if args.features:  # the model's cache: labels and splits travel with the features
        from transfer_atlas.data import feature_cache

        cache = feature_cache.load(args.features)
        x, labels, splits = cache.features, cache.labels, cache
        read_from = args.features
    else:
        from transfer_atlas.data import prepared as data

        try:
            prep = data.load(args.data)
        except (ValueError, FileNotFoundError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        x, labels, splits = prep.images, prep.labels, prep
        read_from = str(Path(args.data) / "images.npy")
    split = embedding.split_names(len(labels), splits.train_idx, splits.val_idx, splits.test_idx)
    result = embedding.describe(
        x, labels, meta["class_names"], split, dataset=Path(args.data).name, source=args.source
    )
    text = json.dumps(result, separators=(",", ":"))
    atomic.write_text(args.out, text)
    print(
        f"{args.out}: {result['n']} of {result['of']} images, {result['dim']}-d, read from "
        f"{read_from}; {len(text) / 1e3:.1f} kB in {time.perf_counter() - start:.1f} s"
    )
    return 0
