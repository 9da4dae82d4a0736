"""Tests for cyclegan.metrics: L1, PSNR and SSIM, by hand and against scikit-image."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from cyclegan.images import to_tensor
from cyclegan.metrics import l1, psnr, ssim


def test_l1_psnr_hand_computed():
    x = torch.zeros(3, 8, 8, dtype=torch.float64)
    assert l1(x, x + 0.25) == pytest.approx(0.25)
    assert psnr(x, x + 0.1) == pytest.approx(20.0)  # MSE 0.01 -> 10 log10(1/0.01)
    # batches average per image: MSE 0.01 and 1e-4 -> 20 and 40 dB
    batch_y = torch.stack([x + 0.1, x + 0.01])
    assert psnr(torch.stack([x, x]), batch_y) == pytest.approx(30.0)
    assert psnr(x, x) == pytest.approx(100.0)  # capped, not inf
    assert psnr(x * 255, x * 255 + 25.5, data_range=255) == pytest.approx(20.0)


def test_ssim_hand_computed():
    x = torch.rand(3, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert ssim(x, x) == pytest.approx(1.0)
    assert ssim(x, 1 - x) < 0  # anti-correlated structure
    # constant images: variances vanish, SSIM = (2ab + c1) / (a^2 + b^2 + c1)
    a, b, c1 = 0.2, 0.6, 0.01 ** 2
    assert ssim(torch.full((3, 12, 12), a), torch.full((3, 12, 12), b)) == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1))
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(torch.zeros(3, 8, 8), torch.zeros(3, 8, 8))


def test_ssim_matches_skimage():
    skm = pytest.importorskip("skimage.metrics", reason="scikit-image not installed; reference comparison skipped")
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 24, 20, dtype=torch.float64, generator=g)
    y = (0.7 * x + 0.3 * torch.rand(3, 24, 20, dtype=torch.float64, generator=g)).clamp(0, 1)
    ref = skm.structural_similarity(x.permute(1, 2, 0).numpy(), y.permute(1, 2, 0).numpy(), channel_axis=-1,
                                    data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert ssim(x, y) == pytest.approx(ref, abs=1e-9)
    assert psnr(x, y) == pytest.approx(skm.peak_signal_noise_ratio(y.numpy(), x.numpy(), data_range=1.0), abs=1e-9)


def test_psnr_of_images_in_model_range_is_the_8_bit_psnr():
    # The app scores reconstructions with psnr on to_tensor's [-1, 1] values: data_range 2 is 255 levels.
    a, b = Image.new("RGB", (4, 4), (100, 100, 100)), Image.new("RGB", (4, 4), (110, 100, 100))
    assert psnr(to_tensor(a), to_tensor(b), data_range=2.0) == pytest.approx(10 * np.log10(255**2 / (100 / 3)))
    assert psnr(to_tensor(a), to_tensor(a), data_range=2.0) == pytest.approx(100.0)
