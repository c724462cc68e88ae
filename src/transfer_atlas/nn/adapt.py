"""Adaptation methods beside freeze depth (config ``grid.adapt``; docs/adaptation.md).

* ``bitfit``: the head and every bias of the backbone train (Ben Zaken et al., 2022).
* ``norm``: the head and every normalisation layer's own parameters train.
* ``lora``: low-rank adapters (``peft``) on the backbone's Linear and ungrouped Conv2d
  modules that ``target_modules`` names; the head and the adapters train.
* ``lp_ft``: a linear probe (freeze ``all``) for ``probe_epochs``, then everything with
  full fine-tuning's schedule (epochs, lr, min_steps of freeze 0): the ``unfreeze`` phase
  of ``train.finetune`` (Kumar et al., 2022).

Only ``requires_grad`` is set here; which modules run in train mode follows from it as
for freeze depths (``freezing.set_train_mode``: a module holding no trainable parameter
stays in eval). peft is imported by LoRA jobs only: it costs seconds to import.
"""

from __future__ import annotations

import re

from torch import nn

from transfer_atlas.nn.freezing import apply_freeze, set_train_mode
from transfer_atlas.nn.models import classifier_names, freeze_groups
from transfer_atlas.spec.names import ADAPT_METHODS

#: Normalisation layers by base class; timm's (BatchNormAct2d, LayerNorm2d, ...) derive
#: from these, and its own RmsNorm and friends are caught by name (``_is_norm``).
NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm)


def _is_norm(m: nn.Module) -> bool:
    return isinstance(m, NORM_TYPES) or bool(re.search(r"Norm(2d|Act2d)?$", type(m).__name__))


def lora_candidates(model: nn.Module, head: set[str]) -> list[str]:
    """Names of the modules LoRA can adapt: Linear and ungrouped Conv2d outside the head
    (peft cannot give a grouped / depthwise conv a rank not divisible by its groups)."""
    out = []
    for name, m in model.named_modules():
        kind = isinstance(m, nn.Linear) or (isinstance(m, nn.Conv2d) and m.groups == 1)
        if kind and not any(h.startswith(f"{name}.") for h in head):
            out.append(name)
    return out


def _matches(pattern: str, name: str) -> bool:
    """``pattern`` matches the full name or a dotted suffix of it (``qkv`` matches
    ``blocks.0.attn.qkv``), as peft's plain target names do."""
    parts = name.split(".")
    return any(re.fullmatch(pattern, ".".join(parts[i:])) for i in range(len(parts)))


def lora_targets(model: nn.Module, patterns: list[str], head: set[str]) -> list[str]:
    """The modules ``patterns`` select; every pattern must select one (else ValueError)."""
    names = lora_candidates(model, head)
    chosen, unmatched = set(), []
    for p in patterns:
        hits = {n for n in names if _matches(p, n)}
        chosen |= hits
        if not hits:
            unmatched.append(p)
    if unmatched:
        examples = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
        raise ValueError(
            f"config key 'adapt_args.lora.target_modules': {unmatched} match no Linear or "
            f"ungrouped Conv2d module outside the head (candidates: {examples or 'none'})"
        )
    return sorted(chosen)


