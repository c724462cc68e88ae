"""Named-layer features from a frozen pretrained model, computed once and cached.

One extraction job per model x dataset x layer runs the backbone over every image of
the prepared dataset (train, val and test) and writes one ``.npz`` cache: float32
features in dataset order, the labels, the fixed split indices and a JSON ``meta``
(weights hash, dataset fingerprint, backbone cost figures). Every classifier and
transferability job reads that file instead of running the network again.

Layer names:

- every model: ``pre_logits`` (the pooled input of the classification head) and
  ``predictions`` (softmax over the *source* classes, from the pretrained head);
- timm models: ``stage0`` .. ``stageN``, the globally average-pooled output of each
  entry of ``feature_info`` (``forward_intermediates``); StagedNet models (small_cnn,
  lenet): the same, one per stage;
- torchvision VGG (study 002): ``flatten``, ``fc1``, ``fc2`` (after their ReLU, as in
  Keras) and ``predictions``; ``pre_logits`` is ``fc2``;
- ``pixels``: the prepared images themselves, flattened (no model, no torch) — the
  identity baseline.

Reading and writing caches needs numpy only (``data.feature_cache``); torch is imported
by the extraction functions alone, so classifier jobs stay free of it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from transfer_atlas.core import numerics
from transfer_atlas.data.feature_cache import save
from transfer_atlas.spec.names import MODEL_FREE_LAYERS, VGG_LAYERS

# ------------------------------------------------------------------ layer lookup


def _is_vgg(module) -> bool:
    """torchvision's VGG layout: features -> avgpool -> 7-module classifier."""
    cls = getattr(module, "classifier", None)
    return (
        hasattr(module, "features")
        and hasattr(module, "avgpool")
        and cls is not None
        and type(cls).__name__ == "Sequential"
        and len(cls) == 7
    )


def find_vgg(model):
    """The torchvision VGG inside ``model`` (the model itself or a wrapped module), or None."""
    return next((m for m in model.modules() if _is_vgg(m)), None)


def vgg_layer(vgg, layer: str):
    """Function x -> features of ``layer`` for a torchvision VGG (study 002's names).

    classifier = [Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear]: ``fc1`` is
    the output of modules 0-1, ``fc2`` of 0-4 (dropout is inactive in eval mode),
    ``predictions`` the softmax of the last Linear.
    """
    import torch

    def flatten(x):
        return torch.flatten(vgg.avgpool(vgg.features(x)), 1)

    depth = {"flatten": 0, "fc1": 2, "fc2": 5, "pre_logits": 5, "predictions": 7}
    if layer not in depth:
        raise ValueError(f"layer '{layer}' is not defined for VGG (use one of {VGG_LAYERS})")

    def fn(x):
        x = flatten(x)
        x = vgg.classifier[: depth[layer]](x)
        return torch.softmax(x, 1) if layer == "predictions" else x

    return fn


def stage_count(model) -> int:
    if hasattr(model, "stages") and hasattr(model, "group_names"):  # StagedNet
        return len(model.stages)
    return len(getattr(model, "feature_info", []) or [])


def available_layers(model) -> list[str]:
    if find_vgg(model) is not None:
        return list(VGG_LAYERS)
    return ["pre_logits", "predictions"] + [f"stage{i}" for i in range(stage_count(model))]


def _pool(x):
    return x.mean(dim=(2, 3)) if x.ndim == 4 else x.flatten(1)


def layer_function(model, layer: str):
    """Function x -> (N, D) features of ``layer``; ValueError lists the layers the model has."""
    import torch

    vgg = find_vgg(model)
    if vgg is not None:
        return vgg_layer(vgg, layer)
    if layer == "pre_logits":
        return lambda x: model.forward_head(model.forward_features(x), pre_logits=True)
    if layer == "predictions":
        return lambda x: torch.softmax(model(x).float(), 1)
    n = stage_count(model)
    if layer.startswith("stage") and layer[5:].isdigit() and int(layer[5:]) < n:
        i = int(layer[5:])
        if hasattr(model, "group_names"):  # StagedNet: run the first i+1 stages

            def staged(x):
                for stage in model.stages[: i + 1]:
                    x = stage(x)
                return _pool(x)

            return staged
        return lambda x: _pool(
            model.forward_intermediates(x, indices=[i], intermediates_only=True)[0]
        )
    raise ValueError(
        f"layer '{layer}' is not defined for this model (available: {available_layers(model)})"
    )


# ------------------------------------------------------------------ extraction


def load_source_model(spec: dict, weights_path: str | Path):
    """Build ``spec`` with as many classes as its weights' head has, and load every tensor."""
    from safetensors.torch import load_file

    from transfer_atlas.nn import models

    state = load_file(str(weights_path))
    probe = models.build(spec, 2)
    head = sorted(n for n in models.classifier_names(probe) if n.endswith("weight"))
    if not head or head[-1] not in state:
        raise ValueError(f"{weights_path}: no classifier weights ({head}) for the source head")
    model = models.build(spec, int(state[head[-1]].shape[0]))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{weights_path}: weights do not fit the architecture: {exc}") from None
    return model.eval()


