"""One factory over every architecture, with one interface for freezing and heads.

Every model built here answers like a timm model: ``forward_features``,
``forward_head(x, pre_logits=...)``, ``get_classifier`` and ``reset_classifier``,
plus :func:`freeze_groups` giving its parameter groups ordered input -> output.
"""

from __future__ import annotations

import torch
from torch import nn

from transfer_atlas.spec.names import (
    LENET_CHANNELS,
    LENET_DENSE,
    LOCAL_ARCHS,
    SMALL_CNN_CHANNELS,
    SMALL_CNN_DENSE,
)


class StagedNet(nn.Module):
    """A plain stack of stages (each one freeze group), global pooling, and a linear head."""

    def __init__(
        self,
        stages: list[nn.Module],
        feature_dim: int,
        num_classes: int,
        pool: bool = True,
        head_spec: dict | None = None,
    ):
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.pool = nn.AdaptiveAvgPool2d(1) if pool else nn.Identity()
        self.num_features = feature_dim
        self.head_spec = head_spec
        self.head = self._new_head(num_classes)

    def _new_head(self, num_classes: int) -> nn.Module:
        if not self.head_spec:
            return nn.Linear(self.num_features, num_classes)
        from transfer_atlas.nn.zoo import make_head

        return make_head(self.head_spec, self.num_features, num_classes)

    def forward_features(self, x):
        for stage in self.stages:
            x = stage(x)
        return x

    def forward_head(self, x, pre_logits: bool = False):
        x = torch.flatten(self.pool(x), 1)
        return x if pre_logits else self.head(x)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))

    def get_classifier(self):
        return self.head

    def reset_classifier(self, num_classes: int):
        self.head = self._new_head(num_classes)

    def group_names(self) -> list[list[str]]:
        return [
            [f"stages.{i}.{n}" for n, _ in s.named_parameters()] for i, s in enumerate(self.stages)
        ]


def small_cnn(
    num_classes: int,
    in_chans: int = 1,
    channels=SMALL_CNN_CHANNELS,
    dense=SMALL_CNN_DENSE,
    dropout: float = 0.0,
    pool_every: int = 1,
    input_size: int = 16,
) -> StagedNet:
    """Conv/BN/ReLU blocks with max-pooling (and dropout), optional dense layers.

    In the spirit of study 003's small CNN: each conv block and each dense layer is
    one freeze group. With dense layers the conv output is flattened (no global pool).
    """
    stages, c_in, size = [], in_chans, input_size
    for i, c_out in enumerate(channels):
        layers = [
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        ]
        if (i + 1) % pool_every == 0 and size >= 2:
            layers.append(nn.MaxPool2d(2))
            size //= 2
        if dropout:
            layers.append(nn.Dropout(dropout))
        stages.append(nn.Sequential(*layers))
        c_in = c_out
    if not dense:
        return StagedNet(stages, c_in, num_classes)
    width = c_in * size * size
    for j, units in enumerate(dense):
        first = [nn.Flatten()] if j == 0 else []
        stages.append(
            nn.Sequential(
                *first,
                nn.Linear(width, units),
                nn.ReLU(inplace=True),
                *([nn.Dropout(dropout)] if dropout else []),
            )
        )
        width = units
    return StagedNet(stages, width, num_classes, pool=False)


def lenet(num_classes: int, in_chans: int = 1, input_size: int = 32, **_) -> StagedNet:
    """LeNet-5: two conv/pool stages and two dense layers, one freeze group each (the
    widths are ``names.LENET_*``, which the config checks count groups from)."""
    (c1, c2), (d1, d2) = LENET_CHANNELS, LENET_DENSE
    size = ((input_size - 4) // 2 - 4) // 2
    stages = [
        nn.Sequential(nn.Conv2d(in_chans, c1, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2)),
        nn.Sequential(nn.Conv2d(c1, c2, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2)),
        nn.Sequential(nn.Flatten(), nn.Linear(c2 * size * size, d1), nn.ReLU(inplace=True)),
        nn.Sequential(nn.Linear(d1, d2), nn.ReLU(inplace=True)),
    ]
    return StagedNet(stages, d2, num_classes, pool=False)


#: The builder of each of ``names.LOCAL_ARCHS``.
LOCAL_BUILDERS = {"small_cnn": small_cnn, "lenet": lenet}


def build(spec: dict, num_classes: int, hub_tag: str | None = None) -> nn.Module:
    """Build the architecture named in a model spec, randomly initialised.

    ``hub_tag`` downloads the hub's pretrained weights instead (only the
    ``fetch_weights`` step does that; jobs load the cached safetensors).
    """
    arch, args = spec["arch"], dict(spec.get("arch_args", {}))
    in_chans, input_size = spec.get("in_chans", 1), spec.get("input_size", 32)
    head = spec.get("head")
    if arch in LOCAL_ARCHS:
        fn = LOCAL_BUILDERS[arch]
        net = fn(num_classes, in_chans, input_size=input_size, **args)
        if head:
            net.head_spec = head
            net.reset_classifier(num_classes)
        return net
    if arch.startswith("tv/"):
        from transfer_atlas.nn import zoo

        return zoo.build_torchvision(arch[3:], num_classes, head, args, weights=hub_tag)
    if arch.startswith("timm/"):
        name = arch.split("/", 1)[1] + (f".{hub_tag}" if hub_tag and hub_tag != "default" else "")
        if head:
            from transfer_atlas.nn import zoo

            return zoo.build_timm_headed(name, num_classes, head, in_chans, args, bool(hub_tag))
        import timm

        return timm.create_model(
            name,
            pretrained=bool(hub_tag),
            num_classes=num_classes,
            in_chans=in_chans,
            **args,
        )
    raise ValueError(f"unknown architecture '{arch}'")


def classifier_names(model: nn.Module) -> set[str]:
    head = model.get_classifier()
    ids = {id(p) for p in head.parameters()}
    return {n for n, p in model.named_parameters() if id(p) in ids}


def freeze_groups(model: nn.Module) -> list[list[str]]:
    """Parameter names per freeze group, input -> output, excluding the classifier head."""
    head = classifier_names(model)
    if hasattr(model, "group_names"):
        groups = model.group_names()
    else:
        from timm.models import group_parameters

        grouped = group_parameters(model, model.group_matcher(coarse=True))
        groups = [list(names) for _, names in sorted(grouped.items())]
    groups = [[n for n in g if n not in head] for g in groups]
    return [g for g in groups if g]
