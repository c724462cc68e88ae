"""The torch device a job computes on (CUDA, Apple GPU or CPU), its precision, and how its
record describes it. Which GPU a job may use at all is claimed before it starts:
``runtime.gpu_claims``."""

from __future__ import annotations

import os
import platform
from contextlib import nullcontext

import torch

#: Set to ``cpu`` by scripts/with_gpus.py for a job that claimed no GPU on a machine that
#: has one, so that ``auto`` cannot land it on a device another job claimed (an Apple
#: GPU has no CUDA_VISIBLE_DEVICES to hide it).
AUTO_DEVICE_ENV = "TA_AUTO_DEVICE"


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: a CUDA GPU when one is visible, else an Apple GPU (``mps``), else the CPU
    (or what ``TA_AUTO_DEVICE`` says); any other name as given."""
    if name == "auto":
        name = os.environ.get(AUTO_DEVICE_ENV) or (
            "cuda"
            if torch.cuda.is_available()
            else "mps"
            if torch.backends.mps.is_available()
            else "cpu"
        )
    return torch.device(name)


def device_info(device) -> dict:
    info = {
        "type": device.type,
        "host": platform.node(),
        "cpu": platform.processor() or platform.machine(),
        # What torch actually uses (set from --threads / OMP_NUM_THREADS), not the variable.
        "threads": torch.get_num_threads(),
    }
    info["precision"] = precision(device)
    if device.type == "cuda":
        info["name"] = torch.cuda.get_device_name(device)
    elif device.type == "mps":
        info["name"] = f"Apple GPU (mps, {platform.machine()})"
    else:
        info["name"] = platform.machine()
    return info


def autocast_for(device: torch.device):
    """The precision of every forward pass on ``device``: bf16 autocast on a CUDA GPU that
    supports bf16, fp32 elsewhere. Training, predictions and the cost figures (latency,
    throughput) share it.

    fp32 on ``mps``: bf16 autocast there depends on the torch and macOS versions, and fp16
    would need loss scaling; neither was checked on a real Mac, fp32 works everywhere.
    Older CUDA GPUs (before Ampere) have no fast bf16: fp32 there too, for the same reason.
    """
    if precision(device) == "bf16":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def synchronize(device: torch.device) -> None:
    """Wait for ``device``'s queued work: GPU kernels run asynchronously, so a timer read
    without this measures the launch, not the work (CUDA and Apple GPUs alike)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def precision(device: torch.device) -> str:
    """``bf16`` or ``fp32``: what :func:`autocast_for` runs ``device`` in (the record says)."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False):
        return "bf16"
    return "fp32"
