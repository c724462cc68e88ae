"""Which device a job runs on, and how its record describes that device."""

from __future__ import annotations

import os
import platform

import torch


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: the GPU when one is visible, else the CPU; any other name as given."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def device_info(device) -> dict:
    info = {
        "type": device.type,
        "host": platform.node(),
        "cpu": platform.processor() or platform.machine(),
        "threads": int(os.environ.get("OMP_NUM_THREADS", "0") or 0),
    }
    if device.type == "cuda":
        info["name"] = torch.cuda.get_device_name(device)
    else:
        info["name"] = platform.machine()
    return info
