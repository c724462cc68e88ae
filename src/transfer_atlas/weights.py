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


def _align_body_prefix(state: dict, own: dict) -> dict:
    """Hub weights of a timm model fit it with or without a replaced head: the headed
    form keeps the timm model under ``body.``; add or strip that prefix to match."""
    if any(k in state for k in own):
        return state
    if any(k.startswith("body.") for k in own):
        return {f"body.{k}": v for k, v in state.items()}
    return {k.removeprefix("body."): v for k, v in state.items()}


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

    state = _align_body_prefix(load_file(str(path)), model.state_dict())
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


class WeightsUnavailable(FileNotFoundError):
    """Hub weights could not be fetched; the message says how to get them offline."""


def pretrained_input_config(model: nn.Module, spec: dict, tag: str) -> dict:
    """Input size and normalisation the hub weights were trained with."""
    arch = spec["arch"]
    if arch.startswith("tv/"):
        import torchvision.models as tvm

        enum = tvm.get_model_weights(arch[3:])
        weights = enum.DEFAULT if tag == "DEFAULT" else enum[tag]
        t = weights.transforms()
        return {"input_size": int(t.crop_size[0]), "mean": list(t.mean), "std": list(t.std)}
    body = getattr(model, "body", model)
    cfg = getattr(body, "pretrained_cfg", {}) or {}
    return {
        "input_size": int(cfg.get("input_size", (3, 224, 224))[-1]),
        "mean": list(cfg.get("mean", (0.485, 0.456, 0.406))),
        "std": list(cfg.get("std", (0.229, 0.224, 0.225))),
    }


def fetch_hub(spec: dict, out: str | Path) -> str:
    """Download a model's hub weights once and store them as safetensors at ``out``.

    The file holds the state dict of the model exactly as this project builds it (head
    included but never loaded), plus the hub's input size and normalisation as metadata.
    """
    import json

    from transfer_atlas.models import build

    tag = spec["weights"]["hub"]
    try:
        # The full network (its own classifier block included), whatever head the
        # study puts on it: models that share these weights differ only in the head.
        full = {k: v for k, v in spec.items() if k != "head"}
        model = build(full, num_classes=2, hub_tag=tag)
        meta = pretrained_input_config(model, spec, tag)
    except Exception as exc:  # network and hub errors come in many types
        raise WeightsUnavailable(
            f"cannot fetch {spec['arch']} weights '{tag}' ({type(exc).__name__}: {exc}). "
            f"Offline? Get {out} with `dvc pull {out}` (if the project's DVC remote has it), "
            "or run `python scripts/fetch_weights.py` with the same arguments on a machine "
            f"with network and copy the file to {out}."
        ) from None
    metadata = {"arch": spec["arch"], "hub": tag, "input_config": json.dumps(meta)}
    return save_model(model, out, metadata)


def input_config(path: str | Path | None) -> dict:
    """The input size / normalisation recorded in a weights file (empty if none)."""
    if not path:
        return {}
    import json

    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata() or {}
    return json.loads(meta["input_config"]) if "input_config" in meta else {}
