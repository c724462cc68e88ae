"""Weights: safetensors only, sha256 recorded, loaded by name with shapes checked.

Pickle checkpoints can run code when loaded; this project never unpickles weights.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import nn

from transfer_atlas import atomic
from transfer_atlas.models import classifier_names


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_model(model: nn.Module, path: str | Path, metadata: dict | None = None) -> str:
    """Write the state dict as safetensors (atomically); return its sha256."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic.atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={k: str(v) for k, v in (metadata or {}).items()})
    return sha256_file(path)


def load_backbone(model: nn.Module, path: str | Path) -> list[str]:
    """Load every non-head tensor of ``model`` from a safetensors file.

    The head is new for the target task, so its tensors are skipped. Missing keys or
    shape mismatches raise ValueError naming the tensors and the file.
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(
            f"{path}: only .safetensors weights are accepted (pickle files "
            "can execute code when loaded)"
        )
    from safetensors.torch import load_file

    state = load_file(str(path))
    head = {n for n in classifier_names(model)}
    own = model.state_dict()
    wanted = {k: v for k, v in own.items() if k not in head}
    missing = sorted(set(wanted) - set(state))
    bad = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in wanted.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or bad:
        detail = (
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}; " if missing else ""
        ) + "; ".join(bad[:5])
        raise ValueError(f"{path}: weights do not fit the architecture: {detail}")
    with torch.no_grad():
        for k, v in wanted.items():
            v.copy_(state[k])
    return sorted(wanted)
