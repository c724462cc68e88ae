"""Benchmark 4: a study-003-shaped grid end to end, project against a naive implementation.

Study 003 pretrains a small CNN on a source domain, then fine-tunes it on a binary
target task with 0..k frozen layers over a range of training sizes (plus a
from-scratch baseline). Here, sized for a small CPU: generated shapes (4 classes) as
the source, two of their classes drawn anew as the target, freeze depths x sizes x
seeds. The project runs it through ``snakemake --cores 2`` (prepare, pretrain,
fine-tune; a warm server started inside the run). The reference is
``benchmarks/naive_grid.py`` (one cold process per job, ImageFolder + PIL transforms
in a DataLoader, no caches, frozen layers run every epoch), two jobs at a time, on PNG
folders of the same images written before the clock starts.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from common import (
    PYTHON,
    device_name,
    load_records,
    print_table,
    run_workflow,
    warm_env,
    write_result,
)

NAME = "grid003"
NAIVE = Path(__file__).resolve().parent / "naive_grid.py"
SOURCE = {"kind": "generated", "per_class": 150, "image_size": 32, "seed": 11}
TARGET = {"kind": "generated", "per_class": 150, "image_size": 32, "seed": 12}
TARGET_CLASSES = ["circle", "square"]
CHANNELS = [16, 32, 64]
TRAIN = {"epochs": 8, "min_steps": 20, "batch_size": 32, "lr": 0.003, "optimizer": "adam"}
PRETRAIN_EPOCHS = 5


def grid(quick: bool) -> dict:
    return {
        "freeze": [0, 2, "all"],
        "sizes": [10, 40] if quick else [10, 40, 160],
        "seeds": [0],
    }


def config(g: dict) -> dict:
    return {
        "study": "bench_grid003",
        "datasets": {
            "source": {"source": SOURCE},
            "target": {"source": TARGET, "classes": TARGET_CLASSES},
        },
        "models": {
            "cnn": {
                "arch": "small_cnn",
                "arch_args": {"channels": CHANNELS},
                "input_size": 32,
                "weights": {"pretrain": "source", "train": {"epochs": PRETRAIN_EPOCHS}},
            }
        },
        "train": TRAIN,
        "grid": {"targets": ["target"], "models": ["cnn"], **g, "scratch": True},
    }


def write_png_folders(spec: dict, classes, out: Path) -> None:
    """The dataset as a naive study would find it on disk: one PNG per image."""
    from PIL import Image

    from transfer_atlas.data import prepared as data

    prep = data.prepare({"source": spec, "classes": classes})
    for split, idx in (("train", prep.train_idx), ("val", prep.val_idx), ("test", prep.test_idx)):
        for i in idx:
            d = out / split / prep.class_names[prep.labels[i]]
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray(prep.images[i, :, :, 0], mode="L").save(d / f"{i}.png")


def run_naive(tmp: Path, g: dict) -> tuple[float, list[dict]]:
    common = [
        "--epochs",
        str(TRAIN["epochs"]),
        "--min-steps",
        str(TRAIN["min_steps"]),
        "--batch",
        str(TRAIN["batch_size"]),
        "--lr",
        str(TRAIN["lr"]),
        "--channels",
        ",".join(map(str, CHANNELS)),
    ]
    weights = tmp / "naive" / "source.pt"
    n_groups = len(CHANNELS)

    def job(args, out):
        log = open(out.with_suffix(".log"), "w")
        subprocess.run(
            [PYTHON, str(NAIVE), *args, "--out", str(out)],
            check=True,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return out

    (tmp / "naive").mkdir()
    finetunes = []
    for size in g["sizes"]:
        for seed in g["seeds"]:
            for freeze in [*g["freeze"], "scratch"]:
                k = n_groups if freeze == "all" else (0 if freeze == "scratch" else freeze)
                args = [
                    "finetune",
                    "--data",
                    str(tmp / "png" / "target"),
                    "--freeze",
                    str(k),
                    "--size",
                    str(size),
                    "--seed",
                    str(seed),
                    *common,
                ]
                if freeze != "scratch":
                    args += ["--weights", str(weights)]
                finetunes.append((args, tmp / "naive" / f"{freeze}_{size}_{seed}.json"))
    t = time.perf_counter()
    with cf.ThreadPoolExecutor(2) as pool:
        pre = pool.submit(
            job,
            [
                "pretrain",
                "--data",
                str(tmp / "png" / "source"),
                *common[2:],
                "--epochs",
                str(PRETRAIN_EPOCHS),
            ],
            weights,
        )
        futures = [pool.submit(job, a, o) for a, o in finetunes if "--weights" not in a]
        pre.result()
        futures += [pool.submit(job, a, o) for a, o in finetunes if "--weights" in a]
        outs = [f.result() for f in futures]
    wall = time.perf_counter() - t
    return wall, [json.loads(o.read_text()) for o in outs]


def run(args) -> dict:
    g = grid(args.quick)
    with tempfile.TemporaryDirectory(prefix="bench-grid003-") as tmp:
        tmp = Path(tmp)
        write_png_folders(SOURCE, None, tmp / "png" / "source")
        write_png_folders(TARGET, TARGET_CLASSES, tmp / "png" / "target")
        project_s = run_workflow(tmp / "project", config(g), env=warm_env(tmp))
        records = load_records(tmp / "project")
        naive_s, naive = run_naive(tmp, g)
    jobs = len(records) + 1  # + the source pretraining
    row = {
        "grid": f"freeze {g['freeze']} x sizes {g['sizes']} x seeds {g['seeds']} + scratch",
        "jobs": jobs,
        "project_s": project_s,
        "naive_s": naive_s,
        "ratio": naive_s / project_s,
        "project_mean_accuracy": statistics.fmean(r["metrics"]["accuracy"] for r in records),
        "naive_mean_accuracy": statistics.fmean(r["accuracy"] for r in naive),
        "project_warm_jobs": sum(r["timing"]["startup"] == "warm" for r in records),
        "project_prefix_cached_jobs": sum(r["timing"]["prefix_cached"] > 0 for r in records),
    }
    print_table(
        "study-003-shaped grid end to end: naive implementation / project (wall seconds)",
        [row],
        ["jobs", "project_s", "naive_s", "ratio", "project_mean_accuracy", "naive_mean_accuracy"],
    )
    payload = {
        "goal": "ratio (naive wall time / project wall time) >= 5",
        "note": "both sides run two jobs at a time; the project's time includes Snakemake, "
        "dataset preparation and starting its warm server; the naive side's PNG folders "
        "are written before its clock starts",
        "config": config(g),
        "rows": [row],
        "figures": {"speedup": round(row["ratio"], 2)},
        "met": row["ratio"] >= 5,
    }
    write_result(NAME, device_name("cpu"), payload, args.command)
    return payload
