#!/usr/bin/env python
"""Compute of the features regime against fine-tuning the same grid cells, from one run.

Reads a finished workflow directory (the same run, same machine): the feature caches'
extraction times, the classifier records' and the pretrained fine-tune records' wall
times (``timing.total_s``, process start to record written), and writes the figures as
JSON. Usage: ``benchmarks/features_cost.py WORKDIR [--out FILE]``.
"""

import argparse
import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("workdir", type=Path)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    from transfer_atlas.data import feature_cache

    res = args.workdir / "results"
    caches = {
        str(c.relative_to(res)): feature_cache.load(c).meta["extract_s"]
        for c in sorted((res / "features").rglob("*.npz"))
    }
    recs = [json.loads(r.read_text()) for r in sorted((res / "runs").rglob("*.json"))]
    clf = [r for r in recs if r["regime"] == "features"]
    cells = {(r["dataset"], r["model"], r["size"], r["seed"]) for r in clf}
    ft = [
        r
        for r in recs
        if r["regime"] == "finetune"
        and r["init"] == "pretrained"
        and (r["dataset"], r["model"], r["size"], r["seed"]) in cells
    ]
    used = {f"features/{r['dataset']}/{r['model']}/{r['features']['layer']}.npz" for r in clf}

    def total(rs, key="total_s"):
        return round(sum(r["timing"][key] for r in rs), 2)

    out = {
        "workdir": str(args.workdir),
        "grid_cells": len(cells),
        "extract_jobs": len(caches),
        "extract_s_all_caches": round(sum(caches.values()), 2),
        "extract_s_classifier_caches": round(sum(caches[c] for c in used), 2),
        "classify_jobs": len(clf),
        "classify_total_s": total(clf),
        "classify_fit_s": total(clf, "train_s"),
        "classify_fixed_cost_s": total(clf, "fixed_cost_s"),
        "finetune_jobs": len(ft),
        "finetune_total_s": total(ft),
        "finetune_train_s": total(ft, "train_s"),
        "finetune_freeze_all_total_s": total([r for r in ft if r["freeze"] == "all"]),
    }
    feats = out["extract_s_classifier_caches"] + out["classify_total_s"]
    out["features_total_s"] = round(feats, 2)
    out["finetune_over_features"] = round(out["finetune_total_s"] / max(feats, 1e-9), 2)
    out["per_job_s"] = {
        "classify": round(out["classify_total_s"] / max(len(clf), 1), 3),
        "finetune": round(out["finetune_total_s"] / max(len(ft), 1), 3),
    }
    text = json.dumps(out, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
