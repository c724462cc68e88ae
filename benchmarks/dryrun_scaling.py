#!/usr/bin/env python
"""Dry-run cost of the workflow on large grids, next to a plain expand() workflow.

For about 1k, 5k and 20k jobs this times `snakemake -n --quiet rules` twice, side by
side in the same run: on the project's workflow with a trimmed copy of
config/studies/large-grid.yaml, and on a reference Snakefile with the same number of
jobs made by one plain expand() over the same file shape (six wildcards, a log, a
param), with a static input and no input functions or config logic. The
ratio (workflow / reference) is what the DAG-building code of the rule files
(workflow/rules/) costs beyond Snakemake itself. Figures go to
benchmarks/results/dryrun_scaling.json.

With ``--ablate`` it also times the workflow with each of the DAG-speed tricks of
workflow/rules/dag_speed.smk turned off in turn (``TA_DAG_SPEED_OFF=<trick>``), so a
trick stays only while it still pays; figures go to benchmarks/results/dryrun_ablation.json.

    .venv/bin/python benchmarks/dryrun_scaling.py [--points 1000 5000 20000] [--repeats 1]
    .venv/bin/python benchmarks/dryrun_scaling.py --ablate [gc signature ...] --repeats 2
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
LARGE_GRID = ROOT / "config" / "studies" / "large-grid.yaml"
OUT = ROOT / "benchmarks" / "results" / "dryrun_scaling.json"
ABLATION_OUT = ROOT / "benchmarks" / "results" / "dryrun_ablation.json"
#: The switches of workflow/rules/dag_speed.smk (TA_DAG_SPEED_OFF).
TRICKS = ("gc", "signature")

REFERENCE = """\
# N jobs made by one plain expand(): the same output, log and wildcard shape as a
# fine-tune job (results/runs/{dataset}/{model}/{init}_f{freeze}_n{size}_s{seed}.json),
# but a static input, a static param and no config logic or input functions.
import itertools

N = int(config["n"])
CELLS = list(
    itertools.islice(
        itertools.product(
            range(10**6),
            ["d0", "d1", "d2", "d3", "d4", "d5"],
            ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"],
            ["pretrained", "scratch"],
            ["0", "1", "2", "all"],
            ["5", "10", "20", "50", "100", "200", "400", "all"],
        ),
        N,
    )
)
PATTERN = "results/runs/{dataset}/{model}/{init}_f{freeze}_n{size}_s{seed}.json"


rule all:
    input:
        expand(
            PATTERN,
            zip,
            seed=[c[0] for c in CELLS],
            dataset=[c[1] for c in CELLS],
            model=[c[2] for c in CELLS],
            init=[c[3] for c in CELLS],
            freeze=[c[4] for c in CELLS],
            size=[c[5] for c in CELLS],
        ),


rule make:
    input:
        "shared.txt",
    output:
        PATTERN,
    log:
        "logs/{dataset}/{model}/{init}_f{freeze}_n{size}_s{seed}.log",
    params:
        job="--job {dataset}-{model}-{init}-{freeze}-{size}-{seed}",
    shell:
        "cp {input} {output} 2> {log}"


rule shared:
    output:
        "shared.txt",
    shell:
        "touch {output}"
