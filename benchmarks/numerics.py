"""Benchmark: what portable numerics cost (issue 23).

``numerics: portable`` (the default) pins the CPU kernels of every job to AVX2 and MKL's
vendor-neutral branch (``core.numerics``); ``native`` lets each library pick the fastest
kernels for this CPU. Each side runs in its own process (the libraries read the
variables when they load), one thread, the same models in one run: the default study's
two fine-tuned models at 16 px, and EfficientNet-Lite0 at 224 px (a real ImageNet-sized
CNN). Figures: training images/s (forward, backward, fused Adam step) and inference
images/s, and the ratio portable/native.

Goal: none to meet, a cost to state (docs/performance.md); ``met`` is true when every
figure was measured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from common import PYTHON, print_table, write_result

NAME = "numerics"
MODELS = [
    {"name": "small_cnn", "arch": "small_cnn", "arch_args": {"channels": [16, 32, 64]},
     "input_size": 16, "in_chans": 1, "batch": 32},
    {"name": "test_resnet", "arch": "timm/test_resnet", "arch_args": {}, "input_size": 16,
     "in_chans": 1, "batch": 32},
    {"name": "efficientnet_lite0@224", "arch": "timm/efficientnet_lite0", "arch_args": {},
     "input_size": 224, "in_chans": 3, "batch": 16},
]  # fmt: skip

WORKER = r"""
import json, sys, time
import transfer_atlas, torch
from transfer_atlas.core import numerics
from transfer_atlas.nn.models import build
torch.set_num_threads(1)
spec = json.loads(sys.argv[1]); steps = int(sys.argv[2])
model = build(spec, num_classes=10)
opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
x = torch.randn(spec["batch"], spec["in_chans"], spec["input_size"], spec["input_size"])
y = torch.randint(0, 10, (spec["batch"],))
def train():
    opt.zero_grad(); torch.nn.functional.cross_entropy(model(x), y).backward(); opt.step()
def infer():
    with torch.no_grad(): model(x)
out = {"numerics": numerics.describe()}
for name, fn in (("train", train), ("infer", infer)):
    model.train(name == "train"); fn()
    t = time.perf_counter()
    for _ in range(steps): fn()
    out[name + "_img_s"] = steps * spec["batch"] / (time.perf_counter() - t)
print(json.dumps(out))
"""


def _measure(spec: dict, mode: str, steps: int) -> dict:
    env = {**os.environ, "TA_NUMERICS": mode, "OMP_NUM_THREADS": "1"}
    for key in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR", "OPENBLAS_CORETYPE"):
        env.pop(key, None)
    proc = subprocess.run(
        [PYTHON, "-c", WORKER, json.dumps(spec), str(steps)],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(args) -> dict:
    rows = []
    for spec in MODELS:
        steps = 3 if args.quick else (10 if spec["input_size"] >= 224 else 40)
        # native, portable, native, portable: each side's best of two, interleaved so that
        # load changes on a shared machine hit both sides alike
        runs = {m: [] for m in ("native", "portable")}
        for _ in range(2):
            for mode in runs:
                runs[mode].append(_measure(spec, mode, steps))
        best = {m: {k: max(r[k] for r in rs) for k in ("train_img_s", "infer_img_s")}
                for m, rs in runs.items()}  # fmt: skip
        rows.append({
            "model": spec["name"],
            "native_train": best["native"]["train_img_s"],
            "portable_train": best["portable"]["train_img_s"],
            "train_ratio": best["portable"]["train_img_s"] / best["native"]["train_img_s"],
            "native_infer": best["native"]["infer_img_s"],
            "portable_infer": best["portable"]["infer_img_s"],
            "infer_ratio": best["portable"]["infer_img_s"] / best["native"]["infer_img_s"],
            "kernels": {m: rs[0]["numerics"] for m, rs in runs.items()},
        })  # fmt: skip
    cols = ["model", "native_train", "portable_train", "train_ratio", "native_infer",
            "portable_infer", "infer_ratio"]  # fmt: skip
    print_table("images/s, one thread: portable / native", rows, cols)
    write_result(
        NAME, "cpu", {"rows": rows, "met": True, "python": sys.version.split()[0]}, args.command
    )
    return {"met": True}
