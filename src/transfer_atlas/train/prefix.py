"""The frozen prefix of a fine-tune, run once instead of every epoch.

A job whose leading groups are frozen (and whose input is not augmented) trains only the
tail: the prefix is a fixed function, so its output over the run's images is computed once
(:func:`precompute`). When every backbone group is frozen, that output is the model's
``pre_logits``: the features regime's cache of them (``data.feature_cache``, one per model x
dataset) holds it for every image, and the workflow hands it to the study's freeze-all
fine-tunes, which then read their rows instead of running the backbone
(:func:`from_features`; ``spec.study.Study.prefix_caches`` says which jobs).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from transfer_atlas.data import feature_cache
from transfer_atlas.nn import models
from transfer_atlas.nn.freezing import head_dropout
from transfer_atlas.nn.torch_device import autocast_for, synchronize


class Suffix(nn.Module):
    """The trainable tail of a model whose first ``start`` groups were precomputed
    (``"head"``: every group, the tail is the classifier on pre-logits)."""

    def __init__(self, model: nn.Module, start: int | str):
        super().__init__()
        self.model, self.start = model, start

    def get_classifier(self):
        return self.model.get_classifier()

    def forward(self, x):
        m = self.model
        if self.start == "head":  # the head's own dropout on cached pre-logits, if any
            p = head_dropout(m)
            x = torch.nn.functional.dropout(x, p, self.training) if p else x
            return m.get_classifier()(x)
        for stage in m.stages[self.start :]:
            x = stage(x)
        return m.forward_head(x)


@torch.no_grad()
def precompute(model, depth, n_groups, tensors):
    """Run the frozen prefix once; return (suffix module, transformed tensors, groups
    cached, seconds spent per tensor). The seconds are compute the run needed: the
    training and validation ones count towards ``train_s`` like any epoch."""
    if depth == 0:
        return model, tensors, 0, [0.0] * len(tensors)
    model.eval()
    if depth == n_groups:  # every backbone group frozen: cache pooled features

        def prefix(x):
            return model.forward_head(model.forward_features(x), pre_logits=True)

        start = "head"
    elif isinstance(model, models.StagedNet):

        def prefix(x):
            for stage in model.stages[:depth]:
                x = stage(x)
            return x

        start = depth
    else:
        return model, tensors, 0, [0.0] * len(tensors)
    out, seconds = [], []
    for t in tensors:
        t0 = time.perf_counter()
        with autocast_for(t.device):  # the precision training and predictions run in
            out.append(torch.cat([prefix(t[i : i + 512]).float() for i in range(0, len(t), 512)]))
        synchronize(t.device)  # GPU kernels are asynchronous: wait before reading the clock
        seconds.append(time.perf_counter() - t0)
    return Suffix(model, start), out, depth, seconds


def from_features(path, job: dict, prep, weights_sha: str, rows, dev) -> tuple[list, list]:
    """The frozen backbone's output for ``rows`` (index arrays: train, val, test) read from
    the ``pre_logits`` feature cache at ``path``, which must come from this job's model,
    weights and dataset; and, per index array, the cache's extraction time pro rata to its
    images (what the rows cost; ``timing.prefix_s``, docs/meanings.md)."""
    cache = feature_cache.load(path)
    meta, where = cache.meta, f"feature cache {path}"
    if meta.get("layer") != "pre_logits" or meta.get("model") != job["model"]:
        raise ValueError(f"{where} holds {meta.get('model')}/{meta.get('layer')}, "
                         f"not {job['model']}/pre_logits")  # fmt: skip
    if meta.get("weights_sha256") != weights_sha:
        raise ValueError(f"{where} was computed from weights {meta.get('weights_sha256')}, "
                         f"not {weights_sha} (rerun its extract_features job)")  # fmt: skip
    if meta.get("dataset_fingerprint") != prep.fingerprint:
        raise ValueError(f"{where} was computed from another version of dataset "
                         f"'{job['dataset']}' (rerun its extract_features job)")  # fmt: skip
    per_image = float(meta.get("extract_s", 0.0)) / max(1, len(cache.features))
    out = [torch.from_numpy(np.ascontiguousarray(cache.features[idx])).to(dev) for idx in rows]
    return out, [per_image * len(idx) for idx in rows]
