"""Freeze depth k: the first k parameter groups (input -> output) stop training.

``all`` freezes every group, leaving only the new head. Every module inside the frozen
part (see :func:`frozen_modules`) is kept in eval mode during training, so frozen
BatchNorm keeps its running statistics and frozen dropout / drop-path is off; a frozen
part therefore computes a fixed function, whether or not it is precomputed.
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


def _frozen_state(model: nn.Module) -> dict[int, bool | None]:
    """{id(module): True if all parameters under it are frozen, False if some train,
    None if it has none}, in one bottom-up pass (this runs once per epoch)."""
    state: dict[int, bool | None] = {}

    def walk(m: nn.Module) -> bool | None:
        flags = [not p.requires_grad for p in m.parameters(recurse=False)]
        flags += [s for s in map(walk, m.children()) if s is not None]
        state[id(m)] = all(flags) if flags else None
        return state[id(m)]

    walk(model)
    return state


def frozen_modules(model: nn.Module) -> list[nn.Module]:
    """Every module inside the frozen part of ``model`` (their train/eval mode is pinned).

    Freeze groups are lists of parameter names, so "inside" is found from the
    parameters: a module whose parameters are all frozen is pinned with its whole
    subtree (the Dropout / DropPath within a frozen block or stage included). A
    parameter-free module hanging directly off a partly trainable parent (timm's
    ``pos_drop`` at a ViT's root, a dropout between torchvision classifier layers)
    goes with the parameter-bearing sibling registered before it, as a dropout goes
    with the layer it follows; except that one feeding the classifier (timm's
    ``head_drop``) belongs to the head, and trains with it.
    """
    return [m for root in _frozen_roots(model) for m in root.modules()]


def _frozen_roots(model: nn.Module) -> list[nn.Module]:
    """The topmost modules of the frozen part (see :func:`frozen_modules`)."""
    head = model.get_classifier() if hasattr(model, "get_classifier") else None
    names = {id(m): n for n, m in model.named_modules()}
    head_name = names.get(id(head))
    holds_head = {  # the head and the modules above it
        i
        for i, n in names.items()
        if head_name is not None and f"{head_name}.".startswith(f"{n}." if n else "")
    }
    state, out = _frozen_state(model), []

    def visit(module: nn.Module) -> None:
        if state[id(module)]:
            out.append(module)
            return
        children = list(module.children())
        feeds_head, before_head = [], False  # does the next parameter-bearing sibling hold it?
        for child in reversed(children):
            feeds_head.append(before_head)
            if state[id(child)] is not None:
                before_head = id(child) in holds_head
        owner_frozen = False  # the last parameter-bearing sibling so far
        for child, to_head in zip(children, reversed(feeds_head), strict=True):
            if state[id(child)] is not None:
                owner_frozen = state[id(child)]
                visit(child)
            elif owner_frozen and not to_head:
                out.append(child)

    visit(model)
    return out


def set_train_mode(model: nn.Module) -> None:
    """``model.train()``, but everything in the frozen part stays in eval: frozen
    BatchNorm keeps its running statistics and frozen dropout / drop-path is off, as
    in the cached-prefix path, which runs the frozen prefix once in eval."""
    model.train()
    for m in _frozen_roots(model):  # eval() recurses into the subtree
        m.eval()


def head_dropout(model: nn.Module) -> float:
    """The dropout rate a timm model applies to its pre-logit features just before the
    classifier (its ``drop_rate``, a ViT's ``head_drop``); 0 for the project's own nets,
    whose head dropout lives inside the head. The cached path, which stores pre-logit
    features computed in eval, applies it itself so that the head trains as in the
    uncached path."""
    rate = getattr(model, "drop_rate", None)
    if rate is None:
        rate = getattr(getattr(model, "head_drop", None), "p", 0.0)
    return float(rate or 0.0)


def count_params(model: nn.Module) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable
