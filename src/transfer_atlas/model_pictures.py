"""What a pretrained model learned, as pictures: first-layer filters and feature maps.

For one model's pretrained weights: the filters of its first convolution as a grid of
small images (averaged over input channels, each scaled to its own range), and that
convolution's output (after the activation that follows, when the model applies one
there) for one test image of a target dataset, read from the prepared arrays.
"""

from __future__ import annotations

import numpy as np

from transfer_atlas.explore import _png

MAX_MAPS = 16
TILE = 40


def _norm(a: np.ndarray) -> np.ndarray:
    lo, hi = float(a.min()), float(a.max())
    return np.zeros_like(a, np.uint8) if hi <= lo else ((a - lo) / (hi - lo) * 255).astype(np.uint8)


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


def pictures(model_spec: dict, weights_path: str, prep, dataset: str, image_pos: int = 0) -> dict:
    import torch
    from torch import nn

    from transfer_atlas import models, weights
    from transfer_atlas.pipeline import to_model_input

    model = models.build(model_spec, prep.num_classes)
    weights.load_backbone(model, weights_path)
    model.eval()
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if conv is None:
        return {"filters": None, "maps": None, "note": "the model has no convolution"}
    w = conv.weight.detach().float().mean(1).numpy()  # (out, kh, kw)
    filters = _grid([_norm(f) for f in w[:64]])
    captured = {}
    hook = conv.register_forward_hook(lambda m, i, o: captured.setdefault("out", o.detach()))
    idx = prep.test_idx[image_pos]
    x = to_model_input(
        prep.images[idx : idx + 1], torch.device("cpu"),
        model_spec.get("in_chans", 1), model_spec.get("input_size"),
    )  # fmt: skip
    with torch.no_grad():
        model(x)
    hook.remove()
    maps = torch.relu(captured["out"][0]).numpy()
    return {
        "conv": f"{tuple(conv.weight.shape)}",
        "filters": _png(filters),
        "n_filters": int(min(64, w.shape[0])),
        "maps": _png(_grid([_norm(m) for m in maps[:MAX_MAPS]])),
        "n_maps": int(min(MAX_MAPS, maps.shape[0])),
        "image": _png(prep.images[idx].repeat(4, 0).repeat(4, 1)),
        "image_class": prep.class_names[int(prep.labels[idx])],
        "dataset": dataset,
    }
