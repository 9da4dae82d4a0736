import math

import pytest
import torch

from cyclegan.losses import cycle_loss, discriminator_loss, gan_loss, identity_loss


def test_lsgan_by_hand():
    logits = torch.tensor([[0.5, -1.0], [2.0, 0.0]])
    # mean((x - 1)^2) = (0.25 + 4 + 1 + 1) / 4
    assert gan_loss(logits, True).item() == pytest.approx(6.25 / 4)
    # mean(x^2) = (0.25 + 1 + 4 + 0) / 4
    assert gan_loss(logits, False).item() == pytest.approx(5.25 / 4)


def test_vanilla_by_hand():
    logits = torch.tensor([0.0, 2.0])
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    real = -(math.log(sig(0.0)) + math.log(sig(2.0))) / 2
    fake = -(math.log(1 - sig(0.0)) + math.log(1 - sig(2.0))) / 2
    assert gan_loss(logits, True, "vanilla").item() == pytest.approx(real)
    assert gan_loss(logits, False, "vanilla").item() == pytest.approx(fake)
    with pytest.raises(ValueError, match="gan mode"):
        gan_loss(logits, True, "wgan")


def test_cycle_and_identity_by_hand():
    a, b = torch.zeros(1, 3, 2, 2), torch.full((1, 3, 2, 2), 0.5)
    assert cycle_loss(b, a, 10.0).item() == pytest.approx(5.0)           # 10 * 0.5
    assert identity_loss(b, a, 10.0, 0.5).item() == pytest.approx(2.5)   # 10 * 0.5 * 0.5
    assert identity_loss(b, a, 10.0, 0.0).item() == 0.0


def test_discriminator_loss_halves_the_sum():
    real, fake = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    # real term mean((x-1)^2) = 0.5, fake term mean(x^2) = 0.5
    assert discriminator_loss(real, fake).item() == pytest.approx(0.5)


def test_losses_are_fp32_under_bf16_inputs():
    assert gan_loss(torch.ones(4, dtype=torch.bfloat16), True).dtype == torch.float32
