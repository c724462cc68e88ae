"""Architectures beyond the project's own: torchvision models and swappable heads.

Every model built here is a :class:`Headed` network: a ``body`` that maps images to
pre-logit features, and a ``head`` (linear, or an MLP with hidden size and dropout)
that is new for each target task. It answers like a timm model (``forward_features``,
``forward_head``, ``get_classifier``, ``reset_classifier``) and lists its freeze groups
input -> output with :meth:`Headed.group_names`.

Freeze groups of torchvision models follow one rule rather than a table per model:
the parameter-bearing top-level children in definition order, where the sequential
containers ``features``, ``layers`` and ``classifier`` count child by child, and each
BatchNorm joins the layer before it.
:data:`TV_GROUPS` records what that gives for the architectures the reference
studies use; a test checks the rule against it and against the order of the forward pass.
"""

from __future__ import annotations

import torch
from torch import nn

#: Freeze-group counts the rule gives (head excluded); checked by the tests.
TV_GROUPS = {
    "alexnet": 7,  # 5 convs + 2 hidden dense layers
    "vgg16": 15,  # 13 convs + 2 hidden dense layers
    "vgg19": 18,
    "googlenet": 12,  # 3 stem convs + 9 inception blocks
    "squeezenet1_0": 9,  # stem conv + 8 fire modules
    "shufflenet_v2_x1_0": 5,  # conv1, stage2-4, conv5
    "densenet121": 8,  # stem, 4 dense blocks, 3 transitions
    "mnasnet1_0": 10,  # 3 stem convs, 6 stacks, final conv
    "mobilenet_v2": 19,  # stem, 17 inverted residual blocks, final conv
    "resnet18": 5,  # stem + 4 stages
    "resnet34": 5,
    "resnext50_32x4d": 5,
    "wide_resnet50_2": 5,
}


def make_head(spec: dict | None, in_features: int, num_classes: int) -> nn.Module:
    """A new classifier: ``{kind: linear}`` (default) or ``{kind: mlp, hidden, dropout}``."""
    spec = {k: v for k, v in (spec or {}).items() if k != "replace"}
    kind = spec.get("kind", "linear")
    if kind == "linear":
        layers = [nn.Dropout(spec["dropout"])] if spec.get("dropout") else []
        return (
            nn.Sequential(*layers, nn.Linear(in_features, num_classes))
            if layers
            else (nn.Linear(in_features, num_classes))
        )
    if kind == "mlp":
        hidden = spec.get("hidden", 256)
        hidden = [hidden] if isinstance(hidden, int) else list(hidden)
        layers, width = [], in_features
        for units in hidden:
            layers += [nn.Linear(width, units), nn.ReLU(inplace=True)]
            if spec.get("dropout"):
                layers.append(nn.Dropout(spec["dropout"]))
            width = units
        return nn.Sequential(*layers, nn.Linear(width, num_classes))
    raise ValueError(f"unknown head kind '{kind}' (use 'linear' or 'mlp')")


class Headed(nn.Module):
    """``body`` (images -> pre-logit features) + a replaceable ``head``."""

    def __init__(self, body, num_features, num_classes, head_spec=None, groups=None):
        super().__init__()
        self.body = body
        self.num_features = num_features
        self.head_spec = head_spec or {}
        self.head = make_head(self.head_spec, num_features, num_classes)
        self._groups = groups  # body-relative parameter names per group, or None (timm)

    def forward_features(self, x):
        return self.body(x)

    def forward_head(self, x, pre_logits: bool = False):
        return x if pre_logits else self.head(x)

    def forward(self, x):
        return self.head(self.body(x))

    def get_classifier(self):
        return self.head

    def reset_classifier(self, num_classes: int):
        self.head = make_head(self.head_spec, self.num_features, num_classes)

    def group_names(self) -> list[list[str]]:
        if self._groups is not None:
            groups = self._groups
        else:  # a timm body: its own group_matcher, input -> output
            from timm.models import group_parameters

            grouped = group_parameters(self.body, self.body.group_matcher(coarse=True))
            groups = [list(names) for _, names in sorted(grouped.items())]
        return [[f"body.{n}" for n in g] for g in groups]