"""


def total_jobs(config: dict) -> int:
    """Jobs of a full dry run: every fine-tune, preparation and pretraining, plus 4."""
    from transfer_atlas.spec.study import resolve

    study = resolve(config)
    cells = sum(1 for _ in study.finetune_cells())
    models = study.grid["models"]
    sources = {study.pretrain_spec(m)["pretrain"] for m in models if study.pretrain_spec(m)}
    datasets = set(study.grid["targets"]) | sources
    pretrained = sum(1 for m in models if study.pretrain_spec(m))
    return cells + len(datasets) + pretrained + 4  # aggregate, figures, report, all


def trimmed(config: dict, target: int) -> dict:
    """The large grid cut down (fewer seeds, models, targets) to about ``target`` jobs."""
    grid = config["grid"]
    best = None
    for s, m, t in itertools.product(
        range(1, len(grid["seeds"]) + 1),
        range(1, len(grid["models"]) + 1),
        range(1, len(grid["targets"]) + 1),
    ):
        cfg = json.loads(json.dumps(config))
        cfg["grid"].update(
            seeds=grid["seeds"][:s], models=grid["models"][:m], targets=grid["targets"][:t]
        )
        per_cell = len(grid["freeze"]) + int(grid.get("scratch", True))
        n = per_cell * s * m * t * len(grid["sizes"])  # estimate; exact count below
        if best is None or abs(n - target) < best[0]:
            best = (abs(n - target), cfg)
    return best[1]


def timed(cmd: list[str], cwd: Path, off: str = "") -> dict:
    """Wall time and peak memory of one command (fails loudly if it fails); ``off``
    names the DAG-speed tricks to turn off."""
    env = {**os.environ, "TA_DAG_SPEED_OFF": off}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out[-3000:]}")
    jobs = next(
        (int(ln.split()[1]) for ln in out.splitlines() if ln.strip().startswith("total")), None
    )
    return {
        "seconds": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),  # less sensitive to load
        "max_rss_mb": round(usage.ru_maxrss / 1024),
        "jobs": jobs,
    }


def measure(target: int, config: dict, scratch: Path, repeats: int, ablate=()) -> dict:
    cfg = trimmed(config, target)
    n_jobs = total_jobs(cfg)
    work = scratch / f"workflow_{target}"
    ref = scratch / f"reference_{target}"
    work.mkdir()
    ref.mkdir()
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    (ref / "Snakefile").write_text(REFERENCE)
    ours_cmd = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(work), "-n"]
    ours_cmd += ["--quiet", "rules", "--configfile", str(work / "config.yaml")]
    # The workflow's own count (report-side jobs included) sizes the reference; it must
    # cover at least the jobs the grid implies.
    counted = timed(ours_cmd, work)["jobs"]
    assert counted >= n_jobs, (counted, n_jobs)
    n_jobs = counted
    (ref / "config.yaml").write_text(f"n: {n_jobs - 2}\n")
    ref_cmd = [SNAKEMAKE, "-n", "--quiet", "rules", "--configfile", "config.yaml"]
    ours, reference = [], []
    without = {trick: [] for trick in ablate}
    for i in range(repeats):  # alternate the order: the machine's load drifts
        runs = [(ref_cmd, ref, reference, ""), (ours_cmd, work, ours, "")]
        runs += [(ours_cmd, work, without[t], t) for t in ablate]
        for cmd, cwd, sink, off in runs if i % 2 == 0 else runs[::-1]:
            sink.append(timed(cmd, cwd, off))
    best_ours = min(ours, key=lambda r: r["seconds"])
    best_ref = min(reference, key=lambda r: r["seconds"])
    assert best_ours["jobs"] == n_jobs, (best_ours, n_jobs)
    assert best_ref["jobs"] == n_jobs, (best_ref, n_jobs)
    return {
        "target": target,
        "jobs": n_jobs,
        "grid": {k: len(cfg["grid"][k]) for k in ("targets", "models", "seeds")},
        "workflow_s": best_ours["seconds"],
        "reference_s": best_ref["seconds"],
        "ratio": round(best_ours["seconds"] / best_ref["seconds"], 3),
        "workflow_cpu_s": best_ours["cpu_s"],
        "reference_cpu_s": best_ref["cpu_s"],
        "cpu_ratio": round(best_ours["cpu_s"] / best_ref["cpu_s"], 3),
        "workflow_max_rss_mb": best_ours["max_rss_mb"],
        "reference_max_rss_mb": best_ref["max_rss_mb"],
        "runs": {"workflow": ours, "reference": reference},
        **({"ablation": _ablation(ours, without)} if ablate else {}),
    }


def _ablation(ours: list[dict], without: dict) -> dict:
    """Per trick: the best runs without it, and what turning it off costs (+ = it pays).
    CPU time, best of the repeats, is what decides: wall time follows the machine's load."""
    base = min(r["cpu_s"] for r in ours)
    out = {}
    for trick, runs in without.items():
        cpu = min(r["cpu_s"] for r in runs)
        out[trick] = {
            "workflow_s": min(r["seconds"] for r in runs),
            "workflow_cpu_s": cpu,
            "with_trick_cpu_s": base,
            "cpu_s_saved": round(cpu - base, 2),
            "cpu_saved_pct": round(100 * (cpu / base - 1), 1),
            "runs": runs,
        }
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--points", type=int, nargs="+", default=[1000, 5000, 20000])
    p.add_argument("--repeats", type=int, default=1, help="runs per point; the best counts")
    p.add_argument(
        "--ablate",
        nargs="*",
        choices=TRICKS,
        help="also time the workflow with each named DAG-speed trick off (none named: all)",
    )
    p.add_argument("--out", type=Path, help=f"default {OUT} ({ABLATION_OUT} with --ablate)")
    args = p.parse_args(argv)
    ablate = () if args.ablate is None else tuple(args.ablate or TRICKS)
    args.out = args.out or (ABLATION_OUT if ablate else OUT)
    config = yaml.safe_load(LARGE_GRID.read_text())
    rows = []
    with tempfile.TemporaryDirectory(prefix="dryrun-scaling-") as tmp:
        for target in args.points:
            rows.append(measure(target, config, Path(tmp), args.repeats, ablate))
            r = rows[-1]
            print(
                f"{r['jobs']:>7} jobs: workflow {r['workflow_s']:7.2f} s, "
                f"reference {r['reference_s']:7.2f} s, ratio {r['ratio']:.2f} "
                f"(CPU time ratio {r['cpu_ratio']:.2f})",
                flush=True,
            )
            for trick, a in r.get("ablation", {}).items():
                print(
                    f"{'':>13}without {trick:<9}: CPU {a['workflow_cpu_s']:6.2f} s "
                    f"({a['cpu_saved_pct']:+.1f}% vs {a['with_trick_cpu_s']:.2f} s with it)",
                    flush=True,
                )
    result = {
        "benchmark": "snakemake -n --quiet rules: workflow vs plain expand() reference",
        "command": "python benchmarks/dryrun_scaling.py " + " ".join(argv or sys.argv[1:]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "points": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print()
    print(
        f"{'jobs':>7} | {'workflow s':>10} | {'reference s':>11} | {'ratio':>5} | "
        f"{'CPU ratio':>9} | {'workflow MB':>11} | {'reference MB':>12}"
    )
    for r in rows:
        print(
            f"{r['jobs']:>7} | {r['workflow_s']:>10.2f} | {r['reference_s']:>11.2f} | "
            f"{r['ratio']:>5.2f} | {r['cpu_ratio']:>9.2f} | {r['workflow_max_rss_mb']:>11} | "
            f"{r['reference_max_rss_mb']:>12}"
        )
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
