"""The on-device data pipeline: uint8 arrays in, normalised model-sized batches out.

Images move to the device once per job; channel conversion, resizing and
normalisation run there once, in batches; augmentation runs there per batch.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

DEFAULT_MEAN, DEFAULT_STD = 0.5, 0.25


def spec_input(images: np.ndarray, spec: dict, device, hub_cfg: dict | None = None) -> torch.Tensor:
    """Model-ready tensors for ``spec``: size and normalisation from the spec, else from
    the hub weights' own pretrained config (``hub_cfg``, see ``weights.input_config``),
    else the defaults. Fine-tuning, feature extraction and the feature-map pictures all
    go through here, so a hub model sees the same inputs in each."""
    hub_cfg = hub_cfg or {}
    size = spec.get("input_size") or hub_cfg.get("input_size")
    norm = spec.get("normalize") or hub_cfg
    mean, std = norm.get("mean", DEFAULT_MEAN), norm.get("std", DEFAULT_STD)
    in_chans = spec.get("in_chans", 1)
    if isinstance(mean, list) and len(mean) != in_chans:
        mean, std = sum(mean) / len(mean), sum(std) / len(std)
    return to_model_input(images, device, in_chans, size, mean, std)


def to_model_input(
    images: np.ndarray,
    device,
    in_chans: int,
    size: int | None,
    mean=DEFAULT_MEAN,
    std=DEFAULT_STD,
    batch: int = 1024,
) -> torch.Tensor:
    """uint8 NHWC -> float NCHW on ``device``: channels matched, resized, normalised."""
    mean_t = torch.as_tensor(mean, dtype=torch.float32, device=device).reshape(-1, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float32, device=device).reshape(-1, 1, 1)
    out = []
    for start in range(0, len(images), batch):
        x = torch.from_numpy(np.ascontiguousarray(images[start : start + batch])).to(device)
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        if x.shape[1] != in_chans:
            x = x.mean(1, keepdim=True) if in_chans == 1 else x.expand(-1, in_chans, -1, -1)
        if size and tuple(x.shape[-2:]) != (size, size):
            shrink = size < x.shape[-1]
            x = F.interpolate(
                x, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink
            )
        out.append((x - mean_t) / std_t)
    if not out:
        return torch.empty(0, in_chans, size or 1, size or 1, device=device)
    # channels-last on a GPU, matching the model (see finetune.run_finetune)
    cuda = torch.device(device).type == "cuda"
    return torch.cat(out).contiguous(
        memory_format=torch.channels_last if cuda else torch.contiguous_format
    )


def augment(x: torch.Tensor, spec: dict, gen: torch.Generator) -> torch.Tensor:
    """Random flips, rotations, translations, Gaussian and salt-and-pepper noise, per sample.

    Flips and translations (random crops of the image padded by ``crop_padding`` pixels,
    border replicated) are one gather of precomputed indices, no interpolation: on a
    CPU a bilinear resample of the batch costs a few percent of a small model's step.
    Only rotations resample.
    """
    if not spec:
        return x
    n, dev = x.shape[0], x.device

    def coin(p=0.5):
        return torch.rand(n, generator=gen, device=dev) < p

    angles = spec.get("rotations") or []
    if angles:
        choice = torch.randint(len(angles) + 1, (n,), generator=gen, device=dev)
        table = torch.tensor([0.0] + [math.radians(a) for a in angles], device=dev)
        rad = table[choice]
        theta = torch.zeros(n, 2, 3, device=dev)
        theta[:, 0, 0], theta[:, 0, 1] = rad.cos(), -rad.sin()
        theta[:, 1, 0], theta[:, 1, 1] = rad.sin(), rad.cos()
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    pad = spec.get("crop_padding", 0)
    if spec.get("hflip") or spec.get("vflip") or pad:
        x = _flip_and_shift(x, spec.get("hflip"), spec.get("vflip"), pad, coin, gen)
    if spec.get("noise_std"):
        x = x + spec["noise_std"] * torch.randn(x.shape, generator=gen, device=dev)
    frac = spec.get("salt_pepper", 0)
    if frac:
        r = torch.rand(x.shape[0], 1, *x.shape[2:], generator=gen, device=dev)
        lo, hi = x.amin(), x.amax()
        x = torch.where(r < frac / 2, lo, torch.where(r > 1 - frac / 2, hi, x))
    return x


def _flip_and_shift(x, hflip, vflip, pad, coin, gen):
    """Per-sample flips and integer shifts in [-pad, pad] as a single gather."""
    n, c, h, w = x.shape
    dev = x.device

    def axis(size, flip):
        pos = torch.arange(size, device=dev).expand(n, size)
        if flip:
            pos = torch.where(coin().view(-1, 1), size - 1 - pos, pos)
        if pad:
            shift = torch.randint(-pad, pad + 1, (n, 1), generator=gen, device=dev)
            pos = (pos + shift).clamp_(0, size - 1)
        return pos

    cols, rows = axis(w, hflip), axis(h, vflip)
    index = (rows[:, :, None] * w + cols[:, None, :]).view(n, 1, h * w).expand(n, c, h * w)
    return x.reshape(n, c, h * w).gather(2, index).view(n, c, h, w)


#: Model-ready inputs up to this size are converted once and kept; larger ones (real
#: datasets at 224 px: 0.6 MB per image) are converted batch by batch when sliced.
KEEP_BYTES = 256 << 20


class RowsInput:
    """Model-ready tensors of ``images[idx]`` (``spec_input``), made when sliced.

    Slicing (``x[a:b]``) gives the same tensor ``spec_input(images[idx])[a:b]`` would,
    without converting or holding the other rows: ``images`` may be a memory map of a
    whole dataset, of which a job reads the rows it uses a batch at a time. Small inputs
    (under ``KEEP_BYTES`` as float) are converted once and kept, as before.
    """

    def __init__(self, images, idx, spec: dict, device, hub_cfg: dict | None = None):
        self.images, self.idx = images, np.asarray(idx)
        self.spec, self.device, self.hub_cfg = spec, torch.device(device), hub_cfg
        first = self._convert(self.idx[:1])
        self.row_shape = tuple(first.shape[1:])
        self.kept = None
        if len(self.idx) * math.prod(self.row_shape) * 4 <= KEEP_BYTES:
            self.kept = self._convert(self.idx)

    def _convert(self, rows) -> torch.Tensor:
        return spec_input(self.images[rows], self.spec, self.device, self.hub_cfg)

    def __len__(self) -> int:
        return len(self.idx)

    @property
    def shape(self) -> tuple:
        return (len(self.idx), *self.row_shape)

    def __getitem__(self, sl):
        if not isinstance(sl, slice):
            raise TypeError("RowsInput takes slices (x[a:b]); index the rows beforehand")
        return self.kept[sl] if self.kept is not None else self._convert(self.idx[sl])