def _has_params(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


#: Top-level Sequential containers whose children are each their own group.
EXPANDED = ("features", "layers", "classifier")


def layer_groups(body: nn.Module) -> list[list[str]]:
    """Parameter names per freeze group by the rule in the module docstring."""
    units = []
    for name, child in body.named_children():
        if name in EXPANDED and isinstance(child, nn.Sequential):
            units += [(f"{name}.{n}", c) for n, c in child.named_children()]
        else:
            units.append((name, child))
    groups: list[list[str]] = []
    for name, child in units:
        if not _has_params(child):
            continue
        names = [f"{name}.{n}" for n, _ in child.named_parameters()]
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and groups:
            groups[-1].extend(names)
        else:
            groups.append(names)
    return groups


def _cut_last_linear(model: nn.Module) -> int:
    """Replace the model's final ``nn.Linear`` by Identity; return its input width."""
    last = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = (name, module)
    if last is None:
        raise ValueError(f"{type(model).__name__}: no final linear layer to replace")
    name, linear = last
    parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
    setattr(parent, name.rpartition(".")[2], nn.Identity())
    return linear.in_features


def torchvision_body(name: str, args: dict, weights=None, cut="last") -> tuple[nn.Module, int]:
    """A torchvision classifier with its final layer (``cut='last'``) or its whole
    ``classifier`` block (``cut='classifier'``) cut off: (body, feature width)."""
    import torchvision.models as tvm

    args = dict(args)
    if name == "googlenet":
        args.setdefault("aux_logits", False)
        args.setdefault("init_weights", weights is None)
    if name == "mobilenet_v2" and "inverted_residual_setting" in args:
        args["inverted_residual_setting"] = [list(r) for r in args["inverted_residual_setting"]]
    model = tvm.get_model(name, weights=weights, **args)
    if cut == "classifier":
        return model, _cut_classifier(model)
    if name.startswith("squeezenet"):
        # Its classifier is a 1x1 conv to the classes; the new head is linear on pooled features.
        width = model.classifier[1].in_channels
        model.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        return model, width
    return model, _cut_last_linear(model)


def _cut_classifier(body: nn.Module) -> int:
    """Drop the whole ``classifier`` block (e.g. VGG's fc1, fc2, predictions)."""
    block = getattr(body, "classifier", None)
    linears = [m for m in block.modules() if isinstance(m, nn.Linear)] if block else []
    if not linears:
        raise ValueError(f"{type(body).__name__}: no dense classifier block to replace")
    body.classifier = nn.Identity()
    return linears[0].in_features


def build_torchvision(name, num_classes, head_spec=None, args=None, weights=None) -> Headed:
    cut = (head_spec or {}).get("replace", "last")
    body, width = torchvision_body(name, args or {}, weights, cut)
    return Headed(body, width, num_classes, head_spec, groups=layer_groups(body))


def build_timm_headed(name, num_classes, head_spec, in_chans, args, pretrained=False) -> Headed:
    """A timm model whose classifier is replaced by a configurable head."""
    import timm

    body = timm.create_model(
        name, pretrained=pretrained, num_classes=0, in_chans=in_chans, **(args or {})
    )
    return Headed(body, body.num_features, num_classes, head_spec)


@torch.no_grad()
def forward_order(model: Headed, x: torch.Tensor) -> list[int]:
    """Indices of freeze groups in the order their first module runs in a forward pass."""
    groups = model.group_names()
    owner = {}
    for i, names in enumerate(groups):
        for n in names:
            owner[n.rsplit(".", 1)[0]] = i
    seen: list[int] = []
    hooks = []
    for mname, module in model.named_modules():
        if mname in owner:
            idx = owner[mname]
            hooks.append(
                module.register_forward_pre_hook(
                    lambda *_, i=idx: seen.append(i) if i not in seen else None
                )
            )
    model.eval()
    model(x)
    for h in hooks:
        h.remove()
    return seen
