#!/usr/bin/env python
"""Join transferability scores with measured accuracy: table, weighted Kendall tau, figure."""

import argparse
import sys
from pathlib import Path

import _bootstrap  # noqa: F401


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--scores", nargs="+", required=True, help="per model x dataset score JSONs")
    p.add_argument("--summary", required=True, help="summary.csv")
    p.add_argument("--table", required=True, help="output transferability.csv")
    p.add_argument("--tau", required=True, help="output weighted Kendall tau CSV")
    p.add_argument("--figure", required=True, help="output figure stem (.vl.json/.svg/.png)")
    args = p.parse_args(argv)
    import pandas as pd

    from transfer_atlas.core import atomic
    from transfer_atlas.report import figures
    from transfer_atlas.results import ranking

    summary = pd.read_csv(args.summary, dtype={"freeze": str, "size": str})
    merged, taus = ranking.table(args.scores, summary)
    for df, path in ((merged, args.table), (taus, args.tau)):
        with atomic.atomic_path(path) as tmp:
            df.to_csv(tmp, index=False)
    figures.save(figures.transferability_scatter(merged), Path(args.figure))
    print(f"{len(merged)} model x dataset scores -> {args.table}; tau -> {args.tau}")
    print(taus.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
