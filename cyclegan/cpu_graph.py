"""The CPU inference graph of a generator: Winograd convolutions on wide layers, channel norms in place of
instance norms (``fast_generator``); its ONNX export is ``cyclegan.onnx_export``'s.

``Translator`` (``cyclegan.translate``) runs generators through ONNX Runtime on the CPU: it exports each graph
in memory on first use (``onnx_export.onnx_model``) and writes nothing to disk. ``python -m cyclegan.export --onnx
MODEL_DIR`` writes the same graph next to a model folder's weights, for people who deploy with another ONNX
runtime.

The graph is the generator itself, except that stride-1 3x3 convolutions with at least ``min_channels``
input channels are computed with Winograd's minimal filtering F(4x4, 3x3) (Lavin & Gray 2016) as batched
matrix products: 4x fewer multiplications, exact up to float rounding. Narrow layers stay plain, where
ONNX Runtime's own convolution is the faster one; docs/PERFORMANCE.md has the measurements behind the
default, ``WINOGRAD_MIN_CHANNELS``.
"""
from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


# The default for ``min_channels``: between the layer width where Winograd lost (64, the shipped models) and
# where it won (256, the reference's); docs/PERFORMANCE.md.
WINOGRAD_MIN_CHANNELS = 128


# -- module surgery ----------------------------------------------------------------------------------------
def replace_modules(module: nn.Module, fn: Callable[[nn.Module], nn.Module | None]) -> nn.Module:
    """A copy of ``module`` with each descendant ``c`` for which ``fn(c)`` returns a module replaced by it.

    The copy is shallow where nothing changes: untouched layers, and their parameters, are shared.
    """
    new = fn(module)
    if new is not None:
        return new
    clone = copy.copy(module)
    clone._modules = {name: replace_modules(child, fn) if child is not None else None
                      for name, child in module._modules.items()}
    return clone


# -- Winograd F(m x m, 3 x 3) ------------------------------------------------------------------------------
# Transform matrices of Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (2016), with the
# interpolation points 0, +-1, +-2 (and infinity). Y = A^T [(G g G^T) * (B^T d B)] A on each tile.
_WINOGRAD = {
    2: dict(
        BT=[[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
        G=[[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
        AT=[[1, 1, 1, 0], [0, 1, -1, -1]]),
    4: dict(
        BT=[[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0],
            [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
        G=[[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6],
           [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
        AT=[[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]),
}


def _plain_3x3(c: nn.Module) -> bool:
    """Whether ``c`` is a convolution that ``WinogradConv3x3`` computes: 3x3, stride 1, unpadded, ungrouped."""
    return (isinstance(c, nn.Conv2d) and c.kernel_size == (3, 3) and c.stride == (1, 1) and c.padding == (0, 0)
            and c.groups == 1 and c.dilation == (1, 1))


class WinogradConv3x3(nn.Module):
    """A stride-1, unpadded 3x3 ``nn.Conv2d`` computed with Winograd F(m x m, 3 x 3); same output.

    Three steps, each one well-optimised op in PyTorch and in ONNX Runtime:

    1. input transform: a grouped convolution with stride m whose 36 fixed 6x6 kernels per channel are the
       rows of B^T (x) B^T, giving each (m+2)x(m+2) input tile in the Winograd domain;
    2. the (m+2)^2 matrix products (C_out x C_in) @ (C_in x tiles): the bulk of the work, 4x fewer
       multiplications than the direct convolution for m = 4;
    3. output transform A^T (x) A^T as a matrix product, then ``pixel_shuffle`` (ONNX ``DepthToSpace``) to
       put each tile's m x m outputs in place.

    Inputs of any size work: tiles that overhang the bottom or right edge read zeros and their extra outputs
    are cropped. The layout changes in between move whole rows of tiles, never single elements.
    """

    def __init__(self, conv: nn.Conv2d, m: int = 4):
        super().__init__()
        if not _plain_3x3(conv):
            raise ValueError("WinogradConv3x3 replaces only stride-1, unpadded, ungrouped 3x3 convolutions")
        mats = {k: torch.tensor(v, dtype=torch.float64) for k, v in _WINOGRAD[m].items()}
        a = m + 2
        self.m, self.a, self.in_channels, self.out_channels = m, a, conv.in_channels, conv.out_channels
        w = conv.weight.detach().double()
        U = torch.einsum("ik,ockl,jl->ijoc", mats["G"], w, mats["G"]).reshape(a * a, w.shape[0], w.shape[1])
        self.register_buffer("U", U.float().contiguous())  # (a*a, C_out, C_in): the transformed filters
        KB = torch.kron(mats["BT"], mats["BT"]).float().reshape(a * a, 1, a, a)
        self.register_buffer("KB", KB.repeat(conv.in_channels, 1, 1, 1))  # (C_in*a*a, 1, a, a)
        self.register_buffer("KA", torch.kron(mats["AT"], mats["AT"]).float())  # (m*m, a*a)
        bias = conv.bias.detach() if conv.bias is not None else torch.zeros(conv.out_channels)
        self.register_buffer("bias", bias.float().view(1, -1, 1, 1).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m, a, ci, co = self.m, self.a, self.in_channels, self.out_channels
        n, _, hp, wp = x.shape
        h, w = hp - 2, wp - 2
        th, tw = (h + m - 1) // m, (w + m - 1) // m
        x = F.pad(x, (0, tw * m + 2 - wp, 0, th * m + 2 - hp))
        V = F.conv2d(x, self.KB, stride=m, groups=ci)  # (n, C_in*a*a, th, tw): every tile, transformed
        V = V.reshape(n, ci, a * a, th * tw).permute(2, 1, 0, 3).reshape(a * a, ci, n * th * tw)
        M = torch.matmul(self.U, V)  # (a*a, C_out, tiles)
        Y = torch.matmul(self.KA, M.transpose(0, 1))  # (C_out, m*m, tiles)
        Y = Y.reshape(co, m * m, n, th * tw).permute(2, 0, 1, 3).reshape(n, co * m * m, th, tw)
        return F.pixel_shuffle(Y, m)[:, :, :h, :w] + self.bias


class ChannelNorm(nn.Module):
    """Affine-free instance norm written as ``group_norm`` with one group per channel.

    Same output as ``nn.InstanceNorm2d(affine=False)``; faster in eager PyTorch on CPU, and it exports with a
    static channel count even when the input's shape is only known at run time (after a Winograd layer).
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.channels, self.eps = channels, eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(x, self.channels, eps=self.eps)


def fast_generator(generator: nn.Module, min_channels: int = WINOGRAD_MIN_CHANNELS, m: int = 4) -> nn.Module:
    """The inference graph: the generator with its stride-1 unpadded 3x3 convolutions of at least
    ``min_channels`` input channels swapped for ``WinogradConv3x3`` and then its instance norms for
    ``ChannelNorm``; the generator itself when no convolution is that wide.

    Use ``min_channels=0`` to put Winograd on every such convolution (tests force it on tiny generators)."""
    def wide(c: nn.Module) -> bool:
        return _plain_3x3(c) and c.in_channels >= min_channels
    if not any(wide(c) for c in generator.modules()):
        return generator

    def swap(c: nn.Module) -> nn.Module | None:
        if wide(c):
            return WinogradConv3x3(c, m)
        if isinstance(c, nn.InstanceNorm2d) and not c.affine and not c.track_running_stats:
            return ChannelNorm(c.num_features, c.eps)
        return None
    return replace_modules(generator, swap).eval()


# -- ONNX export ---------------------------------------------------------------------------------------------


