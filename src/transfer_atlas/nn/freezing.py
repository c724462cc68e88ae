"""Freeze depth k: the first k parameter groups (input -> output) stop training.

``all`` freezes every group, leaving only the new head. Frozen modules are kept in
eval mode during training, so frozen BatchNorm keeps its running statistics and
frozen dropout is off; a frozen part therefore computes a fixed function.
"""

from __future__ import annotations

from torch import nn

from transfer_atlas.nn.models import freeze_groups


def resolve_depth(freeze, n_groups: int) -> int:
    """Turn a config freeze value (int or ``'all'``) into a group count, checking range."""
    if str(freeze) == "all":
        return n_groups
    depth = int(freeze)
    if not 0 <= depth <= n_groups:
        raise ValueError(
            f"freeze depth {depth} is beyond the architecture's {n_groups} "
            f"groups (use 0..{n_groups} or 'all')"
        )
    return depth


def apply_freeze(model: nn.Module, freeze) -> tuple[int, int]:
    """Freeze the first groups of ``model``; return (frozen group count, total groups)."""
    groups = freeze_groups(model)
    depth = resolve_depth(freeze, len(groups))
    frozen = {name for g in groups[:depth] for name in g}
    for name, p in model.named_parameters():
        p.requires_grad_(name not in frozen)
    return depth, len(groups)


def frozen_modules(model: nn.Module) -> list[nn.Module]:
    """Modules with parameters, all of them frozen (their train/eval mode is pinned)."""
    out = []
    for m in model.modules():
        params = list(m.parameters(recurse=False))
        if params and not any(p.requires_grad for p in params):
            out.append(m)
    return out


def set_train_mode(model: nn.Module) -> None:
    """``model.train()``, but frozen modules (BatchNorm, and their dropout) stay in eval."""
    model.train()
    for m in frozen_modules(model):
        m.eval()


def count_params(model: nn.Module) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable
