#!/usr/bin/env python
"""Look at one prepared dataset: class counts per split and sample images per class (JSON)."""

import argparse
import json
import sys
from pathlib import Path

import _bootstrap  # noqa: F401


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument(
        "--data", required=True, help="prepared dataset directory (arrays.npz, meta.json)"
    )
    p.add_argument("--out", required=True, help="output JSON")
    args = p.parse_args(argv)
    from transfer_atlas.core import atomic
    from transfer_atlas.data import prepared as data
    from transfer_atlas.report import explore

    prep = data.load(args.data)
    result = explore.explore(prep, Path(args.data).name)
    text = json.dumps(result, separators=(",", ":"))
    atomic.write_text(args.out, text)
    strips = sum(len(s["png"]) for s in result["strips"])
    print(f"{args.out}: {len(text) / 1e3:.1f} kB ({strips / 1e3:.1f} kB of sample images)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
