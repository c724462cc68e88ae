#!/usr/bin/env python
"""The straightforward implementation of a study-003 grid cell, written for the benchmark.

What a first version of such a study typically looks like: one cold process per job,
images read from PNG folders by a torchvision ``ImageFolder`` with PIL transforms in a
``DataLoader``, no caches, frozen layers run forward in every epoch. Same model,
optimizer, batch size, epochs and freezing as the project's jobs.

    python naive_grid.py pretrain --data DIR --out W.pt --epochs 5
    python naive_grid.py finetune --data DIR --weights W.pt --freeze 2 --size 40 --seed 0 ...
"""

import argparse
import json
import math
import random
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

from transfer_atlas.nn.models import small_cnn  # the same architecture


def loader(root, size, batch, shuffle, indices=None, seed=0):
    tf = transforms.Compose(
        [
            transforms.Grayscale(1),
            transforms.Resize((size, size)),
            transforms.ToTensor(),
            transforms.Normalize([0.5], [0.25]),
        ]
    )
    ds = datasets.ImageFolder(root, transform=tf)
    if indices is not None:
        ds = Subset(ds, indices)
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(ds, batch_size=batch, shuffle=shuffle, generator=gen), ds


def stratified(targets, n, seed):
    rng = random.Random(seed)
    by_class = {}
    for i, t in enumerate(targets):
        by_class.setdefault(t, []).append(i)
    k = len(by_class)
    out = []
    for j, c in enumerate(sorted(by_class)):
        take = n // k + (1 if j < n % k else 0)
        out += rng.sample(by_class[c], min(take, len(by_class[c])))
    return out


def evaluate(model, dl):
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in dl:
            correct += (model(x).argmax(1) == y).sum().item()
            total += len(y)
    return correct / total


def train(model, dl, val_dl, epochs, lr):
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    for epoch in range(epochs):
        model.train()
        for m in model.modules():  # frozen BatchNorm keeps its statistics
            ps = list(m.parameters(recurse=False))
            if ps and not any(p.requires_grad for p in ps):
                m.eval()
        for x, y in dl:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        print(f"epoch {epoch + 1} val_acc={evaluate(model, val_dl):.4f}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["pretrain", "finetune"])
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--weights")
    p.add_argument("--freeze", type=int, default=0)
    p.add_argument("--size", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--min-steps", type=int, default=0)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.003)
    p.add_argument("--channels", default="16,32,64")
    p.add_argument("--input-size", type=int, default=32)
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    data = Path(a.data)
    n_classes = len([d for d in (data / "train").iterdir() if d.is_dir()])
    channels = [int(c) for c in a.channels.split(",")]
    model = small_cnn(n_classes, 1, channels=channels, input_size=a.input_size)
    full = datasets.ImageFolder(data / "train")
    idx = None if a.mode == "pretrain" or a.size == 0 else stratified(full.targets, a.size, a.seed)
    dl, ds = loader(data / "train", a.input_size, a.batch, True, idx, a.seed)
    val_dl, _ = loader(data / "val", a.input_size, 256, False)
    epochs = max(a.epochs, math.ceil(a.min_steps / max(1, math.ceil(len(ds) / a.batch))))
    if a.mode == "finetune" and a.weights:
        state = torch.load(a.weights)
        model.load_state_dict(
            {k: v for k, v in state.items() if not k.startswith("head.")}, strict=False
        )
        for stage in model.stages[: a.freeze]:
            for prm in stage.parameters():
                prm.requires_grad = False
    train(model, dl, val_dl, epochs, a.lr)
    if a.mode == "pretrain":
        torch.save(model.state_dict(), a.out)
        return
    test_dl, _ = loader(data / "test", a.input_size, 256, False)
    Path(a.out).write_text(json.dumps({"accuracy": evaluate(model, test_dl), "n": len(ds)}))


if __name__ == "__main__":
    main()
