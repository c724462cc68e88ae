#!/usr/bin/env python
"""Draw the figures from summary.csv: Vega-Lite JSON, SVG and PNG per figure."""

import argparse
import sys
from pathlib import Path

import _bootstrap  # noqa: F401


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--summary", required=True)
    p.add_argument("--outdir", required=True)
    p.add_argument("--formats", default="json,svg,png")
    args = p.parse_args(argv)
    import pandas as pd

    from transfer_atlas import figures

    summary = pd.read_csv(args.summary, dtype={"freeze": str, "size": str})
    for name, make in figures.FIGURES.items():
        figures.save(make(summary), Path(args.outdir) / name, args.formats.split(","))
        print(f"{name} -> {args.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
