"""The CycleGAN networks: the ResNet generator and the 70x70 PatchGAN discriminator.

The default layer order follows the reference implementation (junyanz/pytorch-CycleGAN-and-pix2pix,
models/networks.py) so that our ``state_dict`` keys match its ``ResnetGenerator`` and
``NLayerDiscriminator`` and its published ``.pth`` weights load directly.

Two generator options trade that compatibility for quality per FLOP (docs/QUALITY.md):
``upsample="resize"`` (nearest x2 then a 3x3 convolution, which avoids the checkerboard artefacts of
transposed convolutions; Odena et al. 2016) and ``block="mobile"`` (depthwise-separable residual blocks,
as in GAN Compression; Li et al. 2020).
"""
from __future__ import annotations

from typing import Literal

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from .project import DOCS_URL, PAPER_URL, REPOSITORY_URL, TAGS

Norm = Literal["instance", "batch"]
Upsample = Literal["transpose", "resize"]
Block = Literal["resnet", "mobile"]
# No license here: weights follow their training data's terms, which cyclegan.hub writes into each card.
# Code and docs links only where the project has an address (pyproject.toml's [project.urls]).
HUB_KWARGS = dict(
    library_name="cyclegan",
    tags=TAGS,
    paper_url=PAPER_URL,
    **{k: v for k, v in (("repo_url", REPOSITORY_URL), ("docs_url", DOCS_URL)) if v},
)


def norm_layer(norm: Norm, channels: int) -> nn.Module:
    # Instance norm without affine parameters or running stats, as in the reference.
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if norm == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    raise ValueError(f"norm must be 'instance' or 'batch', got {norm!r}")


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """N(0, 0.02) initialisation of the paper (and of the reference's ``init_type='normal'``)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


class ResnetBlock(nn.Module):
    """Two reflection-padded 3x3 convolutions with a skip connection."""

    def __init__(self, dim: int, norm: Norm = "instance", dropout: bool = False):
        super().__init__()
        bias = norm == "instance"  # batch norm has its own shift
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(norm, dim), nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(norm, dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class MobileResnetBlock(nn.Module):
    """A residual block of two depthwise-separable 3x3 convolutions (depthwise 3x3, then pointwise 1x1).

    At the same width it costs about a ninth of a ResnetBlock's multiply-adds, so a wider generator fits the
    same budget (GAN Compression's "mobile" ResNet generator)."""

    def __init__(self, dim: int, norm: Norm = "instance", dropout: bool = False):
        super().__init__()
        bias = norm == "instance"

        def separable() -> list[nn.Module]:
            return [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, groups=dim, bias=bias), norm_layer(norm, dim),
                    nn.Conv2d(dim, dim, 1, bias=bias), norm_layer(norm, dim)]

        layers = [*separable(), nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        self.conv_block = nn.Sequential(*layers, *separable())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


def upsample_layers(c_in: int, c_out: int, upsample: Upsample, bias: bool) -> list[nn.Module]:
    if upsample == "transpose":  # the reference's layer
        return [nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1, bias=bias)]
    if upsample == "resize":  # every output pixel gets the same kernel overlap, so no checkerboard
        return [nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_out, 3, bias=bias)]
    raise ValueError(f"upsample must be 'transpose' or 'resize', got {upsample!r}")


