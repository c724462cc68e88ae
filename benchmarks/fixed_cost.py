"""Benchmark 2: per-job fixed cost inside a workflow run against a cold ``import torch``.

A real ``snakemake --cores 2`` run of small jobs (a plain-torch model and a timm
model, scratch training, several seeds) with a private warm server that starts
inside the run. Each record carries ``timing.fixed_cost_s`` (the job process's start
to its first training step done) and ``timing.startup`` (warm or cold). The reference,
measured in the same run: a cold ``python -c "import torch"``. A second, small
workflow run with ``TA_WARM=0`` gives the cold path's fixed cost.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from common import (
    cold_import_torch_s,
    device_name,
    load_records,
    median,
    print_table,
    run_workflow,
    warm_env,
    write_result,
)

NAME = "fixed_cost"
MODELS = {
    "plain_torch": {"arch": "small_cnn", "arch_args": {"channels": [8, 16]}, "input_size": 16},
    "timm": {"arch": "timm/test_resnet", "input_size": 16},
}


def config(seeds: list[int]) -> dict:
    return {
        "study": "bench_fixed_cost",
        "datasets": {
            "shapes": {
                "source": {"kind": "generated", "per_class": 30, "image_size": 16, "seed": 3}
            }
        },
        "models": MODELS,
        "train": {"epochs": 2, "batch_size": 16},
        "grid": {
            "targets": ["shapes"],
            "models": list(MODELS),
            "freeze": [0],
            "sizes": [40],
            "seeds": seeds,
        },
    }


def run(args) -> dict:
    seeds = list(range(3 if args.quick else 6))
    with tempfile.TemporaryDirectory(prefix="bench-fixed-") as tmp:
        tmp = Path(tmp)
        import_torch = cold_import_torch_s(3)
        warm_wall = run_workflow(tmp / "warm", config(seeds), env=warm_env(tmp))
        warm = load_records(tmp / "warm")
        cold_wall = run_workflow(tmp / "cold", config([0]), env={"TA_WARM": "0"})
        cold = load_records(tmp / "cold")
        import_torch += cold_import_torch_s(2)
    ref = median(import_torch)
    rows = []
    for label in MODELS:
        jobs = [r["timing"] for r in warm if r["model"] == label]
        costs = [t["fixed_cost_s"] for t in jobs]
        cold_costs = [r["timing"]["fixed_cost_s"] for r in cold if r["model"] == label]
        rows.append(
            {
                "model": label,
                "arch": MODELS[label]["arch"],
                "jobs": len(jobs),
                "warm_jobs": sum(t["startup"] == "warm" for t in jobs),
                "fixed_cost_median_s": median(costs),
                "fixed_cost_mean_s": statistics.fmean(costs),
                "fixed_cost_max_s": max(costs),
                "fixed_costs_s": sorted(costs),
                "cold_job_fixed_cost_s": median(cold_costs),
                "import_torch_s": ref,
                "ratio": median(costs) / ref,
                "ratio_mean": statistics.fmean(costs) / ref,
                "cold_job_ratio": median(cold_costs) / ref,
            }
        )
    print_table(
        "fixed cost per job in a workflow run (process start -> first step) / cold import torch",
        rows,
        [
            "model",
            "jobs",
            "warm_jobs",
            "fixed_cost_median_s",
            "fixed_cost_max_s",
            "cold_job_fixed_cost_s",
            "import_torch_s",
            "ratio",
            "ratio_mean",
        ],
    )
    payload = {
        "goal": "ratio (median fixed cost of a job in a workflow run / cold import torch) <= 0.2",
        "note": "the max (and the mean) include the jobs that waited for the warm server "
        "to start inside this run; cold_job_* is the same job with TA_WARM=0",
        "import_torch_runs_s": import_torch,
        "workflow_wall_s": {"warm_run": warm_wall, "cold_run": cold_wall},
        "rows": rows,
        "figures": {r["model"]: round(r["ratio"], 3) for r in rows},
        "met": all(r["ratio"] <= 0.2 and r["warm_jobs"] == r["jobs"] for r in rows),
    }
    write_result(NAME, device_name("cpu"), payload, args.command)
    return payload
