"""Benchmark: one big Parquet row group prepares as fast as many small ones (issue 24).

The same N images (32 x 32 noise PNGs, 10 string classes) written twice: as one
row group of N rows and as row groups of 1,000. Each is prepared by
``scripts/prepare_dataset.py --workers 2`` (a cold process), side by side in one run;
the figures are images/s and the peak anonymous memory of the prepare process tree.
Before issue 24 each 64-image task re-read its whole row group: 655 images/s with one
100k-row group against 7,561 with 1,000-row groups, and every worker held the group.

Goal: the single group within 1.5x of the 1,000-row groups' time, with the process
tree's peak memory not growing with the group (within 1.5x as well).
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import tempfile
from pathlib import Path

from common import PYTHON, ROOT, print_table, write_result
from prepare_scale import measured

NAME = "parquet_groups"
N_IMAGES, N_CLASSES, SIZE, WORKERS, SMALL_GROUP = 100_000, 10, 32, 2, 1_000
GOAL = 1.5


def _pngs(span) -> list[bytes]:
    import numpy as np
    from PIL import Image

    out = []
    for i in range(*span):
        rng = np.random.default_rng(i)
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(buf, "PNG")
        out.append(buf.getvalue())
    return out


def write_files(folder: Path, n: int) -> dict[str, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = {
        "one group": folder / "one.parquet",
        f"groups of {SMALL_GROUP}": folder / "small.parquet",
    }
    if (
        all(p.is_file() for p in files.values())
        and pq.ParquetFile(files["one group"]).metadata.num_rows == n
    ):
        return files
    folder.mkdir(parents=True, exist_ok=True)
    spans = [(s, min(n, s + 5000)) for s in range(0, n, 5000)]
    with multiprocessing.get_context("fork").Pool(WORKERS) as pool:
        images = [b for part in pool.map(_pngs, spans) for b in part]
    table = pa.table({"image": pa.array(images, pa.binary()),
                      "label": pa.array([f"c{i % N_CLASSES}" for i in range(n)])})  # fmt: skip
    pq.write_table(table, files["one group"], row_group_size=n)
    pq.write_table(table, files[f"groups of {SMALL_GROUP}"], row_group_size=SMALL_GROUP)
    return files


def run(args) -> dict:
    n = 10_000 if getattr(args, "quick", False) else N_IMAGES
    data_dir = Path(getattr(args, "data_dir", None) or "/tmp/bench-parquet-groups")
    files = write_files(data_dir / str(n), n)
    env = {"OMP_NUM_THREADS": "1"}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-parquet-", dir=data_dir) as tmp:
        for layout, path in files.items():
            Path(path).read_bytes()  # in the page cache for both alike
            spec = {"source": {"kind": "parquet", "root": str(path), "image_size": SIZE},
                    "split": {"val": 0.2, "test": 0.2, "seed": 0}}  # fmt: skip
            out = Path(tmp) / layout.replace(" ", "_")
            m = measured(
                [PYTHON, str(ROOT / "scripts" / "prepare_dataset.py"), "--name", layout,
                 "--spec", json.dumps(spec), "--out", str(out), "--workers", str(WORKERS)],
                env,
            )  # fmt: skip
            rows.append(
                {
                    "layout": layout,
                    "row_group_rows": n if layout == "one group" else SMALL_GROUP,
                    "wall_s": m["wall_s"],
                    "images_per_s": n / m["wall_s"],
                    "peak_anon_mb": m["peak_anon_mb"],
                    "tree_peak_anon_mb": m["tree_peak_anon_mb"],
                }
            )
    one, small = rows
    time_ratio = one["wall_s"] / small["wall_s"]
    mem_ratio = one["tree_peak_anon_mb"] / small["tree_peak_anon_mb"]
    print_table(f"{n} images ({SIZE} px PNG) from Parquet, {WORKERS} workers", rows,
                ["layout", "row_group_rows", "wall_s", "images_per_s", "peak_anon_mb",
                 "tree_peak_anon_mb"])  # fmt: skip
    print(f"time ratio one group / small groups: {time_ratio:.2f}; memory ratio {mem_ratio:.2f}")
    payload = {
        "goal": f"one {n}-row group prepares within {GOAL}x the time of {SMALL_GROUP}-row "
        f"groups, and its process tree's peak RssAnon within {GOAL}x",
        "met": bool(time_ratio <= GOAL and mem_ratio <= GOAL),
        "note": "cold prepare_dataset processes, files in the page cache; MB = 2^20 bytes; "
        "tree peak: the prepare process and its workers, sampled every 0.2 s (forked workers "
        "share the parent's pages, which count in each)",
        "n_images": n,
        "time_ratio": time_ratio,
        "memory_ratio": mem_ratio,
        "rows": rows,
        "cpu_count": os.cpu_count(),
    }
    write_result(NAME, "cpu", payload, args.command)
    return payload
