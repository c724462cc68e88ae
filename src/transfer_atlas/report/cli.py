"""Entry points of the report's scripts: figures, transferability_table, explore_dataset,
mistakes, model_pictures and report (scripts/<name>.py calls the function of that name).

pandas, altair and torch load after the arguments are parsed, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from transfer_atlas.core import atomic


def figures(argv: list[str] | None = None) -> int:
    """Draw the figures from the summary and the runs: Vega-Lite JSON, SVG and PNG per figure."""
    p = argparse.ArgumentParser(description=figures.__doc__)
    p.add_argument("--summary", required=True)
    p.add_argument("--runs", default=None, help="runs.parquet (curves, confusion, costs)")
    p.add_argument(
        "--meta", nargs="*", default=[], help="prepared datasets' meta.json (class names)"
    )
    p.add_argument("--outdir", required=True)
    p.add_argument("--best", required=True, help="best_settings.csv (chosen on validation)")
    p.add_argument("--across", default=None, help="across_targets.csv (else computed)")
    p.add_argument("--formats", default="json,svg,png")
    p.add_argument("--only", nargs="*", default=None, help="draw only these figures")
    args = p.parse_args(argv)
    from transfer_atlas.report import figures as figs
    from transfer_atlas.results.tables import read_runs, read_summary
    from transfer_atlas.results.views import Tables, read_best

    summary = read_summary(args.summary)
    runs = read_runs(args.runs) if args.runs else None
    names = {
        Path(m).parent.name: json.loads(Path(m).read_text()).get("class_names") for m in args.meta
    }
    class_names = {k: v for k, v in names.items() if v}
    tables = Tables(summary=summary, runs=runs, class_names=class_names, best=read_best(args.best))
    if args.across:
        import pandas as pd

        across = pd.read_csv(args.across, dtype={"setting": str, "versus": str})
        tables.extra["across_targets"] = across.fillna({"versus": ""})
    unknown = set(args.only or []) - set(figs.FIGURES)
    if unknown:
        p.error(f"unknown figure(s) {sorted(unknown)}; known: {sorted(figs.FIGURES)}")
    for name, make in figs.FIGURES.items():
        if args.only is not None and name not in args.only:
            continue
        figs.save(make(tables), Path(args.outdir) / name, args.formats.split(","))
        print(f"{name} -> {args.outdir}")
    return 0


def transferability_table(argv: list[str] | None = None) -> int:
    """Join transferability scores with measured accuracy: table, weighted Kendall tau, figure."""
    p = argparse.ArgumentParser(description=transferability_table.__doc__)
    p.add_argument("--scores", nargs="+", required=True, help="per model x dataset score JSONs")
    p.add_argument("--summary", required=True, help="summary.csv")
    p.add_argument("--best", required=True, help="best_settings.csv (chosen on validation)")
    p.add_argument("--runs", default=None, help="runs.parquet (per seed: tau's 95%% interval)")
    p.add_argument("--table", required=True, help="output transferability.csv")
    p.add_argument("--tau", required=True, help="output weighted Kendall tau CSV")
    p.add_argument("--figure", required=True, help="output figure stem (.vl.json/.svg/.png)")
    args = p.parse_args(argv)
    from transfer_atlas.report import figures as figs
    from transfer_atlas.results.transferability import write_tables

    merged, taus = write_tables(
        args.scores, args.summary, args.best, args.runs, args.table, args.tau
    )
    figs.save(figs.transferability_scatter(merged), Path(args.figure))
    print(f"{len(merged)} model x dataset scores -> {args.table}; tau -> {args.tau}")
    print(taus.to_string(index=False))
    return 0


def explore_dataset(argv: list[str] | None = None) -> int:
    """Look at one prepared dataset: class counts per split and sample images per class (JSON)."""
    p = argparse.ArgumentParser(description=explore_dataset.__doc__)
    p.add_argument("--data", required=True, help="prepared dataset directory (*.npy, meta.json)")
    p.add_argument("--out", required=True, help="output JSON")
    args = p.parse_args(argv)
    from transfer_atlas.data import prepared as data
    from transfer_atlas.report import explore

    try:
        prep = data.load(args.data)
    except (ValueError, FileNotFoundError) as exc:  # unreadable or changed: named, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = explore.explore(prep, Path(args.data).name)
    text = json.dumps(result, separators=(",", ":"))
    atomic.write_text(args.out, text)
    strips = sum(len(s["png"]) for s in result["strips"])
    print(f"{args.out}: {len(text) / 1e3:.1f} kB ({strips / 1e3:.1f} kB of sample images)")
    return 0


def mistakes(argv: list[str] | None = None) -> int:
    """Most confidently wrong test images per model x dataset (best setting, largest size): JSON."""
    p = argparse.ArgumentParser(description=mistakes.__doc__)
    p.add_argument("--runs", required=True, help="runs.parquet")
    p.add_argument("--best", required=True, help="best_settings.csv (chosen on validation)")
    p.add_argument("--prepared", nargs="+", required=True, help="prepared dataset directories")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    from transfer_atlas.report import mistakes as wrong
    from transfer_atlas.results.tables import read_runs
    from transfer_atlas.results.views import read_best

    prepared = {Path(d).name: d for d in args.prepared}
    result = wrong.collect(read_runs(args.runs), read_best(args.best), prepared)
    text = json.dumps(result, separators=(",", ":"))
    atomic.write_text(args.out, text)
    n = sum(len(e["items"]) for e in result)
    print(
        f"{args.out}: {n} images for {len(result)} model x dataset cells, {len(text) / 1e3:.1f} kB"
    )
    return 0


def model_pictures(argv: list[str] | None = None) -> int:
    """First-layer filters and feature maps of one model's pretrained weights (JSON of PNGs)."""
    p = argparse.ArgumentParser(description=model_pictures.__doc__)
    p.add_argument("--model", required=True, help="model name (for the report)")
    p.add_argument("--spec", required=True, help="model spec as JSON")
    p.add_argument("--weights", required=True, help="pretrained weights (.safetensors)")
    p.add_argument("--data", required=True, help="prepared target dataset (one test image)")
    p.add_argument(
        "--image", type=int, default=0, help="position in the test split of the image to show"
    )
    p.add_argument("--sha256", default=None, help="the weights' sha256 the config pins")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    from transfer_atlas.data import prepared as data
    from transfer_atlas.nn import weights
    from transfer_atlas.report import model_pictures as pictures

    try:  # first: wrong weights are never read
        weights.check_weights(args.weights, args.sha256, args.model)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        prep = data.load(args.data)
    except (ValueError, FileNotFoundError) as exc:  # unreadable or changed: named, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not 0 <= args.image < len(prep.test_idx):
        p.error(
            f"report.feature_map_image = {args.image}, but {Path(args.data).name}'s test split "
            f"has {len(prep.test_idx)} images (use 0..{len(prep.test_idx) - 1})"
        )
    try:
        pics = pictures.pictures(
            json.loads(args.spec), args.weights, prep, Path(args.data).name, image_pos=args.image
        )
    except weights.WeightsError as exc:
        print(f"error: model '{args.model}': {exc}", file=sys.stderr)
        return 2
    text = json.dumps({"model": args.model, **pics}, separators=(",", ":"))
    atomic.write_text(args.out, text)
    print(f"{args.out}: {len(text) / 1e3:.1f} kB")
    return 0


