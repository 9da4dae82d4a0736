"""Unpaired training data: listing a domain's images, the two-domain dataset, its transforms and sampler."""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler
from torchvision.transforms import v2

from .errors import DataError
from .images import list_images, load_image

def is_readable(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            image.verify()
        return True
    except Exception:  # PIL raises many exception types for broken files
        return False


def readable_images(folder: str | Path) -> list[Path]:
    """``list_images`` without the files PIL cannot read, with one warning that counts them."""
    files = list_images(folder)
    good = [p for p in files if is_readable(p)]
    if len(good) < len(files):
        kept = set(good)
        bad = [str(p.relative_to(folder)) for p in files if p not in kept]  # relative: may be in a subfolder
        warnings.warn(f"skipped {len(bad)} unreadable image(s) in {folder}: {', '.join(bad[:5])}"
                      + (" ..." if len(bad) > 5 else ""), stacklevel=2)
    if not good:
        raise DataError(f"no readable images in {folder}")
    return good


def train_transform(load_size: int, crop_size: int) -> v2.Compose:
    """Resize to load_size, random crop to crop_size, random horizontal flip, scale to [-1, 1].

    The resize runs on the PIL image with PIL's bicubic filter (which antialiases when shrinking), as the
    reference's does: bilinear on tensors kept visibly less fine detail on the usual 256 -> 286 upscale.
    """
    return v2.Compose([
        v2.Resize((load_size, load_size), interpolation=v2.InterpolationMode.BICUBIC, antialias=True),
        v2.PILToTensor(),
        v2.RandomCrop(crop_size),
        v2.RandomHorizontalFlip(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize([0.5] * 3, [0.5] * 3),
    ])


def eval_transform(size: int) -> v2.Compose:
    """Deterministic: resize the short side, centre crop (for the fixed sample images)."""
    return v2.Compose([v2.PILToTensor(), v2.Resize(size, antialias=True), v2.CenterCrop(size),
                       v2.ToDtype(torch.float32, scale=True), v2.Normalize([0.5] * 3, [0.5] * 3)])


@dataclass
class Domains:
    """Where domains A and B live: training folders, and test folders for the fixed samples if any."""
    train_a: Path
    train_b: Path
    test_a: Path | None = None
    test_b: Path | None = None

    @classmethod
    def from_dataroot(cls, root: str | Path) -> "Domains":
        root = Path(root)
        if not root.is_dir():
            raise DataError(f"dataroot not found: {root}")
        missing = [d for d in ("trainA", "trainB") if not (root / d).is_dir()]
        if missing:
            raise DataError(f"{root} lacks {' and '.join(missing)}/: expected the CycleGAN layout "
                            "trainA/ trainB/ [testA/ testB/]")
        test = [root / d if (root / d).is_dir() else None for d in ("testA", "testB")]
        return cls(root / "trainA", root / "trainB", *test)


class UnpairedDataset(Dataset):
    """Items are indexed by (i, j, seed): image i of A and image j of B, drawn independently by the sampler.

    The augmentation of each item is seeded by ``seed``, so it does not depend on which worker
    process loads it: a run resumed mid-epoch sees the same crops and flips as an uninterrupted one.
    """

    def __init__(self, files_a: list[Path], files_b: list[Path], transform: v2.Compose):
        self.files_a, self.files_b, self.transform = files_a, files_b, transform

    def __len__(self) -> int:
        return max(len(self.files_a), len(self.files_b))

    def _load(self, files: list[Path], i: int) -> Image.Image:
        # A file that verified at start-up but fails to decode (e.g. truncated data) is replaced by its neighbour.
        for k in range(len(files)):
            path = files[(i + k) % len(files)]
            try:
                return load_image(path)
            except OSError as e:
                warnings.warn(f"skipping unreadable image {path}: {e}")
        raise DataError("no image in the domain could be decoded")

    def __getitem__(self, index: tuple[int, int, int]) -> dict[str, torch.Tensor]:
        i, j, seed = index
        image_a, image_b = self._load(self.files_a, i), self._load(self.files_b, j)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return {"A": self.transform(image_a), "B": self.transform(image_b)}


class UnpairedSampler(Sampler):
    """An epoch of max(|A|, |B|) pairs (or ``epoch_size``): A in a shuffled order, B drawn independently at random.

    The order depends only on (seed, epoch), so a run resumed mid-epoch can skip what it has done,
    and with several processes each rank takes every world_size-th pair. A shorter ``epoch_size`` still
    draws from every image of both domains: only the epoch, and so the learning-rate schedule, gets shorter.
    """

    def __init__(self, n_a: int, n_b: int, seed: int, rank: int = 0, world_size: int = 1, epoch_size: int = 0):
        self.n_a, self.n_b, self.seed, self.rank, self.world_size = n_a, n_b, seed, rank, world_size
        self.size = epoch_size or max(n_a, n_b)
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch; ``start`` skips that many of this rank's pairs (for mid-epoch resume)."""
        self.epoch, self.start = epoch, start

    def items(self) -> list[tuple[int, int, int]]:
        """This rank's (index in A, index in B, augmentation seed) for the current epoch."""
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        n = self.size
        order_a = torch.cat([torch.randperm(self.n_a, generator=g) for _ in range(math.ceil(n / self.n_a))])[:n]
        order_b = torch.randint(self.n_b, (n,), generator=g)
        seeds = torch.randint(2**62, (n,), generator=g)
        n_rank = n // self.world_size  # equal counts on every rank keep DDP's collectives in step
        items = zip(order_a.tolist(), order_b.tolist(), seeds.tolist())
        return list(items)[self.rank:n_rank * self.world_size:self.world_size]

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        return iter(self.items()[self.start:])

    def __len__(self) -> int:
        return self.size // self.world_size - self.start
