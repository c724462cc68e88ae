"""The training loop: data already on the device, nothing done twice.

``fit`` trains whatever parameters of ``model`` require grad on tensors that are
already normalised and on the device, and returns the per-epoch curve. Losses and
accuracies accumulate on the device; the host syncs once per epoch for the curve.
"""

from __future__ import annotations

import copy
import math
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

from transfer_atlas.nn.freezing import set_train_mode
from transfer_atlas.nn.pipeline import augment
from transfer_atlas.nn.torch_device import autocast_for
from transfer_atlas.spec.names import OPTIMIZERS, SCHEDULES


def _fusable(params) -> bool:
    """Whether every parameter is on a device with torch's fused Adam kernels."""
    params = list(params)
    tensors = [p for g in params for p in g["params"]] if isinstance(params[0], dict) else params
    return all(p.device.type in ("cpu", "cuda") for p in tensors)


def make_optimizer(params, hp: dict) -> torch.optim.Optimizer:
    """``hp``'s optimizer over ``params``.

    Adam and AdamW use torch's fused kernel where it exists (CPU, CUDA): its square root
    is the exactly rounded vector instruction, whereas the default multi-tensor path
    calls MKL's vector maths, whose last bits differ between Intel and AMD CPUs (and
    so did whole training runs; core.numerics). It is also one kernel per step.
    """
    name, lr, wd = hp["optimizer"], hp["lr"], hp["weight_decay"]
    params = list(params)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=hp["momentum"], weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd, fused=_fusable(params) or None)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd, fused=_fusable(params) or None)
    if name == "adadelta":
        return torch.optim.Adadelta(params, lr=lr, weight_decay=wd)
    raise ValueError(f"unknown optimizer '{name}' (known: {', '.join(OPTIMIZERS)})")


