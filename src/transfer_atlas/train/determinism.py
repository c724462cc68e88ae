"""Make a job's numbers a function of its spec and seed, as far as the device allows.

On CPU the project's training is bit-for-bit repeatable: every random draw comes from a
seeded generator, the data order from ``torch.randperm`` with a seeded generator, and
torch's CPU kernels are deterministic for a fixed number of threads (the workflow runs
each job with ``--threads 1``; a different thread count can change the order of float
sums and so the last bits, and then the metrics of borderline test images).
Deterministic algorithms are switched on anyway: free on CPU, and they turn
any future non-deterministic op into a loud error instead of silent drift.

Across CPUs, the kernel choice is pinned by ``core.numerics`` (portable numerics).

On CUDA, with portable numerics (the default) a job runs deterministic algorithms, cuDNN
in deterministic mode without autotuning, and the cuBLAS workspace setting that makes its
reductions repeatable: the same job on the same GPU model repeats bit for bit (on small
models this costs little; ``TA_DETERMINISTIC=0`` turns it off, ``=1`` turns it
on under native numerics). Across GPU models there is no such promise, and bf16 autocast
results differ from CPU results, so CPU and GPU metrics are never expected to be equal.
The setting in force is recorded in each run record (``provenance.device.deterministic``).
"""

from __future__ import annotations

import os
import sys

import torch

from transfer_atlas.core import numerics


def wanted(device: torch.device) -> bool:
    if device.type == "cpu":
        return True
    asked = os.environ.get("TA_DETERMINISTIC")
    if asked in ("0", "1"):
        return asked == "1"
    return numerics.mode() == "portable"


def configure(device: torch.device) -> bool:
    """Apply the determinism settings for ``device``; return whether they are strict."""
    strict = wanted(device)
    if device.type == "cuda":
        if strict:
            # Must be set before cuBLAS creates its handle, i.e. before the first matmul.
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.deterministic = strict
        if strict:
            torch.backends.cudnn.benchmark = False
    set_deterministic_algorithms(strict)
    return strict


def set_deterministic_algorithms(mode: bool) -> None:
    """``torch.use_deterministic_algorithms(mode)`` without its import of torch._inductor.

    The public function imports ``torch._inductor.config`` (to pass the flag on to
    ``torch.compile``), which costs 10-30 s in a fresh process here: more than a small
    job's whole training. This project does not compile, so the flag is set where the
    kernels read it; if inductor is already loaded the public function is used.
    """
    if "torch._inductor.config" in sys.modules or not hasattr(
        torch._C, "_set_deterministic_algorithms"
    ):
        torch.use_deterministic_algorithms(mode)
    else:
        torch._C._set_deterministic_algorithms(mode)
