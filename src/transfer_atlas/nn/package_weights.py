"""Weights shipped inside an installed Python distribution, converted once to safetensors.

``weights: {package: {distribution, file[, sha256]}, layout}``: the checkpoint is a file
of a distribution pinned in ``requirements.lock``, so it is versioned like any other
dependency. The convert job (rule ``convert_weights``) finds the file, checks its sha256
(when pinned) before reading it, reads it with ``torch.load(weights_only=True)`` only
(``weights.load_state``), places every tensor onto the timm architecture by the named
``layout`` (``converters``), and writes the model's full state dict (its own classifier
included) as safetensors, with a ``.json`` beside it recording where it came from:
distribution, version, file, and the sha256 of the original and of the converted file.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

from transfer_atlas.core import atomic
from transfer_atlas.nn.weights import WeightsError


def locate(distribution: str, file: str) -> tuple[Path, str, str]:
    """(path on disk, installed version, path inside the distribution) of ``file``.

    ``file`` is a path among the distribution's installed files, or its unique tail
    (``models/x.pth`` for ``pkg_name/models/x.pth``).
    """
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        raise WeightsError(
            f"distribution '{distribution}' is not installed (pin it in requirements.lock "
            "and run `make env`)"
        ) from None
    want = Path(file).as_posix().strip("/")
    files = [f.as_posix() for f in dist.files or []]
    hits = [f for f in files if f == want or f.endswith("/" + want)]
    if len(hits) != 1:
        shipped = [f for f in files if f.endswith((".pth", ".pt", ".bin", ".safetensors"))]
        what = "matches several files" if hits else "is not one of its files"
        raise WeightsError(
            f"distribution '{distribution}' {dist.version}: '{file}' {what} "
            f"(weights files it ships: {shipped or 'none'})"
        )
    return Path(dist.locate_file(hits[0])), dist.version, hits[0]


def convert(spec: dict, out: str | Path) -> dict:
    """Convert a model's package weights (``spec['weights']``) to safetensors at ``out``.

    Returns the provenance written beside it (``<out stem>.json``).
    """
    from transfer_atlas.nn import converters, models, weights

    source = spec["weights"]["package"]
    layout = spec["weights"].get("layout", "timm")
    path, version, inside = locate(source["distribution"], source["file"])
    original = weights.verify_sha256(path, source.get("sha256"))  # before it is parsed
    state = weights.load_state(path)
    full = {k: v for k, v in spec.items() if k not in ("head", "weights")}
    probe = models.build(full, 2)  # the classifier's name, then its width from the file
    names = converters.LAYOUTS[layout](list(state), list(probe.state_dict()))
    head = sorted(n for n in models.classifier_names(probe) if n.endswith("weight"))
    src_head = next((s for s, d in names.items() if d == head[-1]), None) if head else None
    if src_head is None:
        raise WeightsError(f"{path}: no tensor for the classifier {head}")
    model = models.build(full, int(state[src_head].shape[0]))
    try:
        placed = converters.place(state, model.state_dict(), layout)
    except WeightsError as exc:
        raise WeightsError(f"{path} ({layout} layout onto {spec['arch']}): {exc}") from None
    model.load_state_dict(placed, strict=True)
    cfg = getattr(model, "pretrained_cfg", {}) or {}
    input_config = {
        "input_size": int(cfg.get("input_size", (3, 224, 224))[-1]),
        "mean": list(cfg.get("mean", (0.485, 0.456, 0.406))),
        "std": list(cfg.get("std", (0.229, 0.224, 0.225))),
    }
    origin = {
        "distribution": source["distribution"],
        "version": version,
        "file": inside,
        "sha256": original,
    }
    meta = {"arch": spec["arch"], "layout": layout, "package": json.dumps(origin)}
    sha = weights.save_model(model, out, {**meta, "input_config": json.dumps(input_config)})
    info = {"sha256": sha, "arch": spec["arch"], "layout": layout, "source": origin}
    info["tensors"] = len(placed)
    atomic.write_text(Path(out).with_suffix(".json"), json.dumps(info, indent=1, sort_keys=True))
    return info
