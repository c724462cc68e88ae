"""Benchmark: identifying a dataset by its content at every DAG build (issue 23).

``data.identity.content_id`` hashes every file of a source, caching each file's sha256 by
path, size, mtime, inode and ctime (``core.treehash``). It runs while Snakemake builds
the DAG, on every call, so the warm figure (nothing changed) is the one users pay each
time. On the 20,000-JPEG tree of ``prepare_scale``, side by side in one run:

- the floor: listing the tree and one ``stat`` per file, nothing hashed;
- cold: no cache (first run, or after ``.snakemake/`` was removed);
- warm: the cache from the run before, nothing changed;
- after a copy: every file's mtime and inode new, the bytes the same (``dvc pull``,
  ``cp -r``): everything rehashed, the same content id, so nothing reruns;
- one file changed.

Goal: the warm check well under a second (under 1 s here).
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from common import print_table, write_result
from prepare_scale import make_tree

NAME = "content_check"
GOAL_S = 1.0


def _timed(fn, repeats: int = 3) -> tuple[float, object]:
    times, value = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), value


def _floor(root: Path) -> int:
    return sum(
        1 for folder, _, files in os.walk(root) for f in files if os.stat(os.path.join(folder, f))
    )


def run(args) -> dict:
    from transfer_atlas.data.identity import content_id

    data_dir = Path(getattr(args, "data_dir", None) or "/tmp/bench-prepare-scale")
    tree = make_tree(data_dir / "tree")
    with tempfile.TemporaryDirectory(prefix="bench-content-", dir=data_dir) as tmp:
        root = Path(tmp) / "tree"
        shutil.copytree(tree, root, copy_function=shutil.copyfile)
        source = {"kind": "image_folder", "root": str(root)}
        cache = str(Path(tmp) / "cache")
        n_files = _floor(root)
        mb = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6
        floor_s, _ = _timed(lambda: _floor(root))
        t = time.perf_counter()
        first = content_id(source, cache)
        cold_s = time.perf_counter() - t
        warm_s, warm = _timed(lambda: content_id(source, cache))
        moved = Path(tmp) / "moved"
        shutil.copytree(root, moved, copy_function=shutil.copyfile)
        shutil.rmtree(root)
        moved.rename(root)
        t = time.perf_counter()
        copied = content_id(source, cache)
        copy_s = time.perf_counter() - t
        victim = next(root.rglob("*.jpg"))
        victim.write_bytes(victim.read_bytes() + b"\0")
        t = time.perf_counter()
        changed = content_id(source, cache)
        one_s = time.perf_counter() - t
    assert warm == first == copied != changed, "content ids"
    rows = [
        {"check": "floor: walk + stat", "wall_s": floor_s},
        {"check": "cold (no cache)", "wall_s": cold_s, "mb_per_s": mb / cold_s},
        {"check": "warm (nothing changed)", "wall_s": warm_s, "vs_floor": warm_s / floor_s},
        {"check": "after a copy (same bytes)", "wall_s": copy_s, "same_id": True},
        {"check": "one file changed", "wall_s": one_s, "same_id": False},
    ]
    print_table(
        f"content check, {n_files} files, {mb:.0f} MB",
        rows,
        ["check", "wall_s", "vs_floor", "mb_per_s"],
    )
    met = warm_s < GOAL_S
    write_result(
        NAME,
        "cpu",
        {"files": n_files, "megabytes": mb, "rows": rows, "goal": f"warm < {GOAL_S} s", "met": met},
        args.command,
    )
    return {"met": met}
