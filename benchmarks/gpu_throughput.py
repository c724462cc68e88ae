"""GPU check 1: training throughput at 224 px, the project's loop against a bare loop.

For timm ``resnet18``, ``mobilenetv2_100`` and ``vit_tiny_patch16_224`` (random init: no
weights are downloaded), batch 256, bf16 autocast where the GPU supports it: the project
side is ``train.loop.fit`` on inputs made by ``nn.pipeline.to_model_input`` (what a
fine-tune job runs); the bare side is a plain ``autocast`` + Adam loop over the same
tensors, channels-last for the conv models as the project does. Each side runs the same
number of steps after one shared warm-up; GPU utilisation is sampled from ``nvidia-smi``.
Writes ``benchmarks/results/gpu_throughput-cuda.json`` (``--steps N`` other than 12:
``gpu_throughput-cuda-<N>steps.json``). Run by ``benchmarks/gpu_check.sh``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from common import print_table, write_result

MODELS = {
    "resnet18": "timm/resnet18",
    "mobilenetv2_100": "timm/mobilenetv2_100",
    "vit_tiny": "timm/vit_tiny_patch16_224",
}
BATCH, SIZE, CLASSES = 256, 224, 10
STEPS = 12  # per side, by default; more steps weigh the project side's fixed costs less


class Utilisation:
    """``nvidia-smi`` sampled every 200 ms in the background while a side runs."""

    def __enter__(self):
        self.proc = subprocess.Popen(
            ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
             "-lms", "200"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=10)
        vals = [float(v) for v in out.split() if v.strip().replace(".", "").isdigit()]
        self.mean = sum(vals) / len(vals) if vals else float("nan")


def bare(model, x, y) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    steps = len(x) // BATCH
    torch.cuda.synchronize()
    t = time.perf_counter()
    for i in range(steps):
        xb, yb = x[i * BATCH : (i + 1) * BATCH], y[i * BATCH : (i + 1) * BATCH]
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = F.cross_entropy(model(xb).float(), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    torch.cuda.synchronize()
    return steps * BATCH / (time.perf_counter() - t)


def project(model, x, y) -> float:
    from transfer_atlas.spec.study import TRAIN_DEFAULTS
    from transfer_atlas.train.loop import fit

    hp = {**TRAIN_DEFAULTS, "epochs": 1, "batch_size": BATCH, "lr": 1e-3}
    out = fit(model, x, y, x[:BATCH], y[:BATCH], hp, 0, log=open("/dev/null", "w"))
    return out["images_seen"] / out["train_s"]  # train_s includes one validation pass


def run(command: str, steps: int = STEPS) -> dict:
    from transfer_atlas.nn import models
    from transfer_atlas.nn.pipeline import to_model_input

    dev = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    n = steps * BATCH
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, SIZE, SIZE, 3), dtype=torch.uint8, generator=gen).numpy()
    x = to_model_input(images, dev, 3, SIZE)  # channels-last on CUDA, as in a job
    y = torch.randint(0, CLASSES, (n,), generator=gen).to(dev)
    rows = []
    for label, arch in MODELS.items():
        spec = {"arch": arch, "in_chans": 3, "input_size": SIZE}
        sides = {}
        order = (("warm-up", bare), ("bare", bare), ("project", project), ("bare_again", bare))
        for side, fn in order:
            torch.manual_seed(0)
            model = models.build(spec, CLASSES).to(dev)
            if "vit" not in arch:
                model = model.to(memory_format=torch.channels_last)
            if side == "warm-up":  # cuDNN autotuning and allocator growth, for both sides
                bare(model, x[: 2 * BATCH], y[: 2 * BATCH])
                continue
            with Utilisation() as u:
                sides[side] = fn(model, x, y)
            sides[f"{side}_util"] = u.mean
            del model
            torch.cuda.empty_cache()
        best_bare = max(sides["bare"], sides["bare_again"])
        rows.append({"model": label, "project_img_s": sides["project"], "bare_img_s": best_bare,
                     "ratio": sides["project"] / best_bare,
                     "project_gpu_util_pct": sides["project_util"],
                     "bare_gpu_util_pct": sides["bare_util"]})  # fmt: skip
    print_table(f"training throughput at {SIZE} px, batch {BATCH}, bf16", rows, list(rows[0]))
    payload = {
        "goal": "reported: project training throughput / bare loop (near 1 is good)",
        "met": all(r["ratio"] >= 0.8 for r in rows),
        "gpu": torch.cuda.get_device_name(0),
        "bf16": torch.cuda.is_bf16_supported(),
        "steps": steps,
        "rows": rows,
    }
    variant = "" if steps == STEPS else f"{steps}steps"
    write_result("gpu_throughput", "cuda", payload, command, variant=variant)
    return payload


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS, help="training steps per side")
    args = parser.parse_args()
    run("python benchmarks/gpu_throughput.py " + " ".join(sys.argv[1:]), steps=args.steps)
