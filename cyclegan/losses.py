"""CycleGAN's losses as pure functions of tensors.

A discriminator's output is a tensor of logits, or a list of them for an ensemble of discriminators
(``--discriminator both``): adversarial losses are then summed over the list.
"""
from __future__ import annotations

from typing import Literal, Union

import torch
import torch.nn.functional as F

GanMode = Literal["lsgan", "vanilla", "hinge"]
Logits = Union[torch.Tensor, list[torch.Tensor]]


def gan_loss(logits: Logits, target_is_real: bool, mode: GanMode = "lsgan") -> torch.Tensor:
    """Adversarial loss of a discriminator's logits against an all-real or all-fake target.

    LSGAN (least squares, the paper's choice), vanilla (binary cross-entropy on logits), or hinge (Projected
    GAN's; here the generator's side, -mean(logits) for real: the discriminator's side is ``discriminator_loss``).
    """
    if isinstance(logits, list):
        return sum(gan_loss(x, target_is_real, mode) for x in logits)
    logits = logits.float()  # losses stay in fp32 under bf16 autocast
    if mode == "hinge":
        return -logits.mean() if target_is_real else logits.mean()
    target = torch.full_like(logits, 1.0 if target_is_real else 0.0)
    if mode == "lsgan":
        return F.mse_loss(logits, target)
    if mode == "vanilla":
        return F.binary_cross_entropy_with_logits(logits, target)
    raise ValueError(f"gan mode must be 'lsgan', 'vanilla' or 'hinge', got {mode!r}")


def cycle_loss(reconstructed: torch.Tensor, real: torch.Tensor, lambda_cycle: float) -> torch.Tensor:
    """lambda_cycle * ||F(G(x)) - x||_1."""
    return lambda_cycle * F.l1_loss(reconstructed.float(), real.float())


def identity_loss(same: torch.Tensor, real: torch.Tensor, lambda_cycle: float, lambda_identity: float) -> torch.Tensor:
    """lambda_cycle * lambda_identity * ||G(y) - y||_1: keeps colours when the input is already in the target domain."""
    return lambda_cycle * lambda_identity * F.l1_loss(same.float(), real.float())


def discriminator_loss(real_logits: Logits, fake_logits: Logits, mode: GanMode = "lsgan") -> torch.Tensor:
    """Half the sum of the real and fake terms, which slows D relative to G as in the paper."""
    if isinstance(real_logits, list):
        return sum(discriminator_loss(r, f, mode) for r, f in zip(real_logits, fake_logits, strict=True))
    if mode == "hinge":
        return 0.5 * (F.relu(1 - real_logits.float()).mean() + F.relu(1 + fake_logits.float()).mean())
    return 0.5 * (gan_loss(real_logits, True, mode) + gan_loss(fake_logits, False, mode))
