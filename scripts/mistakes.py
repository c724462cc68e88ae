#!/usr/bin/env python
"""Most confidently wrong test images per model x dataset (best setting, largest size): JSON."""

import argparse
import json
import sys
from pathlib import Path

import _bootstrap  # noqa: F401


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", required=True, help="runs.parquet")
    p.add_argument("--summary", required=True, help="summary.csv")
    p.add_argument("--prepared", nargs="+", required=True, help="prepared dataset directories")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    import pandas as pd

    from transfer_atlas.core import atomic
    from transfer_atlas.report import mistakes

    runs = pd.read_parquet(args.runs).astype({"freeze": str, "size": str})
    summary = pd.read_csv(args.summary, dtype={"freeze": str, "size": str})
    prepared = {Path(d).name: d for d in args.prepared}
    result = mistakes.collect(runs, summary, prepared)
    text = json.dumps(result, separators=(",", ":"))
    atomic.write_text(args.out, text)
    n = sum(len(e["items"]) for e in result)
    print(
        f"{args.out}: {n} images for {len(result)} model x dataset cells, {len(text) / 1e3:.1f} kB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
