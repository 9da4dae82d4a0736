"""DiffAugment: differentiable augmentation of everything a discriminator sees (Zhao et al. 2020).

Real and fake images pass through the same random policy before the discriminator, in the generator step
too, so gradients flow back through the augmentation and the generator is never taught to produce the
augmentations themselves. With a few hundred training images (220 Monet paintings) this keeps the
discriminator from memorising the training set. Each image draws its own random parameters from the
global torch generator, so a resumed run replays them exactly.

The three transforms follow the authors' reference code (mit-han-lab/data-efficient-gans), for images in
[-1, 1].
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _rand(x: torch.Tensor) -> torch.Tensor:
    return torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device)


def color(x: torch.Tensor) -> torch.Tensor:
    """Random brightness (±0.5), saturation (×0..2) and contrast (×0.5..1.5)."""
    x = x + (_rand(x) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand(x) * 2) + mean
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (_rand(x) + 0.5) + mean


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift by up to ``ratio`` of the size in each direction, filling with zeros (grey)."""
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    tx = torch.randint(-sh, sh + 1, (n, 1, 1), device=x.device)
    ty = torch.randint(-sw, sw + 1, (n, 1, 1), device=x.device)
    gb, gx, gy = torch.meshgrid(torch.arange(n, device=x.device), torch.arange(h, device=x.device),
                                torch.arange(w, device=x.device), indexing="ij")
    gx = torch.clamp(gx + tx + 1, 0, h + 1)
    gy = torch.clamp(gy + ty + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])
    return padded.permute(0, 2, 3, 1).contiguous()[gb, gx, gy].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero one random square of ``ratio`` times the size."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ox = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device)
    oy = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device)
    gb, gx, gy = torch.meshgrid(torch.arange(n, device=x.device), torch.arange(ch, device=x.device),
                                torch.arange(cw, device=x.device), indexing="ij")
    gx = torch.clamp(gx + ox - ch // 2, 0, h - 1)
    gy = torch.clamp(gy + oy - cw // 2, 0, w - 1)
    mask = torch.ones(n, h, w, dtype=x.dtype, device=x.device)
    mask[gb, gx, gy] = 0
    return x * mask.unsqueeze(1)


TRANSFORMS = {"color": color, "translation": translation, "cutout": cutout}


def parse_policy(policy: str) -> tuple[str, ...]:
    """``"color,translation,cutout"`` -> the names, checked; ``""`` -> no augmentation."""
    names = tuple(p.strip() for p in policy.split(",") if p.strip())
    unknown = [p for p in names if p not in TRANSFORMS]
    if unknown:
        raise ValueError(f"unknown DiffAugment transform(s) {', '.join(unknown)}; choose from {', '.join(TRANSFORMS)}")
    return names


def diff_augment(x: torch.Tensor, policy: str) -> torch.Tensor:
    """Apply the policy's transforms in order; the identity for an empty policy."""
    for name in parse_policy(policy):
        x = TRANSFORMS[name](x)
    return x
