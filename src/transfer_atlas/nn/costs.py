"""Model cost figures for the run record: latency, FLOPs, size on disk.

Latency and throughput run in the precision predictions use (``torch_device.autocast_for``:
bf16 on a GPU), so a cost figure describes the model that produced the accuracy.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from transfer_atlas.nn.torch_device import autocast_for, synchronize


@torch.no_grad()
def latency_ms(model: nn.Module, example: torch.Tensor, repeats: int = 20, amp=True) -> float:
    """Median wall time of one batch-1 forward pass, in milliseconds (``amp``: in the
    predictions' precision, ``autocast_for``; False for callers that predict in fp32)."""
    model.eval()
    x = example[:1]
    sync = lambda: synchronize(x.device)  # noqa: E731
    times = []
    with autocast_for(x.device if amp else torch.device("cpu")):
        for _ in range(3):
            model(x)
        for _ in range(repeats):
            sync()
            t = time.perf_counter()
            model(x)
            sync()
            times.append(time.perf_counter() - t)
    times.sort()
    return 1000 * times[len(times) // 2]


@torch.no_grad()
def flops(model: nn.Module, example: torch.Tensor) -> int:
    """Floating-point operations of one forward pass at batch 1 (multiply-add = 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    counter = FlopCounterMode(display=False)
    with counter:
        model(example[:1])
    return int(counter.get_total_flops())


def size_on_disk(model: nn.Module) -> int:
    """Bytes of the model's state dict serialised as safetensors."""
    from safetensors.torch import save

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    return len(save(state))


@torch.no_grad()
def inference_throughput(
    model: nn.Module, x: torch.Tensor, batch: int = 32, repeats: int = 3
) -> float:
    """Images per second of batched inference (best of ``repeats`` passes over one batch)."""
    model.eval()
    xb = x[:batch]
    if len(xb) < batch:  # small test sets: repeat images to fill the batch
        xb = xb.repeat((batch + len(xb) - 1) // len(xb), 1, 1, 1)[:batch]
    sync = lambda: synchronize(xb.device)  # noqa: E731
    best = float("inf")
    with autocast_for(xb.device):
        model(xb)
        for _ in range(repeats):
            sync()
            t = time.perf_counter()
            model(xb)
            sync()
            best = min(best, time.perf_counter() - t)
    return len(xb) / best if best > 0 else 0.0