def check_cache_weights(meta: dict, job: dict, path) -> None:
    """A cache read by a classifier or transferability job must come from the weights the
    config pins (``job['weights_sha256']``), whatever made it (e.g. a `dvc pull`)."""
    want, got = job.get("weights_sha256"), meta.get("weights_sha256")
    if want and got != want:
        raise ValueError(
            f"model '{job['model']}': {path} was computed from weights with sha256 {got}, "
            f"not the {want} of config key 'models.{job['model']}.weights.sha256' "
            "(rerun its extract_features job)"
        )


def pixels(prep) -> np.ndarray:
    """The identity features: prepared uint8 images flattened to float32."""
    return prep.images.reshape(len(prep.images), -1).astype(np.float32)


def extract(job: dict, data_dir: str, weights_path: str | None, out: str, device="auto") -> dict:
    """Compute one layer's features for every image of a prepared dataset; write the cache."""
    from transfer_atlas.data import prepared as data

    t0 = time.time()
    layer, spec = job["layer"], job["model_spec"]
    sha = None
    if layer not in MODEL_FREE_LAYERS:
        if not weights_path:
            raise ValueError(f"layer '{layer}' of model '{job['model']}' needs source weights")
        from transfer_atlas.nn.weights import check_weights

        # Before the dataset or the file is read: wrong weights stop the job here.
        sha = check_weights(weights_path, job.get("weights_sha256"), job["model"])
    prep = data.load(data_dir)
    meta = {
        "model": job["model"],
        "dataset": job["dataset"],
        "layer": layer,
        "arch": spec["arch"],
        "num_classes": prep.num_classes,
        "dataset_fingerprint": prep.fingerprint,
        "weights_sha256": sha,
        "weights_origin": None,
        "backbone_params": 0,
        "backbone_bytes": 0,
        "backbone_flops": 0,
        "backbone_latency_ms": 0.0,
        "n_groups": 0,
        "device": "cpu",
        # Classifier jobs draw their validation images the way fine-tune jobs do.
        "val_size": prep.val_size,
    }
    if layer in MODEL_FREE_LAYERS:
        feats = pixels(prep)
    else:
        feats = _run_backbone(spec, prep, weights_path, layer, device, meta)
    meta["extract_s"] = time.time() - t0
    meta["dim"] = int(feats.shape[1])
    save(out, feats, prep, meta)
    print(
        f"{job['model']}/{layer} on {job['dataset']}: {feats.shape} in {meta['extract_s']:.2f} s"
        f" -> {out}",
        flush=True,
    )
    return meta


def _run_backbone(spec, prep, weights_path, layer, device, meta) -> np.ndarray:
    import torch

    from transfer_atlas.nn import costs, models
    from transfer_atlas.nn.freezing import count_params
    from transfer_atlas.nn.pipeline import RowsInput
    from transfer_atlas.nn.torch_device import pick_device
    from transfer_atlas.nn.weights import input_config, origin

    dev = pick_device(device)
    model = load_source_model(spec, weights_path).to(dev)
    fn = layer_function(model, layer)
    # Converted per batch of 256 when large: the images stay memory-mapped.
    x = RowsInput(prep.images, np.arange(len(prep.images)), spec, dev, input_config(weights_path))
    with torch.no_grad():
        feats = torch.cat([fn(x[i : i + 256]).float().cpu() for i in range(0, len(x), 256)])
    meta.update(
        backbone_params=count_params(model)[0],
        backbone_bytes=costs.size_on_disk(model),
        backbone_flops=costs.flops(model, x[:1]),
        # Features are computed in fp32 above, so the latency is measured in fp32 too.
        backbone_latency_ms=costs.latency_ms(model, x[:1], amp=False),
        n_groups=len(models.freeze_groups(model)),
        device=dev.type,
        weights_origin=origin(weights_path),
    )
    return feats.numpy()


def main(argv: list[str] | None = None, t_start: float | None = None, startup: str = "cold"):
    import argparse

    p = argparse.ArgumentParser(prog="extract_features", description=__doc__.splitlines()[0])
    p.add_argument("--job", required=True, help="JSON: dataset, model, layer, model_spec")
    p.add_argument("--data", required=True, help="prepared dataset directory")
    p.add_argument("--weights", default=None, help="source weights (.safetensors)")
    p.add_argument("--out", required=True, help="feature cache (.npz)")
    p.add_argument("--device", default=os.environ.get("TA_DEVICE", "auto"))
    p.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    args = p.parse_args(argv)
    job = json.loads(args.job)
    if job["layer"] not in MODEL_FREE_LAYERS:
        import torch

        torch.set_num_threads(max(1, args.threads))
    try:
        numerics.check(job.get("numerics"))
        extract(job, args.data, args.weights, args.out, args.device)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0