def report(argv: list[str] | None = None) -> int:
    """Build the self-contained HTML report from the tables, figure specs and the config.

    ``--repo`` is the workflow's checkout (its git commit goes into the provenance): the
    script passes its own, since an installed package cannot know it.
    """
    p = argparse.ArgumentParser(description=report.__doc__.split("\n\n")[0])
    p.add_argument("--runs", required=True)
    p.add_argument("--summary", required=True)
    p.add_argument("--best", required=True, help="best_settings.csv (chosen on validation)")
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
    p.add_argument("--shortlist", default=None, help="shortlist.csv (shortlist mode)")
    p.add_argument("--repo", required=True, help="the workflow's checkout (its git commit)")
    args = p.parse_args(argv)
    from transfer_atlas.report import html
    from transfer_atlas.results.tables import read_runs, read_summary
    from transfer_atlas.results.views import read_best

    def read_json(path):
        return json.loads(Path(path).read_text())

    runs = read_runs(args.runs)
    summary = read_summary(args.summary)
    specs = {Path(f).name.removesuffix(".vl.json"): read_json(f) for f in args.figures}
    sections: dict[str, int] = {}
    size = html.build(
        runs,
        summary,
        specs,
        html.resolved_config(json.loads(args.config)),
        args.out,
        Path(args.repo),
        args.comparisons,
        [read_json(f) for f in args.explore],
        read_json(args.mistakes) if args.mistakes else [],
        [read_json(f) for f in args.pictures],
        transfer=args.transferability,
        embeddings=[read_json(f) for f in args.embeddings],
        sections=sections,
        best=read_best(args.best),
        shortlist=args.shortlist,
    )
    print(f"report -> {args.out} ({size / 1e6:.2f} MB)")
    for name, n in sections.items():
        print(f"  {name}: {n / 1e3:.1f} kB")
    return 0
