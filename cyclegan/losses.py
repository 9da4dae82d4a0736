"""CycleGAN's losses as pure functions of tensors."""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

GanMode = Literal["lsgan", "vanilla"]


def gan_loss(logits: torch.Tensor, target_is_real: bool, mode: GanMode = "lsgan") -> torch.Tensor:
    """Adversarial loss of a discriminator's patch map against an all-real or all-fake target.

    LSGAN (least squares, the paper's choice) or vanilla (binary cross-entropy on logits).
    """
    logits = logits.float()  # losses stay in fp32 under bf16 autocast
    target = torch.full_like(logits, 1.0 if target_is_real else 0.0)
    if mode == "lsgan":
        return F.mse_loss(logits, target)
    if mode == "vanilla":
        return F.binary_cross_entropy_with_logits(logits, target)
    raise ValueError(f"gan mode must be 'lsgan' or 'vanilla', got {mode!r}")


def cycle_loss(reconstructed: torch.Tensor, real: torch.Tensor, lambda_cycle: float) -> torch.Tensor:
    """lambda_cycle * ||F(G(x)) - x||_1."""
    return lambda_cycle * F.l1_loss(reconstructed.float(), real.float())


def identity_loss(same: torch.Tensor, real: torch.Tensor, lambda_cycle: float, lambda_identity: float) -> torch.Tensor:
    """lambda_cycle * lambda_identity * ||G(y) - y||_1: keeps colours when the input is already in the target domain."""
    return lambda_cycle * lambda_identity * F.l1_loss(same.float(), real.float())


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, mode: GanMode = "lsgan") -> torch.Tensor:
    """Half the sum of the real and fake terms, which slows D relative to G as in the paper."""
    return 0.5 * (gan_loss(real_logits, True, mode) + gan_loss(fake_logits, False, mode))