def capped_rank(module: nn.Module, r: int) -> int:
    """The largest rank <= ``r`` whose adapter, r (fan_in + fan_out) parameters, is smaller
    than the layer's own fan_in x fan_out weight (0: no rank is; the layer is skipped).
    small_cnn's first conv (1 -> 8 channels, 3x3: 72 weights) takes rank 4 (68), not 8 (136)."""
    if isinstance(module, nn.Conv2d):
        fan_in = module.in_channels * module.kernel_size[0] * module.kernel_size[1]
        fan_out = module.out_channels
    else:
        fan_in, fan_out = module.in_features, module.out_features
    return min(r, (fan_in * fan_out - 1) // (fan_in + fan_out))


def lora_ranks(model: nn.Module, args: dict, head: set[str]) -> dict[str, int]:
    """Each target module's rank (``args['r']`` capped by its shape; rank-0 layers left out)."""
    modules = dict(model.named_modules())
    ranks = {
        n: capped_rank(modules[n], args["r"])
        for n in lora_targets(model, args["target_modules"], head)
    }
    kept = {n: r for n, r in ranks.items() if r >= 1}
    if not kept:
        raise ValueError(
            f"config key 'adapt_args.lora': rank {args['r']} adapters would be at least as "
            f"large as every targeted layer ({', '.join(sorted(ranks))}); target larger layers"
        )
    return kept


def add_lora(model: nn.Module, args: dict, head: set[str]) -> list[str]:
    """Inject LoRA adapters in place (the model keeps its class, head and groups);
    return the adapted module names. A layer too small for rank ``r`` gets a lower rank
    with the same scale ``alpha / r`` (``lora_ranks``). Adapter init draws from torch's
    global RNG, which the caller has seeded."""
    ranks = lora_ranks(model, args, head)
    from peft import LoraConfig, inject_adapter_in_model  # LoRA jobs only (import cost)

    exact = "^(" + "|".join(map(re.escape, ranks)) + ")$"  # a string: full-name regex
    lowered = {f"^{re.escape(n)}$": r for n, r in ranks.items() if r != args["r"]}
    config = LoraConfig(
        r=args["r"], lora_alpha=args["alpha"], lora_dropout=args["dropout"], target_modules=exact,
        rank_pattern=lowered,
        alpha_pattern={k: args["alpha"] * r / args["r"] for k, r in lowered.items()},
    )  # fmt: skip
    inject_adapter_in_model(config, model)
    return sorted(ranks)


def merge_lora(model: nn.Module) -> None:
    """Fold every adapter into its layer's weight (W + (alpha / r) B A) and put the plain
    layer back: the model then costs what the base model costs (FLOPs, latency, size),
    which is what one deploys. No-op for a model without adapters."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    for name, m in list(model.named_modules()):
        if isinstance(m, BaseTunerLayer) and name:
            m.merge()
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, child, m.get_base_layer())


def apply(model: nn.Module, method: str, args: dict, hp: dict) -> tuple[int, int, dict]:
    """Set up ``method`` on a model whose new head is in place; return (leading groups
    with no trainable parameter, total groups, training settings to use)."""
    if method not in ADAPT_METHODS:
        raise ValueError(f"unknown adaptation method '{method}' (known: {list(ADAPT_METHODS)})")
    if method == "lp_ft":
        depth, n_groups = apply_freeze(model, "all")
        second = {  # by default full fine-tuning's schedule (freeze 0): a matched budget
            "epochs": args.get("epochs") or hp["epochs"],
            "lr": args.get("lr") or hp["lr"],
            "min_steps": hp["min_steps"] if args.get("min_steps") is None else args["min_steps"],
        }
        return depth, n_groups, {**hp, "epochs": args["probe_epochs"], "unfreeze": second}
    head = classifier_names(model)
    if method == "lora":
        add_lora(model, args, head)
    for mod_name, m in model.named_modules():
        for p_name, p in m.named_parameters(recurse=False):
            name = f"{mod_name}.{p_name}" if mod_name else p_name
            keep = {
                "bitfit": p_name == "bias",
                "norm": _is_norm(m),
                "lora": ".lora_" in f".{name}",
            }[method]
            p.requires_grad_(name in head or keep)
    trains = {n for n, p in model.named_parameters() if p.requires_grad}
    groups = freeze_groups(model)
    frozen = [trains.isdisjoint(g) for g in groups]
    depth = frozen.index(False) if False in frozen else len(groups)
    return depth, len(groups), hp


def task_bytes(model: nn.Module) -> int:
    """Bytes one task must store beside the shared backbone: the trainable parameters
    (head included; LoRA's adapters) and the buffers of modules that train (a trained
    BatchNorm's running statistics). Reads the current ``requires_grad`` flags."""
    was = {id(m): m.training for m in model.modules()}
    set_train_mode(model)
    size = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    size += sum(
        b.numel() * b.element_size()
        for m in model.modules()
        if m.training
        for b in m.buffers(recurse=False)
    )
    for m in model.modules():  # leave the modes as they were
        m.training = was[id(m)]
    return int(size)
