"""The discriminators a run can train, chosen by ``ModelConfig.discriminator``.

- ``patch``: the reference's 70x70 PatchGAN on pixels (``networks.Discriminator``).
- ``projected``: small trainable heads on fixed random projections of frozen EfficientNet-Lite0 features
  (Projected GAN; Sauer et al., NeurIPS 2021).
- ``both``: the two side by side, their losses summed (the ensemble of Vision-aided GAN; Kumari et al., CVPR 2022).

Every discriminator maps a batch of images in [-1, 1] to logits: one tensor, or a list of tensors for an
ensemble (``losses.gan_loss`` sums over the list).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .config import ModelConfig
from .features import CHANNELS, FeatureNetwork
from .networks import Discriminator

# Channels after the fixed cross-channel mixing, per tap (finest first): half of Projected GAN's 64..512, which
# keeps the four heads' cost well under the feature network's.
MIXED_CHANNELS = (32, 64, 128, 256)
HEAD_GRID = 4  # each head downsamples its tap to a 4x4 grid of logits, as Projected GAN's do


def _random_conv(generator: torch.Generator, c_in: int, c_out: int) -> torch.Tensor:
    """A 1x1 kernel with PyTorch's default (Kaiming-uniform) initialisation, drawn from ``generator``."""
    bound = 1 / math.sqrt(c_in)
    return (torch.rand(c_out, c_in, 1, 1, generator=generator) * 2 - 1) * bound


class ProjectedDiscriminator(nn.Module):
    """Trainable heads on frozen features: EfficientNet-Lite0 taps -> fixed random mixing -> one head per tap.

    The mixing is fixed at construction from ``seed``: cross-channel 1x1 projections of each tap (CCM), then
    cross-scale mixing from the coarsest tap down (CSM: a 1x1 projection of the coarser map, upsampled x2, added
    to the finer one). Its kernels are buffers, so they are saved in checkpoints but never trained.

    ``features`` is held outside the module tree on purpose: it may be shared by D_A and D_B, and its weights
    are in neither ``parameters()`` (so no optimiser sees them and ``requires_grad_`` cannot unfreeze them) nor
    ``state_dict()`` (so no checkpoint carries 4 M pretrained weights). ``.to()`` still moves it.
    """

    def __init__(self, features: FeatureNetwork, size: int, seed: int = 0):
        super().__init__()
        self._features = (features,)  # a tuple, so that nn.Module does not register it
        g = torch.Generator().manual_seed(seed)
        for i, (c_in, c_out) in enumerate(zip(CHANNELS, MIXED_CHANNELS)):
            self.register_buffer(f"ccm_{i}", _random_conv(g, c_in, c_out))
        for i in range(len(CHANNELS) - 1):  # coarser tap i+1 -> finer tap i
            self.register_buffer(f"csm_{i}", _random_conv(g, MIXED_CHANNELS[i + 1], MIXED_CHANNELS[i]))
        size = max(size, features.min_size)  # FeatureNetwork resizes smaller inputs up to its min_size
        self.heads = nn.ModuleList(self._head(c, size // 2 ** (i + 2)) for i, c in enumerate(MIXED_CHANNELS))

    @staticmethod
    def _head(channels: int, resolution: int) -> nn.Sequential:
        """Stride-2 4x4 convolutions down to a 4x4 grid, then a 1x1 convolution to one logit per cell."""
        layers: list[nn.Module] = []
        while resolution > HEAD_GRID:
            c_out = min(2 * channels, 256)
            layers += [spectral_norm(nn.Conv2d(channels, c_out, 4, stride=2, padding=1)), nn.LeakyReLU(0.2, True)]
            channels, resolution = c_out, resolution // 2
        return nn.Sequential(*layers, spectral_norm(nn.Conv2d(channels, 1, 1)))

    @property
    def features(self) -> FeatureNetwork:
        return self._features[0]

    def _apply(self, fn, recurse=True):  # noqa: ANN001 - nn.Module's signature
        self.features._apply(fn, recurse)
        return super()._apply(fn, recurse)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        taps = [F.conv2d(f, getattr(self, f"ccm_{i}")) for i, f in enumerate(self.features(x))]
        for i in reversed(range(len(taps) - 1)):
            coarse = F.conv2d(taps[i + 1], getattr(self, f"csm_{i}"))
            taps[i] = taps[i] + F.interpolate(coarse, size=taps[i].shape[-2:], mode="bilinear", align_corners=False)
        # One HEAD_GRID x HEAD_GRID map per tap, stacked as channels: the loss averages over taps and cells.
        return torch.cat([F.adaptive_avg_pool2d(head(t), HEAD_GRID) for head, t in zip(self.heads, taps)], dim=1)

    def frozen_parameters(self) -> int:
        """Weights that never train: the feature network's and the mixing kernels."""
        return sum(p.numel() for p in self.features.parameters()) + sum(b.numel() for b in self.buffers()
                                                                          if b.dtype.is_floating_point)


class Ensemble(nn.Module):
    """The PatchGAN and the projected discriminator side by side; their logits are returned as a list."""

    def __init__(self, patch: Discriminator, projected: ProjectedDiscriminator):
        super().__init__()
        self.patch, self.projected = patch, projected

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.patch(x), self.projected(x)]

    def frozen_parameters(self) -> int:
        return self.projected.frozen_parameters()


def build_discriminators(cfg: ModelConfig, size: int, seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """(D_A, D_B) of ``cfg.discriminator``; the projected ones share one frozen feature network.

    ``size`` is the training crop size (the heads downsample each tap to a 4x4 grid); ``seed`` fixes the
    random mixing, the same for both domains. Raises ``features.MissingWeightsError`` without timm and the
    weights package."""
    features = FeatureNetwork(min_size=cfg.projected_size) if cfg.discriminator in ("projected", "both") else None

    def build() -> nn.Module:
        patch = Discriminator(ndf=cfg.ndf, norm=cfg.norm)
        if features is None:
            return patch
        projected = ProjectedDiscriminator(features, size, seed)
        return projected if cfg.discriminator == "projected" else Ensemble(patch, projected)

    return build(), build()


def frozen_parameters(D: nn.Module) -> int:
    """Parameters of ``D`` that never train (0 for the PatchGAN)."""
    return D.frozen_parameters() if hasattr(D, "frozen_parameters") else 0
