"""Benchmark 5: peak memory (max resident set) of one job against a bare reference job.

Project side: a real cold fine-tune job (``scripts/finetune.py`` with
``TA_WARM=0``) on a prepared dataset: data load, on-device pipeline,
training, evaluation, cost figures, record. Reference side: a cold process that
imports the same libraries, builds the same model and trains it for the same number
of steps on synthetic tensors already at the model's input size. Peak RSS of each
child comes from ``wait4``; the ratio is the figure. A process that only imports
torch is reported as the floor.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from common import PYTHON, ROOT, device_name, print_table, write_result

NAME = "memory"
CASES = {
    "plain_torch": {
        "arch": "small_cnn",
        "arch_args": {"channels": [32, 64, 128]},
        "input_size": 32,
        "in_chans": 1,
    },
    "timm": {"arch": "timm/resnet18", "arch_args": {}, "input_size": 64, "in_chans": 1},
}
TRAIN = {"epochs": 3, "batch_size": 32}
BARE = """
import math, torch, torch.nn.functional as F
from transfer_atlas.nn import models
spec, n, classes, epochs, bs = {spec!r}, {n}, {classes}, {epochs}, {bs}
torch.set_num_threads(1)
model = models.build(spec, classes)
s = spec["input_size"]
x, y = torch.randn(n, spec["in_chans"], s, s), torch.randint(0, classes, (n,))
opt = torch.optim.Adam(model.parameters(), lr=0.003)
for _ in range(epochs):
    for i in range(0, n, bs):
        loss = F.cross_entropy(model(x[i:i + bs]), y[i:i + bs])
        opt.zero_grad(); loss.backward(); opt.step()
"""


#: Linux keeps a process's peak RSS across exec, and a fork starts from its parent's
#: peak: measured children are started by this small process, not by the benchmark.
WAIT4 = """
import os, subprocess, sys
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(p.pid, 0)
print(usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def peak_rss_mb(cmd: list[str], env: dict | None = None) -> float:
    """Max resident set size of a child process (it must succeed), in MiB."""
    proc = subprocess.run(
        [PYTHON, "-c", WAIT4, *cmd],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed: {proc.stderr[-2000:]}")
    return int(proc.stdout.split()[-1]) / 1024


def run(args) -> dict:
    from transfer_atlas.data import prepared as data
    from transfer_atlas.data.sources import load_generated
    from transfer_atlas.spec.study import TRAIN_DEFAULTS

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        tmp = Path(tmp)
        images, labels, names = load_generated(per_class=100, image_size=32, seed=9)
        tr, va, te = data.stratified_split(labels, 0.2, 0.2, 0)
        fp = data.fingerprint(images, labels, tr, va, te)
        data.save(data.Prepared(images, labels, names, tr, va, te, fp), tmp / "prep")
        floor = peak_rss_mb([PYTHON, "-c", "import torch"])
        for label, spec in CASES.items():
            hp = {**TRAIN_DEFAULTS, **TRAIN}
            job = {
                "study": "bench",
                "dataset": "shapes",
                "model": label,
                "init": "scratch",
                "freeze": "0",
                "size": "all",
                "seed": 0,
                "model_spec": {**spec, "train": hp},
            }
            project = peak_rss_mb(
                [
                    PYTHON,
                    str(ROOT / "scripts" / "finetune.py"),
                    "finetune",
                    "--job",
                    json.dumps(job),
                    "--data",
                    str(tmp / "prep"),
                    "--out",
                    str(tmp / "r.json"),
                ],
                env={"TA_WARM": "0", "TA_DEVICE": "cpu"},
            )
            code = BARE.format(
                spec=spec,
                n=len(tr),
                classes=len(names),
                epochs=TRAIN["epochs"],
                bs=TRAIN["batch_size"],
            )
            bare = peak_rss_mb([PYTHON, "-c", code])
            rows.append(
                {
                    "model": label,
                    "arch": spec["arch"],
                    "n_train": len(tr),
                    "project_peak_mb": project,
                    "bare_peak_mb": bare,
                    "import_torch_peak_mb": floor,
                    "ratio": project / bare,
                }
            )
    print_table(
        "peak memory per job (max RSS, MiB): project job vs bare reference",
        rows,
        ["model", "arch", "project_peak_mb", "bare_peak_mb", "import_torch_peak_mb", "ratio"],
    )
    payload = {
        "goal": "reported: ratio (project job peak RSS / bare reference peak RSS) near 1; "
        "counted as met at <= 1.25",
        "note": "cold processes on the CPU; a warm job is a fork of the server and shares "
        "its pages copy-on-write, so its own RSS is not comparable this way",
        "train": TRAIN,
        "rows": rows,
        "figures": {r["model"]: round(r["ratio"], 3) for r in rows},
        "met": all(r["ratio"] <= 1.25 for r in rows),
    }
    write_result(NAME, device_name("cpu"), payload, args.command)
    return payload
