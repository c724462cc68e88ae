"""Benchmark: the cost of checking a prepared dataset whole before a job uses it (issue 24).

Every job that loads prepared data (``data.prepared.load``) hashes every byte of every
array file and of ``meta.json`` (``data.integrity``) and refuses a folder that changed
since it was prepared. On the 20,000-image set of ``prepare_scale`` (3.0 GB of uint8 at
224 px), measured side by side in one run:

- the check alone (``load`` with and without it, three times each, files in the page
  cache, as they are for jobs that run after preparation or after each other);
- ``prepare_dataset`` itself (which computes the hash once, at the end);
- one cold scratch fine-tune job (``small_cnn`` at 224 px, n = 100, 1 epoch: the
  cheapest job a study runs on this set), which includes one check.

Goal: the check costs at most 5% of that job's wall time.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from common import print_table, write_result
from prepare_scale import finetune_once, make_tree, prepare_tree

NAME = "prepared_check"
GOAL = 0.05


def _timed(fn, repeats=3) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def run(args) -> dict:
    from transfer_atlas.data import prepared as data

    data_dir = Path(getattr(args, "data_dir", None) or "/tmp/bench-prepare-scale")
    root = make_tree(data_dir / "tree")
    env = {"TA_WARM": "0", "TA_DEVICE": "cpu", "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory(prefix="bench-check-", dir=data_dir) as tmp:
        out = Path(tmp) / "prep"
        prep = prepare_tree(root, out, env)
        gb = (out / "images.npy").stat().st_size / 1e9
        checked = _timed(lambda: data.load(out))
        unchecked = _timed(lambda: data.load(out, verify=False))
        ft = finetune_once(out, Path(tmp) / "r.json", env)
    check_s = statistics.median(checked) - statistics.median(unchecked)
    rows = [
        {"step": "load, checked whole", "wall_s": statistics.median(checked)},
        {"step": "load, unchecked", "wall_s": statistics.median(unchecked)},
        {"step": "the check", "wall_s": check_s, "gb_per_s": gb / check_s},
        {"step": "prepare_dataset (hash included)", "wall_s": prep["wall_s"],
         "check_share": check_s / prep["wall_s"]},
        {"step": "finetune n=100, 1 epoch (check included)", "wall_s": ft["wall_s"],
         "check_share": check_s / ft["wall_s"]},
    ]  # fmt: skip
    print_table(
        f"checking {gb:.2f} GB of prepared images whole", rows,
        ["step", "wall_s", "gb_per_s", "check_share"],
    )  # fmt: skip
    share = check_s / ft["wall_s"]
    payload = {
        "goal": f"the whole-data check costs <= {GOAL:.0%} of the cheapest fine-tune job's "
        "wall time",
        "met": bool(share <= GOAL),
        "note": "sha256 over 64 MiB blocks in up to 4 threads, files in the page cache; medians "
        "of 3; a job whose data is not cached also reads it from disk once for the check "
        "(its training then reads cached pages)",
        "images_npy_gb": gb,
        "check_s": check_s,
        "check_over_job": share,
        "load_checked_s_runs": checked,
        "load_unchecked_s_runs": unchecked,
        "rows": rows,
    }
    write_result(NAME, "cpu", payload, args.command)
    return payload
