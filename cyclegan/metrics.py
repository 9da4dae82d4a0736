"""The metrics: paired ones of images against their targets (L1, PSNR, SSIM, a frame's change), and distances
between two sets of features (FID, KID, KID's bootstrap interval and the reading of a ratio's interval).

Paired metrics take float tensors of shape (3,H,W) or (N,3,H,W), values in [0, data_range]; a batch is averaged
per image. Distances take (N, D) feature arrays (``cyclegan.inception``). ``cyclegan.evaluate`` scores test sets
with them, and the app scores its cycle reconstructions with ``psnr``.
"""
from __future__ import annotations

import math

import numpy as np
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


# -- distances between two sets of features (N x D arrays): FID, KID and KID's bootstrap interval ------------------
def fid_from_features(f1: np.ndarray, f2: np.ndarray) -> float:
    """Frechet distance between gaussians fitted to two feature sets:
    |mu1-mu2|^2 + tr(S1) + tr(S2) - 2 tr sqrtm(S1 S2)."""
    f1, f2 = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
    n1, n2, d = len(f1), len(f2), f1.shape[1]
    if n1 < 2 or n2 < 2:
        raise ValueError("FID needs at least 2 samples per set")
    a, b = f1 - f1.mean(0), f2 - f2.mean(0)  # centred; S1 = a'a/(n1-1), S2 = b'b/(n2-1)
    if min(n1, n2) <= d:
        # the nonzero eigenvalues of S1 S2 are the squared singular values of a b' / sqrt((n1-1)(n2-1)),
        # so the trace term is a nuclear norm of an n1 x n2 matrix: exact, cheap for test-set sizes, and
        # free of the complex-part / singular-matrix trouble of scipy.linalg.sqrtm when n < d
        tr_covmean = np.linalg.svd(a @ b.T, compute_uv=False).sum() / math.sqrt((n1 - 1) * (n2 - 1))
    else:
        # tr sqrtm(S1 S2) = tr sqrtm(R S2 R) with R = sqrtm(S1); R S2 R is symmetric PSD, so eigh is stable
        w, v = np.linalg.eigh(a.T @ a / (n1 - 1))
        r = (v * np.sqrt(w.clip(0))) @ v.T
        tr_covmean = np.sqrt(np.linalg.eigvalsh(r @ (b.T @ b / (n2 - 1)) @ r).clip(0)).sum()
    mean_term = ((f1.mean(0) - f2.mean(0)) ** 2).sum()
    return float(mean_term + (a * a).sum() / (n1 - 1) + (b * b).sum() / (n2 - 1) - 2 * tr_covmean)


KID_FULL_KERNEL_MAX = 4096  # up to this many samples in all, kid_from_features builds one (<= 128 MB) kernel matrix


