"""Which device ``device: auto`` picks, with fake availability flags, and the precision
each device runs in. The real functions run; only torch's answers about hardware are
replaced (this machine has neither a CUDA nor an Apple GPU)."""

from __future__ import annotations

from contextlib import nullcontext

import pytest
import torch

from transfer_atlas.nn import torch_device
from transfer_atlas.nn.torch_device import (
    autocast_for,
    device_info,
    pick_device,
    precision,
    synchronize,
)


@pytest.fixture
def hardware(monkeypatch):
    """Set what torch reports: ``hardware(cuda=..., mps=...)``."""
    monkeypatch.delenv(torch_device.AUTO_DEVICE_ENV, raising=False)

    def fake(cuda: bool, mps: bool):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)

    return fake


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_auto_prefers_cuda_then_mps_then_cpu(hardware, cuda, mps, expected):
    hardware(cuda=cuda, mps=mps)
    assert pick_device("auto").type == expected
    assert pick_device().type == expected


def test_a_named_device_is_taken_as_given(hardware):
    hardware(cuda=True, mps=True)
    assert pick_device("cpu").type == "cpu"
    assert pick_device("mps").type == "mps"


def test_a_job_without_a_claim_is_kept_off_the_gpu(hardware, monkeypatch):
    """scripts/with_gpus.py sets the variable for a job that claimed no GPU."""
    hardware(cuda=True, mps=True)
    monkeypatch.setenv(torch_device.AUTO_DEVICE_ENV, "cpu")
    assert pick_device("auto").type == "cpu"


def test_mps_and_cpu_run_in_fp32_and_the_record_names_the_device():
    for name in ("mps", "cpu"):
        dev = torch.device(name)
        assert precision(dev) == "fp32"
        assert isinstance(autocast_for(dev), nullcontext)
    info = device_info(torch.device("mps"))
    assert info["type"] == "mps" and info["precision"] == "fp32"
    assert info["name"].startswith("Apple GPU (mps")


@pytest.mark.filterwarnings("ignore:CUDA is not available")
def test_cuda_uses_bf16_only_where_the_gpu_has_it(monkeypatch):
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation: False)
    assert precision(cuda) == "fp32" and isinstance(autocast_for(cuda), nullcontext)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation: True)
    assert precision(cuda) == "bf16"
    ctx = autocast_for(cuda)
    assert isinstance(ctx, torch.autocast) and ctx.fast_dtype == torch.bfloat16


def test_timers_wait_for_the_gpu_they_measure(monkeypatch):
    """Latency and throughput read the clock after ``synchronize``: on a GPU, work is queued."""
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append("cuda"))
    monkeypatch.setattr(torch.mps, "synchronize", lambda: calls.append("mps"))
    for name in ("cuda", "mps", "cpu"):
        synchronize(torch.device(name))
    assert calls == ["cuda", "mps"]
