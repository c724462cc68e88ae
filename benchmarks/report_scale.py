#!/usr/bin/env python
"""How big and how quick to open is the report for a study of thousands of runs?

Builds the figures and the HTML report from synthetic run records (``transfer_atlas.
synthetic``: valid records, made-up numbers) for a small grid and a large one in the same
run, then opens each report in headless Chromium with the network off and times it
until every chart has drawn. Writes the figures to ``--out``/report_scale.json and prints
a table. Needs Debian's ``chromium`` for the load times (skipped with a note otherwise).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

GRIDS = {
    # datasets x models x (freeze depths + scratch) x sizes x seeds
    "small": {"datasets": 2, "models": 2, "freezes": 3, "sizes": 4, "seeds": 3},
    "large": {"datasets": 5, "models": 10, "freezes": 4, "sizes": 8, "seeds": 10},
}


def build(name: str, grid: dict, out: Path) -> dict:
    from transfer_atlas.report import figures
    from transfer_atlas.report import html as report
    from transfer_atlas.results.views import Tables
    from transfer_atlas.testing import synthetic

    t = time.perf_counter()
    runs, summary = synthetic.tables(**grid)
    t_tables = time.perf_counter() - t
    t = time.perf_counter()
    specs = {
        k: make(Tables(summary=summary, runs=runs)).to_dict() for k, make in figures.FIGURES.items()
    }
    t_figs = time.perf_counter() - t
    html = out / f"report-{name}.html"
    t = time.perf_counter()
    size = report.build(runs, summary, specs, {"study": f"synthetic-{name}"}, html, Path.cwd())
    t_report = time.perf_counter() - t
    return {
        "grid": grid,
        "runs": len(runs),
        "cells": len(summary),
        "report_bytes": size,
        "tables_s": round(t_tables, 2),
        "figure_specs_s": round(t_figs, 2),
        "report_s": round(t_report, 2),
        "html": str(html),
    }


def load(html: str, shot: Path) -> dict:
    from transfer_atlas.testing import browser

    if not browser.find_chromium():
        return {"load": "skipped: no chromium"}
    res = browser.open_page(
        html,
        probe="({expected: window.chartsExpected, rendered: window.chartsRendered,"
        " errors: window.chartErrors, renderMs: window.renderMs, readyMs: window.readyMs,"
        " dcl: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd})",
        screenshot=shot,
        timeout=300,
    )
    return {
        "parsed_s": round(res.probe["dcl"] / 1000, 2),
        "all_charts_drawn_s": round(res.probe["readyMs"] / 1000, 2),
        "seen_ready_by_driver_s": round(res.ready_s, 2),
        "charts": f"{res.probe['rendered']}/{res.probe['expected']}",
        "embed_ms": round(res.probe["renderMs"] or 0),
        "console_errors": len(res.console_errors),
        "remote_requests": len(res.remote_requests),
        "screenshot": str(shot),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="results/bench", help="folder for reports and figures")
    p.add_argument("--grids", nargs="+", default=list(GRIDS), choices=list(GRIDS))
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = {}
    for name in args.grids:
        row = build(name, GRIDS[name], out)
        row.update(load(row["html"], out / f"report-{name}.png"))
        rows[name] = row
        print(json.dumps({name: row}), flush=True)
    (out / "report_scale.json").write_text(json.dumps(rows, indent=1))
    print(f"\n{'grid':6} {'runs':>6} {'cells':>6} {'MB':>6} {'build s':>8} {'drawn s':>8}")
    for name, r in rows.items():
        build_s = r["tables_s"] + r["figure_specs_s"] + r["report_s"]
        print(
            f"{name:6} {r['runs']:6d} {r['cells']:6d} {r['report_bytes'] / 1e6:6.2f} "
            f"{build_s:8.1f} {r.get('all_charts_drawn_s', float('nan')):8}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
