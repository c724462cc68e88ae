"""Out of GPU memory: a message that names the batch size, and an optional smaller retry.

``train.oom_retry: true`` (per study or per model) lets a job that runs out of GPU
memory start its training again from the same initial weights with half the batch,
down to ``train.oom_min_batch`` (default 1). The batch sizes tried end up in the run
record (``train.batch_size`` is the one used, ``train.oom_retry_from`` the ones that did
not fit), so a record never hides that it was trained with a different batch.
"""

from __future__ import annotations

import copy

import torch


class GpuOutOfMemory(RuntimeError):
    """Training ran out of GPU memory; the message says with which batch size and what to do."""


def _free_cuda() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def fit_with_oom_policy(train, model: torch.nn.Module, hp: dict, what: str):
    """Call ``train(hp)``; on CUDA OOM retry with half the batch if ``hp`` allows it.

    ``train`` runs one complete training from ``model``'s current state; before each retry
    that state is restored, so a retry starts exactly where the first attempt did.
    Returns ``(result, hp_used)``; ``hp_used`` records the batch sizes that did not fit.
    """
    start = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    hp = copy.deepcopy(hp)
    failed: list[int] = []
    while True:
        try:
            result = train(hp)
        except torch.cuda.OutOfMemoryError:
            bs = hp["batch_size"]
            failed.append(bs)
            _free_cuda()
            floor = int(hp.get("oom_min_batch", 1))
            if not hp.get("oom_retry") or bs // 2 < floor:
                hint = (
                    f"retries with smaller batches (down to {floor}) also failed"
                    if hp.get("oom_retry")
                    else "set a smaller train.batch_size, or train.oom_retry: true to "
                    "retry with half the batch automatically"
                )
                raise GpuOutOfMemory(
                    f"{what}: out of GPU memory with batch_size={bs} (tried {failed}); {hint}"
                ) from None
            print(f"out of GPU memory with batch_size={bs}; retrying with {bs // 2}", flush=True)
            model.load_state_dict(start)
            hp["batch_size"] = bs // 2
            continue
        if failed:
            hp["oom_retry_from"] = failed
        return result, hp