class Generator(nn.Module, PyTorchModelHubMixin, **HUB_KWARGS):
    """ResNet generator: c7s1-ngf, d2ngf, d4ngf, n_blocks x R4ngf, u2ngf, ungf, c7s1-3, tanh.

    With the defaults (``upsample="transpose"``, ``block="resnet"``) it is the reference's ResnetGenerator,
    state_dict included."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, n_blocks: int = 9,
                 norm: Norm = "instance", dropout: bool = False, upsample: Upsample = "transpose",
                 block: Block = "resnet"):
        super().__init__()
        if block not in ("resnet", "mobile"):
            raise ValueError(f"block must be 'resnet' or 'mobile', got {block!r}")
        Block_ = ResnetBlock if block == "resnet" else MobileResnetBlock
        bias = norm == "instance"
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=bias), norm_layer(norm, ngf), nn.ReLU(True)]
        for mult in (1, 2):  # two stride-2 downsamplings
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=bias),
                       norm_layer(norm, ngf * mult * 2), nn.ReLU(True)]
        layers += [Block_(ngf * 4, norm, dropout) for _ in range(n_blocks)]
        for mult in (4, 2):  # two x2 upsamplings
            layers += [*upsample_layers(ngf * mult, ngf * mult // 2, upsample, bias),
                       norm_layer(norm, ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class Discriminator(nn.Module, PyTorchModelHubMixin, **HUB_KWARGS):
    """70x70 PatchGAN: C64-C128-C256-C512, then a 1-channel map of real/fake logits."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3, norm: Norm = "instance"):
        super().__init__()
        bias = norm == "instance"
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1  # the last one keeps the resolution (70x70 receptive field)
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=bias),
                       norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def widen(G: Generator, ngf: int, seed: int = 0) -> Generator:
    """A copy of ``G`` with ``ngf`` filters (at least G's) that computes the same function (Net2WiderNet, Chen et
    al. 2016), so that a trained generator can start a wider run.

    Each new channel copies an existing one (its incoming weights and bias); a channel's outgoing weights are
    split among its copies in random shares that sum to one, so the next layer receives what it did, and the copies
    get different gradients and can grow apart. Instance norm has no weights and treats a copy as the original."""
    old = G.model
    old_ngf = old[1].out_channels
    kwargs = {**_layout(G), "ngf": ngf}
    if kwargs["block"] != "resnet" or kwargs["norm"] != "instance":
        raise ValueError("widen: only instance-norm generators with ResNet blocks can be widened")
    if ngf < old_ngf:
        raise ValueError(f"widen: ngf {ngf} is narrower than the generator's {old_ngf}")
    wide = Generator(in_channels=old[1].in_channels, out_channels=old[-2].out_channels, **kwargs)
    rng = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for src, dst in zip(_convs(old), _convs(wide)):
            transposed = isinstance(src, nn.ConvTranspose2d)
            w = _out_in(src)
            # Channel j of a widened layer copies channel j mod the old width (the image channels stay as they are).
            out_map = torch.arange(dst.out_channels) % src.out_channels
            in_map = torch.arange(dst.in_channels) % src.in_channels
            shares = 0.5 + torch.rand(len(out_map), len(in_map), generator=rng)
            total = torch.zeros(len(out_map), src.in_channels).index_add_(1, in_map, shares)
            new = w[out_map][:, in_map] * (shares / total[:, in_map])[:, :, None, None].to(w.dtype)
            dst.weight.copy_(new.transpose(0, 1) if transposed else new)
            if src.bias is not None:
                dst.bias.copy_(src.bias[out_map])
    return wide


def _convs(model: nn.Module) -> list[nn.Module]:
    """The convolutions of ``model`` in the order they run (``widen`` and ``narrow`` pair them layer by layer)."""
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


def _out_in(conv: nn.Module) -> torch.Tensor:
    """A convolution's weight as (out, in, k, k), a transposed one's included."""
    return conv.weight.transpose(0, 1) if isinstance(conv, nn.ConvTranspose2d) else conv.weight


def _layout(G: Generator) -> dict:
    """The settings ``Generator`` was built with, read from its layers (for ``widen`` and ``narrow``)."""
    m = G.model
    return dict(ngf=m[1].out_channels, n_blocks=sum(isinstance(b, (ResnetBlock, MobileResnetBlock)) for b in m),
                upsample="resize" if any(isinstance(b, nn.Upsample) for b in m) else "transpose",
                block="mobile" if any(isinstance(b, MobileResnetBlock) for b in m) else "resnet",
                norm="batch" if any(isinstance(b, nn.BatchNorm2d) for b in m.modules()) else "instance",
                dropout=any(isinstance(b, nn.Dropout) for b in m.modules()))


