#!/usr/bin/env python
"""Rerun finished jobs of a study under an emulated AVX2-only CPU and compare (issue 23).

    python benchmarks/cross_cpu.py WORKDIR CONFIG TARGET...

For each TARGET (a record or a pretrained weights file of a study already run in
WORKDIR), the job's own command (as ``snakemake -n -p -f TARGET`` prints it) runs again,
cold, under ``qemu-x86_64 -cpu Haswell`` into a side file; records are compared apart from
``timing``, the recorded CPU and ``code_version`` (the library source's hash: a record
made before an edit of ``src/`` differs there on any CPU), weights byte for byte.
``--compare-only`` compares side files left by an earlier run. Writes
``benchmarks/results/cross_cpu.json``. Emulation is 20-50x slower: pick a few jobs.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, write_result

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def _command(workdir: str, config: str, target: str) -> str:
    out = subprocess.run(
        [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", workdir, "-n", "-p", "-f", target,
         "--configfile", config], capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    line = next(x for x in out.splitlines() if "Shell command:" in x and target in x)
    cmd = re.sub(r"^\$TA_PY \$TA_SCRIPTS/with_gpus\.py \S+ ", "", line.split(":", 1)[1].strip())
    return cmd.split(" > logs/")[0]


def _comparable(path: Path):
    if path.suffix == ".safetensors":
        return hashlib.sha256(path.read_bytes()).hexdigest()
    rec = copy.deepcopy(json.loads(path.read_text()))
    rec.pop("timing", None)
    rec.get("provenance", {}).get("numerics", {}).pop("cpu", None)
    rec.get("provenance", {}).pop("code_version", None)
    rec.get("features", {}).pop("extract_s", None)
    for key in ("score_s", "extract_s"):  # transferability scores' own timings
        rec.pop(key, None)
    return rec


def main(argv=None) -> int:
    args = list(argv or sys.argv[1:])
    compare_only = "--compare-only" in args
    workdir, config, *targets = [a for a in args if a != "--compare-only"]
    qemu = shutil.which("qemu-x86_64")
    env = {**os.environ, "TA_PY": shlex.join([qemu, "-cpu", "Haswell", sys.executable]),
           "TA_SCRIPTS": str(ROOT / "scripts"), "TA_WARM": "0"}  # fmt: skip
    rows = []
    for target in targets:
        side = f"{target}.haswell{Path(target).suffix}"
        cmd = _command(workdir, config, target).replace(f"--out {target}", f"--out {side}")
        t = time.perf_counter()
        run = ["true"] if compare_only else ["bash", "-c", cmd]
        proc = subprocess.run(run, cwd=workdir, env=env, capture_output=True)
        if proc.returncode != 0:
            print(proc.stderr.decode()[-2000:], file=sys.stderr)
        same = proc.returncode == 0 and (
            _comparable(Path(workdir, target)) == _comparable(Path(workdir, side))
        )
        rows.append({"job": target, "identical": same, "emulated_s": time.perf_counter() - t})
        print(f"{'identical' if same else 'DIFFERENT'}  {target}  ({rows[-1]['emulated_s']:.0f} s)")
    met = all(r["identical"] for r in rows)
    write_result(
        "cross_cpu", "cpu", {"config": config, "rows": rows, "met": met}, shlex.join(sys.argv)
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
