"""GPU check 2: a study-003-shaped grid with 1 against 4 jobs per GPU (``gpu_slots``).

The ``grid003`` benchmark's study (small CNN pretrained on generated shapes, fine-tuned
on two classes at freeze depths x sizes, from-scratch baselines), with more seeds, run
by ``snakemake --cores N --config gpu_slots=k`` (a warm server started inside the run)
for k = 1 and k = 4 in fresh folders: jobs per hour and GPU utilisation sampled from
``nvidia-smi``. Writes ``benchmarks/results/gpu_grid-cuda.json``. Run by
``benchmarks/gpu_check.sh``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grid003
from common import ROOT, SNAKEMAKE, load_records, print_table, record_paths, warm_env, write_result
from gpu_throughput import Utilisation

SEEDS = [0, 1, 2, 3]


def run_grid(workdir: Path, cfg: dict, slots: int, cores: int) -> dict:
    import yaml

    workdir.mkdir(parents=True)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    targets = record_paths(cfg)
    cmd = [SNAKEMAKE, *targets, "--cores", str(cores), "-s", str(ROOT / "Snakefile"),
           "-d", str(workdir), "--configfile", str(path),
           "--config", f"gpu_slots={slots}"]  # fmt: skip
    env = {**os.environ, **warm_env(workdir)}
    t = time.perf_counter()
    with Utilisation() as u:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"snakemake (slots={slots}) failed:\n{proc.stderr[-4000:]}")
    records = load_records(workdir)
    devices = sorted({r["provenance"]["device"].get("name", "?") for r in records})
    return {"gpu_slots": slots, "jobs": len(records), "wall_s": wall,
            "jobs_per_hour": len(records) / wall * 3600, "gpu_util_mean_pct": u.mean,
            "devices": ", ".join(devices)}  # fmt: skip


def run(command: str) -> dict:
    cfg = grid003.config({**grid003.grid(False), "seeds": SEEDS})
    cores = min(16, os.cpu_count() or 1)
    with tempfile.TemporaryDirectory(prefix="gpu-grid-") as tmp:
        rows = [run_grid(Path(tmp) / f"slots{k}", cfg, k, cores) for k in (1, 4)]
    print_table("study-003-shaped grid on one GPU: 1 vs 4 jobs per GPU", rows, list(rows[0]))
    payload = {
        "goal": "reported: jobs per hour with 4 slots / with 1 slot (> 1: sharing pays)",
        "met": rows[1]["jobs_per_hour"] > rows[0]["jobs_per_hour"],
        "speedup": rows[1]["jobs_per_hour"] / rows[0]["jobs_per_hour"],
        "cores": cores,
        "rows": rows,
    }
    write_result("gpu_grid", "cuda", payload, command)
    return payload


if __name__ == "__main__":
    run("python benchmarks/gpu_grid.py " + " ".join(sys.argv[1:]))