def param_groups(model: nn.Module, hp: dict) -> list[dict]:
    """Trainable parameters; the backbone's learning rate scaled by ``backbone_lr_scale``.

    A scale below 1 keeps pretrained features close to where they started while the
    new head learns at the full rate (discriminative fine-tuning).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    scale = hp.get("backbone_lr_scale", 1.0)
    if scale == 1.0 or not hasattr(model, "get_classifier"):
        return [{"params": params}]
    head = {id(p) for p in model.get_classifier().parameters()}
    groups = [
        {"params": [p for p in params if id(p) in head]},
        {"params": [p for p in params if id(p) not in head], "lr": hp["lr"] * scale},
    ]
    return [g for g in groups if g["params"]]


def make_schedule(opt, hp: dict, epochs: int):
    kind = hp["schedule"]
    if kind not in SCHEDULES:  # not silently constant
        raise ValueError(f"unknown schedule '{kind}' (known: {', '.join(SCHEDULES)})")
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    if kind == "step":
        return torch.optim.lr_scheduler.StepLR(opt, hp["step_size"], hp["gamma"])
    if kind == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode="max", factor=hp["gamma"], patience=max(1, hp["step_size"] // 3)
        )
    return None  # constant


#: Input bytes per prediction batch at most: 512 small images, fewer large ones (at
#: 224 px a batch of 512 would be 300 MB of input and gigabytes of activations).
PREDICT_BYTES = 32 << 20


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch: int = 512) -> torch.Tensor:
    """Logits for ``x`` (a tensor or a ``pipeline.RowsInput``) in eval mode, in batches
    (float32)."""
    model.eval()
    batch = min(batch, max(1, PREDICT_BYTES // (4 * math.prod(x.shape[1:]))))
    with autocast_for(x.device):
        out = [model(x[i : i + batch]).float() for i in range(0, len(x), batch)]
    return torch.cat(out) if out else torch.empty(0)


def epochs_needed(hp: dict, n_train: int) -> int:
    """Configured epochs, raised so that tiny training sets still get ``min_steps`` updates."""
    steps_per_epoch = max(1, math.ceil(n_train / hp["batch_size"]))
    return max(hp["epochs"], math.ceil(hp["min_steps"] / steps_per_epoch))


MAX_CURVE_POINTS = 15


def eval_every(hp: dict, epochs: int) -> int:
    """Validate every epoch when something depends on it, else at most MAX_CURVE_POINTS times.

    With tiny training sets ``min_steps`` turns into many short epochs, and validating
    after each would cost more than training.
    """
    if hp.get("early_stopping") or hp["schedule"] == "plateau":
        return 1
    return max(1, math.ceil(epochs / MAX_CURVE_POINTS))


def fit(
    model: nn.Module,
    x_train,
    y_train,
    x_val,
    y_val,
    hp: dict,
    seed: int,
    on_first_step=None,
    log=sys.stdout,
) -> dict:
    """Train ``model`` in place; return the curve, timing and the chosen epoch."""
    device = x_train.device
    opt = make_optimizer(param_groups(model, hp), hp)
    epochs = epochs_needed(hp, len(x_train))
    sched = make_schedule(opt, hp, epochs)
    plateau = isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau)
    gen = torch.Generator(device=device).manual_seed(seed)
    curve, best = [], (-1.0, None, 0)
    patience, seen, t0 = hp.get("early_stopping", 0), 0, time.perf_counter()
    every = eval_every(hp, epochs)
    since = _SinceLastPoint(device)
    for epoch in range(1, epochs + 1):
        n, on_first_step = _train_epoch(model, x_train, y_train, hp, opt, gen, since, on_first_step)
        seen += n
        lr = opt.param_groups[0]["lr"]
        if sched is not None and not plateau:
            sched.step()
        if epoch % every and epoch != epochs:
            continue
        point = _curve_point(model, x_val, y_val, since, epoch, lr)
        curve.append(point)
        val_acc = point["val_accuracy"]
        print(
            f"epoch {epoch}/{epochs} train_loss={point['train_loss']:.4f} val_acc={val_acc:.4f}",
            file=log,
            flush=True,
        )
        if patience and val_acc > best[0]:
            best = (val_acc, copy.deepcopy(model.state_dict()), epoch)
        if plateau:
            sched.step(val_acc)
        if patience and epoch - best[2] >= patience:
            print(f"early stop at epoch {epoch} (best {best[2]})", file=log, flush=True)
            break
    if patience and best[1] is not None:
        model.load_state_dict(best[1])
    train_s = time.perf_counter() - t0
    epochs_run = curve[-1]["epoch"]
    return {
        "curve": curve,
        "epochs_run": epochs_run,
        "best_epoch": best[2] or epochs_run,
        "train_s": train_s,
        "images_seen": seen,
        "throughput_img_s": seen / train_s if train_s > 0 else 0.0,
    }


class _SinceLastPoint:
    """Training loss and correct predictions summed on the device since the previous
    curve point, and the number of images: read with one host sync per point."""

    def __init__(self, device):
        self.loss = torch.zeros((), device=device)
        self.correct = torch.zeros((), device=device, dtype=torch.long)
        self.n = 0

    def add(self, loss: torch.Tensor, logits: torch.Tensor, yb: torch.Tensor) -> None:
        self.loss += loss.detach() * len(yb)
        self.correct += (logits.argmax(1) == yb).sum()
        self.n += len(yb)

    def take(self) -> tuple[float, float]:
        """(mean loss, accuracy) since the previous point; starts the next one."""
        out = self.loss.item() / self.n, self.correct.item() / self.n
        self.loss.zero_()
        self.correct.zero_()
        self.n = 0
        return out


def _train_epoch(model, x_train, y_train, hp, opt, gen, since, on_first_step):
    """One pass over the training set in a seeded random order; returns (images seen,
    ``on_first_step`` or None once it has been called)."""
    device = x_train.device
    bs, aug, seen = hp["batch_size"], hp.get("augment") or {}, 0
    set_train_mode(model)
    order = torch.randperm(len(x_train), generator=gen, device=device)
    for start in range(0, len(order), bs):
        idx = order[start : start + bs]
        xb, yb = augment(x_train[idx], aug, gen), y_train[idx]
        with autocast_for(device):
            logits = model(xb)
            loss = F.cross_entropy(logits.float(), yb, label_smoothing=hp["label_smoothing"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        since.add(loss, logits, yb)
        seen += len(idx)
        if on_first_step is not None:
            on_first_step()
            on_first_step = None
    return seen, on_first_step


def _curve_point(model, x_val, y_val, since: _SinceLastPoint, epoch: int, lr: float) -> dict:
    """A curve point: train metrics averaged since the previous point, validation now."""
    val_logits = predict(model, x_val)
    val_loss = F.cross_entropy(val_logits, y_val).item()
    val_acc = (val_logits.argmax(1) == y_val).float().mean().item()
    train_loss, train_accuracy = since.take()
    return {
        "epoch": epoch,
        "train_loss": train_loss,
        "train_accuracy": train_accuracy,
        "val_loss": val_loss,
        "val_accuracy": val_acc,
        "lr": lr,
    }