def narrow(G: Generator, ngf: int) -> Generator:
    """A copy of ``G`` with ``ngf`` filters (at most G's) that keeps, in every layer, the channels the layers after
    it weigh most (the L1 norm of their weights on the channel), so that a cheaper generator starts near what ``G``
    computes instead of from random weights (``cyclegan.distill``). Channels whose weights downstream are all zero
    go first: dropping them leaves the function as it was.

    The residual blocks' skip path is one set of channels, kept or dropped together in every block. Instance norm
    normalises each channel on its own, so the kept ones see exactly what they saw in ``G``."""
    kwargs = _layout(G)
    if kwargs["block"] != "resnet" or kwargs["norm"] != "instance":
        raise ValueError("narrow: only instance-norm generators with ResNet blocks can be narrowed")
    if not 1 <= ngf <= kwargs["ngf"]:
        raise ValueError(f"narrow: ngf {ngf} is not between 1 and the generator's {kwargs['ngf']}")
    old_ngf, n_blocks = kwargs["ngf"], kwargs["n_blocks"]
    small = Generator(in_channels=G.model[1].in_channels, out_channels=G.model[-2].out_channels,
                      **{**kwargs, "ngf": ngf})
    convs = _convs(G.model)
    # Each conv's (input group, output group): the first, the two downsamplings, two a block, two upsamplings, the
    # last; "skip" is the blocks' shared path, "image" the picture's channels (never dropped).
    groups = [("image", "first"), ("first", "down1"), ("down1", "skip")]
    groups += [g for i in range(n_blocks) for g in (("skip", f"block{i}"), (f"block{i}", "skip"))]
    groups += [("skip", "up1"), ("up1", "up2"), ("up2", "image")]
    width = {"first": old_ngf, "down1": 2 * old_ngf, "skip": 4 * old_ngf, "up1": 2 * old_ngf, "up2": old_ngf,
             **{f"block{i}": 4 * old_ngf for i in range(n_blocks)}}
    weight = {g: torch.zeros(n) for g, n in width.items()}
    for conv, (into, _) in zip(convs, groups):
        if into != "image":
            weight[into] += _out_in(conv).detach().abs().sum(dim=(0, 2, 3)).float()
    keep = {g: torch.sort(torch.topk(w, w.numel() * ngf // old_ngf).indices).values for g, w in weight.items()}
    keep["image"] = None
    with torch.no_grad():
        for src, dst, (into, out) in zip(convs, _convs(small.model), groups):
            w = _out_in(src)
            w = w if keep[out] is None else w[keep[out]]
            w = w if keep[into] is None else w[:, keep[into]]
            dst.weight.copy_(w.transpose(0, 1) if isinstance(src, nn.ConvTranspose2d) else w)
            if src.bias is not None:
                dst.bias.copy_(src.bias if keep[out] is None else src.bias[keep[out]])
    return small


def complexity(module: nn.Module, size: int, in_channels: int = 3) -> tuple[int, int]:
    """(multiply-adds, parameters) of one forward pass on a 1 x C x size x size input.

    Counted by ``torch.utils.flop_counter.FlopCounterMode`` (which counts 2 FLOPs per multiply-add in
    convolutions and matrix products; norms and activations are not counted)."""
    from torch.utils.flop_counter import FlopCounterMode
    param = next(module.parameters())
    x = torch.zeros(1, in_channels, size, size, device=param.device, dtype=param.dtype)
    counter, training = FlopCounterMode(display=False), module.training
    with counter, torch.no_grad():
        module.eval()  # so that batch-norm statistics stay untouched
        module(x)
    module.train(training)
    return counter.get_total_flops() // 2, sum(p.numel() for p in module.parameters())
