#!/usr/bin/env python
"""Draw the figures from the summary and the runs: Vega-Lite JSON, SVG and PNG per figure."""

import argparse
import json
import sys
from pathlib import Path

import _bootstrap  # noqa: F401


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--summary", required=True)
    p.add_argument("--runs", default=None, help="runs.parquet (curves, confusion, costs)")
    p.add_argument(
        "--meta", nargs="*", default=[], help="prepared datasets' meta.json (class names)"
    )
    p.add_argument("--outdir", required=True)
    p.add_argument("--formats", default="json,svg,png")
    p.add_argument("--only", nargs="*", default=None, help="draw only these figures")
    args = p.parse_args(argv)
    import pandas as pd

    from transfer_atlas.report import figures
    from transfer_atlas.results.views import Tables

    summary = pd.read_csv(args.summary, dtype={"freeze": str, "size": str})
    runs = None
    if args.runs:
        runs = pd.read_parquet(args.runs).astype({"freeze": str, "size": str})
    names = {
        Path(m).parent.name: json.loads(Path(m).read_text()).get("class_names") for m in args.meta
    }
    tables = Tables(summary=summary, runs=runs, class_names={k: v for k, v in names.items() if v})
    unknown = set(args.only or []) - set(figures.FIGURES)
    if unknown:
        p.error(f"unknown figure(s) {sorted(unknown)}; known: {sorted(figures.FIGURES)}")
    for name, make in figures.FIGURES.items():
        if args.only is not None and name not in args.only:
            continue
        figures.save(make(tables), Path(args.outdir) / name, args.formats.split(","))
        print(f"{name} -> {args.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
