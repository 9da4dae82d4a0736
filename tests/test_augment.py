import pytest
import torch

from cyclegan.augment import TRANSFORMS, diff_augment, parse_policy

POLICY = "color,translation,cutout"


def test_empty_policy_is_the_identity():
    x = torch.randn(2, 3, 16, 16)
    assert diff_augment(x, "") is x


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_each_transform_keeps_the_shape_and_changes_the_image(name):
    torch.manual_seed(0)
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    y = diff_augment(x, name)
    assert y.shape == x.shape and not torch.equal(x, y)


def test_differentiable():
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    diff_augment(x, POLICY).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0 and torch.isfinite(x.grad).all()


def test_cutout_zeroes_a_quarter_of_the_image():
    torch.manual_seed(1)
    y = diff_augment(torch.ones(8, 3, 32, 32), "cutout")  # a 16x16 square, clipped at the border
    zero_fraction = (y == 0).float().mean(dim=(1, 2, 3))
    assert ((zero_fraction > 0) & (zero_fraction <= 0.25)).all()


def test_seeded_and_replayable():
    x = torch.randn(2, 3, 16, 16)
    torch.manual_seed(5)
    a = diff_augment(x, POLICY)
    torch.manual_seed(5)
    assert torch.equal(a, diff_augment(x, POLICY))


def test_unknown_transform_is_refused():
    assert parse_policy(" color , cutout ") == ("color", "cutout")
    with pytest.raises(ValueError, match="zoom"):
        parse_policy("color,zoom")


def test_train_step_augments_real_and_fake_with_one_policy(monkeypatch):
    """Every image a discriminator sees goes through the same policy, in the G step and the D step."""
    from cyclegan import training
    from cyclegan.config import ModelConfig, TrainConfig
    from cyclegan.pool import ImagePool
    seen = []

    def spy(x, policy):
        seen.append((policy, x.requires_grad))
        return diff_augment(x, policy)

    monkeypatch.setattr(training, "diff_augment", spy)
    nets = training.CycleGAN(ModelConfig(ngf=8, ndf=8, n_blocks=1))
    opt = lambda *ms: torch.optim.Adam([p for m in ms for p in m.parameters()])  # noqa: E731
    real_A, real_B = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    training.train_step(nets.G_AB, nets.G_BA, nets.D_A, nets.D_B, opt(nets.G_AB, nets.G_BA),
                        opt(nets.D_A, nets.D_B), ImagePool(0), ImagePool(0), real_A, real_B,
                        TrainConfig(diffaugment=POLICY))
    # G step: fake_B, fake_A (carrying gradients to the generators); D step: real and pooled fake, per D.
    assert [p for p, _ in seen] == [POLICY] * 6
    assert [g for _, g in seen[:2]] == [True, True]