def kid_from_features(f1: np.ndarray, f2: np.ndarray, subsets: int = 100, subset_size: int = 1000,
                      seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance: unbiased MMD^2 with the polynomial kernel k(x,y) = (x.y/d + 1)^3,
    averaged over `subsets` random subsets of min(subset_size, n1, n2) samples drawn without
    replacement from each set (torch-fidelity's procedure). Returns (mean, std) over subsets.
    If the subset size equals both set sizes every subset is the whole set, so std is 0."""
    f1, f2 = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
    n1, n2, d = len(f1), len(f2), f1.shape[1]
    m = min(subset_size, n1, n2)
    if m < 2:
        raise ValueError("KID needs at least 2 samples per set")
    f = np.concatenate([f1, f2])
    if len(f) <= KID_FULL_KERNEL_MAX:  # one kernel matrix for everything, subsets just index into it
        K = (f @ f.T / d + 1) ** 3
        kern = lambda i, j: K[np.ix_(i, j)]
    else:
        kern = lambda i, j: (f[i] @ f[j].T / d + 1) ** 3
    rng = np.random.default_rng(seed)
    mmd = np.empty(subsets)
    for s in range(subsets):
        i, j = rng.choice(n1, m, replace=False), n1 + rng.choice(n2, m, replace=False)
        kxx, kyy, kxy = kern(i, i), kern(j, j), kern(i, j)
        # within-set sums exclude the diagonal (k(x,x) is not an independent pair): unbiased estimate
        mmd[s] = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean()
    return float(mmd.mean()), float(mmd.std())


def _mmd2(K: np.ndarray, i: np.ndarray, j: np.ndarray) -> float:
    """Unbiased MMD^2 between the samples ``i`` and ``j`` (indices into the kernel matrix ``K``, repeats allowed):
    within a set, pairs of the same original sample are left out, as the diagonal is for distinct samples."""
    kxx, kyy = K[np.ix_(i, i)], K[np.ix_(j, j)]
    other_x, other_y = i[:, None] != i[None, :], j[:, None] != j[None, :]
    return float(kxx[other_x].mean() + kyy[other_y].mean() - 2 * K[np.ix_(i, j)].mean())


def kid_bootstrap(translated: np.ndarray, reference: np.ndarray, identity: np.ndarray | None = None,
                  rounds: int = 200, level: float = 0.95, seed: int = 0) -> dict:
    """KID on the whole sets, and its bootstrap interval over the images of both sides.

    Each round resamples the inputs (``translated`` and, row for row, ``identity``: the same inputs untranslated)
    and the ``reference`` with replacement. Returns ``kid`` (whole sets) with ``kid_low`` / ``kid_high`` (the
    ``level`` percentile interval), and with ``identity``: the identity's ``kid_identity`` and interval, and the
    ratio translated / identity with its interval (``ratio``, ``ratio_low``, ``ratio_high``)."""
    sets = [np.asarray(translated, np.float64), np.asarray(reference, np.float64)]
    if identity is not None:
        if len(identity) != len(translated):
            raise ValueError("identity must hold the untranslated inputs, one row per translated image")
        sets.append(np.asarray(identity, np.float64))
    n, m, d = len(sets[0]), len(sets[1]), sets[0].shape[1]
    if n < 2 or m < 2:
        raise ValueError("KID needs at least 2 samples per set")
    f = np.concatenate(sets)
    K = (f @ f.T / d + 1) ** 3
    x, y, z = np.arange(n), n + np.arange(m), n + m + np.arange(n)
    out = {"kid": _mmd2(K, x, y)}
    if identity is not None:
        out["kid_identity"] = _mmd2(K, z, y)
        # A ratio to a baseline at (or, KID being unbiased, below) zero says nothing: nan, left out of the interval.
        out["ratio"] = out["kid"] / out["kid_identity"] if out["kid_identity"] > 0 else math.nan
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {k: [] for k in out}
    for _ in range(rounds):
        i, j = rng.integers(0, n, n), n + rng.integers(0, m, m)
        while len(set(i)) < 2 or len(set(j)) < 2:  # a draw of one image repeated has no pair to compare
            i, j = rng.integers(0, n, n), n + rng.integers(0, m, m)
        kid = _mmd2(K, i, j)
        draws["kid"].append(kid)
        if identity is not None:
            base = _mmd2(K, n + m + i, j)
            draws["kid_identity"].append(base)
            draws["ratio"].append(kid / base if base > 0 else math.nan)
    tail = 100 * (1 - level) / 2
    for k, values in draws.items():
        finite = [v for v in values if not math.isnan(v)]
        out[f"{k}_low"], out[f"{k}_high"] = ((float(v) for v in np.percentile(finite, [tail, 100 - tail]))
                                             if finite else (math.nan, math.nan))
    return out


def difference_note(low: float, high: float, baseline: float = 1.0) -> str:
    """How a ratio's interval reads against ``baseline`` (1: no change): "lower", "higher", or "no measurable
    difference" when the interval holds it (or is undefined)."""
    if math.isnan(low) or math.isnan(high):
        return "no measurable difference"
    return "no measurable difference" if low <= baseline <= high else ("lower" if high < baseline else "higher")
