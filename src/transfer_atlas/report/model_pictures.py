"""What a pretrained model learned, as pictures: first-layer filters and feature maps.

For one model's pretrained weights: the filters of its first convolution as a grid of
small images (averaged over input channels, each scaled to its own range), and that
convolution's output, then the outputs of the first freeze groups ("blocks": a stage, a
residual block, a stem), rectified, for one test image of a target dataset read from the
prepared arrays.
"""

from __future__ import annotations

import itertools

import numpy as np

from transfer_atlas.report.explore import MIN_TILE, _png, enlarged

MAX_MAPS = 16  # channels drawn per layer
N_BLOCKS = 3  # freeze groups whose outputs are drawn after the first convolution
TILE = 40


def _norm(a: np.ndarray) -> np.ndarray:
    lo, hi = float(a.min()), float(a.max())
    return np.zeros_like(a, np.uint8) if hi <= lo else ((a - lo) / (hi - lo) * 255).astype(np.uint8)


def _norm_maps(maps: np.ndarray) -> list[np.ndarray]:
    """Each map scaled to its own range; maps of under 4 pixels (a 1x1 late stage) have
    no range of their own, so they share one across channels instead of going black."""
    if maps.shape[1] * maps.shape[2] < 4:
        joint = _norm(maps)
        return list(joint)
    return [_norm(m) for m in maps]


def _grid(tiles: list[np.ndarray], cols: int = 8) -> np.ndarray:
    h, w = tiles[0].shape
    scale = max(1, TILE // max(h, w))
    tiles = [t.repeat(scale, 0).repeat(scale, 1) for t in tiles]
    h, w = tiles[0].shape
    rows = -(-len(tiles) // cols)
    out = np.full((rows * (h + 2), min(cols, len(tiles)) * (w + 2)), 255, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        out[r * (h + 2) : r * (h + 2) + h, c * (w + 2) : c * (w + 2) + w] = t
    return out[..., None]


def _forward(model, x) -> tuple[dict, dict[str, int]]:
    """One pass over ``x``: every module's (first) output, and where each module's last
    call finished in the order of the pass."""
    import torch

    outputs: dict = {}
    last: dict[str, int] = {}
    order = itertools.count()

    def hook(name, o):
        outputs.setdefault(name, o.detach() if torch.is_tensor(o) else o)
        last[name] = next(order)

    hooks = [
        m.register_forward_hook(lambda mod, i, o, name=name: hook(name, o))
        for name, m in model.named_modules()
    ]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return outputs, last


def _block_modules(model, last: dict[str, int], n_blocks: int) -> list[str]:
    """Names of the modules whose outputs are the first ``n_blocks`` freeze groups' outputs.

    A group that is exactly one module's parameters (a stage, a residual block) is that
    module; otherwise (a stem made of a conv and a BatchNorm side by side) it is the
    group's parameter-owning module that finishes last in the forward pass (``last``:
    finish positions from ``_forward``).
    """
    from transfer_atlas.nn.models import freeze_groups

    named = dict(model.named_modules())

    def params(name: str, recurse: bool) -> set[str]:
        mod = named[name]
        return {f"{name}.{p}" if name else p for p, _ in mod.named_parameters(recurse=recurse)}

    out = []
    for group in freeze_groups(model)[:n_blocks]:
        group = set(group)
        parts = [name.split(".")[:-1] for name in group]
        common = itertools.takewhile(lambda p: len(set(p)) == 1, zip(*parts, strict=False))
        prefix = ".".join(p[0] for p in common)
        if prefix in named and params(prefix, True) == group:
            out.append(prefix)
            continue
        owners = [n for n in named if params(n, False) and params(n, False) <= group and n in last]
        if owners:
            out.append(max(owners, key=last.get))
    return out


def pictures(
    model_spec: dict,
    weights_path: str,
    prep,
    dataset: str,
    image_pos: int = 0,
    n_blocks: int = N_BLOCKS,
) -> dict:
    """First-layer filters, and feature maps of the first conv and the first blocks."""
    import torch
    from torch import nn

    from transfer_atlas.nn import models, weights
    from transfer_atlas.nn.pipeline import spec_input

    model = models.build(model_spec, prep.num_classes)
    weights.load_backbone(model, weights_path)
    model.eval()
    first = next((n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)), None)
    if first is None:
        return {"filters": None, "maps": [], "note": "the model has no convolution"}
    conv = model.get_submodule(first)
    w = conv.weight.detach().float().mean(1).numpy()  # (out, kh, kw)
    filters = _grid([_norm(f) for f in w[:64]])
    idx = prep.test_idx[image_pos]
    x = spec_input(
        prep.images[idx : idx + 1], model_spec, torch.device("cpu"),
        weights.input_config(weights_path),
    )  # fmt: skip
    captured, last = _forward(model, x)
    labels = {first: "first convolution"}
    for k, name in enumerate(_block_modules(model, last, n_blocks), start=1):
        labels[name] = f"{labels[name]} = block {k}" if name in labels else f"block {k}"
    maps, skipped = [], []
    for name in labels:
        out = captured.get(name)
        if not torch.is_tensor(out) or out.dim() != 4:  # tokens, a flatten, a tuple
            shape = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
            skipped.append(f"{labels[name]} ({name}): output {shape}, not a stack of maps")
            continue
        fm = torch.relu(out[0]).numpy()
        maps.append(
            {
                "layer": name,
                "label": labels[name],
                "shape": list(fm.shape),
                "png": _png(_grid(_norm_maps(fm[:MAX_MAPS]))),
                "n": int(min(MAX_MAPS, fm.shape[0])),
            }
        )
    return {
        "conv": f"{tuple(conv.weight.shape)}",
        "filters": _png(filters),
        "n_filters": int(min(64, w.shape[0])),
        "maps": maps,
        "skipped": skipped,
        "image": _png(enlarged(prep.images[idx], MIN_TILE)),
        "image_class": prep.class_names[int(prep.labels[idx])],
        "dataset": dataset,
    }
