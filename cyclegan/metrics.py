"""Paired image metrics: L1, PSNR and SSIM of images against their targets.

On float tensors of shape (3,H,W) or (N,3,H,W), values in [0, data_range]; a batch is averaged per image.
``cyclegan.evaluate`` scores test sets with them, and the app scores its cycle reconstructions with ``psnr``.
"""
from __future__ import annotations

import torch


def _batch(x: torch.Tensor) -> torch.Tensor:
    return x.unsqueeze(0) if x.ndim == 3 else x


def l1(x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean absolute difference, on the [0,1] intensity scale."""
    return (x.double() - y.double()).abs().mean().item()


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> float:
    """Mean over images of 10 log10(range^2 / MSE). MSE is floored at 1e-10 (range 1), so identical
    images give 100 dB instead of inf, which would swallow the mean and is not valid JSON."""
    x, y = _batch(x).double(), _batch(y).double()
    mse = ((x - y) ** 2).flatten(1).mean(1).clamp_min(1e-10 * data_range ** 2)
    return (10 * torch.log10(data_range ** 2 / mse)).mean().item()


def _gaussian_window(size: int, sigma: float) -> torch.Tensor:
    g = torch.exp(-((torch.arange(size, dtype=torch.float64) - (size - 1) / 2) ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, win_size: int = 11, sigma: float = 1.5) -> float:
    """SSIM of Wang et al. 2004: 11x11 gaussian window (sigma 1.5), K1=0.01, K2=0.03, population
    covariances, averaged over the 'valid' region (no padding), channels and images. Equals
    skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1, channel_axis=-1)."""
    x, y = _batch(x).double(), _batch(y).double()
    if min(x.shape[-2:]) < win_size:
        raise ValueError(f"ssim needs images at least {win_size}x{win_size}, got {tuple(x.shape[-2:])}")
    g = _gaussian_window(win_size, sigma).tolist()
    # separable 'valid' gaussian blur as shifted sums: float64 conv2d on CPU is oddly slow for small images
    blur_w = lambda t: sum(gk * t[..., k:t.shape[-1] - win_size + 1 + k] for k, gk in enumerate(g))
    blur_h = lambda t: sum(gk * t[..., k:t.shape[-2] - win_size + 1 + k, :] for k, gk in enumerate(g))
    mx, my, xx, yy, xy = blur_h(blur_w(torch.stack([x, y, x * x, y * y, x * y])))  # all five in one pass
    vx, vy, cxy = xx - mx ** 2, yy - my ** 2, xy - mx * my
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1).mean().item()


def frame_change(before: torch.Tensor, after: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """Mean absolute change from one video frame to the next (HxWx3 or 3xHxW, any value scale), over the pixels
    where the HxW boolean ``mask`` is true (all when None): the flicker of a translated clip where its input
    stood still."""
    change = (after.double() - before.double()).abs()
    change = change.mean(-1) if change.shape[-1] == 3 else change.mean(0)
    if mask is not None:
        if not mask.any():
            return 0.0
        change = change[mask]
    return change.mean().item()
