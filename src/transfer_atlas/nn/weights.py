"""Weights: safetensors (or tensor-only torch files), sha256 checked, shapes checked.

Pickle checkpoints can run code when loaded; this project never unpickles arbitrary
objects. ``.safetensors`` files are read with safetensors; ``.pt``/``.pth``/``.bin``
files only with ``torch.load(weights_only=True)``, which refuses any pickled object
that is not a tensor or plain container. Before a file is used its sha256 is compared
with the one recorded for it (the config's ``weights.sha256``, or the ``.json`` written
beside weights the workflow pretrained), so a swapped or corrupted file stops the job.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import nn

from transfer_atlas.core import atomic
from transfer_atlas.nn.models import classifier_names


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_model(model: nn.Module, path: str | Path, metadata: dict | None = None) -> str:
    """Write the state dict as safetensors (atomically); return its sha256."""
    import json

    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    # safetensors writes its metadata map in hash order, which varies between processes;
    # one key holding sorted JSON makes identical weights give an identical file and sha256.
    meta = (
        {
            "transfer_atlas": json.dumps(
                {k: str(v) for k, v in (metadata or {}).items()}, sort_keys=True
            )
        }
        if metadata
        else None
    )
    with atomic.atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)
    return sha256_file(path)


TORCH_SUFFIXES = (".pt", ".pth", ".bin")


class WeightsError(ValueError):
    """A weights file is unsafe, corrupt, or does not fit; the message names the file."""


def verify_sha256(path: str | Path, expected: str | None) -> str:
    """Return the file's sha256; raise WeightsError if ``expected`` is given and differs."""
    actual = sha256_file(path)
    if expected and actual != expected.lower():
        raise WeightsError(
            f"{path}: sha256 {actual} differs from the recorded {expected.lower()} "
            "(file replaced or corrupted; restore it, e.g. `dvc pull`, or rerun its producer)"
        )
    return actual


def recorded_sha256(path: str | Path) -> str | None:
    """The sha256 the workflow recorded beside weights it pretrained (``<stem>.json``)."""
    import json

    info = Path(path).with_suffix(".json")
    if not info.is_file():
        return None
    try:
        recorded = json.loads(info.read_text())
    except ValueError:
        raise WeightsError(f"{info}: unreadable weights record") from None
    return recorded.get("sha256") if isinstance(recorded, dict) else None


def check_weights(path: str | Path, pinned: str | None, model: str) -> str:
    """The sha256 of ``model``'s weights file, checked before any job reads it.

    Against the config's pin (``models.<model>.weights.sha256``) if there is one, else
    against the ``.json`` the workflow wrote beside weights it made (pretrained or
    converted). Every job that loads weights (fine-tune, features, pictures) calls this
    first, so a replaced or corrupted file stops each of them with the same message.
    """
    if not Path(path).is_file():
        raise WeightsError(f"model '{model}': weights file {path} not found")
    recorded = None if pinned else recorded_sha256(path)
    try:
        return verify_sha256(path, pinned or recorded)
    except WeightsError as exc:
        where = (
            f"config key 'models.{model}.weights.sha256'"
            if pinned
            else str(Path(path).with_suffix(".json"))
        )
        raise WeightsError(f"model '{model}': {exc} [expected sha256 from {where}]") from None


def load_state(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a flat name -> tensor mapping without running code hidden in the file."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise WeightsError(f"{path}: not a valid safetensors file ({exc})") from None
    elif path.suffix in TORCH_SUFFIXES:
        import pickle

        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, KeyError) as exc:
            # KeyError: torch's legacy-format reader on a text file ("hello" -> KeyError 104)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise WeightsError(
                f"{path}: refused: not a tensor-only checkpoint, so loading it could run "
                f"code (torch.load weights_only=True said: {first}); convert it to "
                ".safetensors from a trusted environment"
            ) from None
    else:
        raise WeightsError(
            f"{path}: unsupported weights format '{path.suffix}' (use .safetensors, or a "
            f"tensor-only {'/'.join(TORCH_SUFFIXES)} state dict)"
        )
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise WeightsError(f"{path}: expected a flat mapping of tensor names to tensors")
    return state


def _align_body_prefix(state: dict, own: dict) -> dict:
    """Hub weights of a timm model fit it with or without a replaced head: the headed
    form keeps the timm model under ``body.``; add or strip that prefix to match."""
    if any(k in state for k in own):
        return state
    if any(k.startswith("body.") for k in own):
        return {f"body.{k}": v for k, v in state.items()}
    return {k.removeprefix("body."): v for k, v in state.items()}


def load_backbone(model: nn.Module, path: str | Path) -> list[str]:
    """Load every non-head tensor of ``model`` from a weights file (see :func:`load_state`).

    The head is new for the target task, so its tensors are skipped. Missing keys or
    shape mismatches raise WeightsError naming the tensors and the file.
    """
    path = Path(path)
    state = _align_body_prefix(load_state(path), model.state_dict())
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
        raise WeightsError(f"{path}: weights do not fit the architecture: {detail}")
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

    from transfer_atlas.nn.models import build

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


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata :func:`save_model` stored (its one JSON key, or a plain flat map)."""
    import json

    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata() or {}
    return json.loads(meta["transfer_atlas"]) if "transfer_atlas" in meta else meta


def origin(path: str | Path | None) -> dict | None:
    """Where weights the workflow fetched or converted came from, for the run records:
    ``{distribution, version, file, sha256}`` of a package's checkpoint, or the hub tag."""
    if not path:
        return None
    import json

    meta = read_metadata(path)
    if "package" in meta:
        return {"package": json.loads(meta["package"]), "layout": meta.get("layout")}
    return {"hub": meta["hub"], "arch": meta.get("arch")} if "hub" in meta else None


def input_config(path: str | Path | None) -> dict:
    """The input size / normalisation recorded in a weights file (empty if none)."""
    if not path:
        return {}
    import json

    meta = read_metadata(path)
    return json.loads(meta["input_config"]) if "input_config" in meta else {}
