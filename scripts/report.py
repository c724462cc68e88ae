#!/usr/bin/env python
"""Build the self-contained HTML report from the tables, figure specs and the config."""

import argparse
import json
import sys
from pathlib import Path

import _bootstrap  # noqa: F401

REPO = Path(__file__).resolve().parents[1]  # the workflow's checkout: its commit is recorded


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", required=True)
    p.add_argument("--summary", required=True)
    p.add_argument("--figures", nargs="+", required=True, help="*.vl.json figure specs")
    p.add_argument("--config", required=True, help="the study config as a JSON string")
    p.add_argument("--out", required=True)
    p.add_argument(
        "--transferability", nargs=2, default=None, help="transferability.csv and its tau CSV"
    )
    p.add_argument("--comparisons", default=None, help="write the paired comparisons here (CSV)")
    p.add_argument("--explore", nargs="*", default=[], help="explore_dataset.py outputs (JSON)")
    p.add_argument("--mistakes", default=None, help="mistakes.py output (JSON)")
    p.add_argument("--pictures", nargs="*", default=[], help="model_pictures.py outputs (JSON)")
    p.add_argument("--embeddings", nargs="*", default=[], help="embed.py outputs (JSON)")
    args = p.parse_args(argv)
    import pandas as pd

    from transfer_atlas.report import html as report

    runs = pd.read_parquet(args.runs).astype({"freeze": str, "size": str})
    summary = pd.read_csv(args.summary, dtype={"freeze": str, "size": str})
    specs = {
        Path(f).name.removesuffix(".vl.json"): json.loads(Path(f).read_text()) for f in args.figures
    }
    explore = [json.loads(Path(f).read_text()) for f in args.explore]
    mistakes = json.loads(Path(args.mistakes).read_text()) if args.mistakes else []
    pictures = [json.loads(Path(f).read_text()) for f in args.pictures]
    embeddings = [json.loads(Path(f).read_text()) for f in args.embeddings]
    sections: dict[str, int] = {}
    size = report.build(
        runs,
        summary,
        specs,
        json.loads(args.config),
        args.out,
        REPO,
        args.comparisons,
        explore,
        mistakes,
        pictures,
        transfer=args.transferability,
        embeddings=embeddings,
        sections=sections,
    )
    print(f"report -> {args.out} ({size / 1e6:.2f} MB)")
    for name, n in sections.items():
        print(f"  {name}: {n / 1e3:.1f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
