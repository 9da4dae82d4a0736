"""Shared fixtures: tiny image folders and tiny models, made in tmp_path."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
torch.set_num_threads(min(2, os.cpu_count() or 1))

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def write_images(folder: Path, n: int, color: tuple[int, int, int], size: int = 40, seed: int = 0,
                 ext: str = "png") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        pixels = np.clip(np.array(color) + rng.normal(0, 25, (size, size, 3)), 0, 255).astype(np.uint8)
        path = folder / f"{i:03d}.{ext}"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def dataroot(tmp_path: Path) -> Path:
    """A CycleGAN-layout folder: reddish A, bluish B, 6 training and 2 test images each, 40x40."""
    root = tmp_path / "data"
    write_images(root / "trainA", 6, (200, 60, 60), seed=1)
    write_images(root / "trainB", 5, (60, 60, 200), seed=2)
    write_images(root / "testA", 2, (200, 60, 60), seed=3)
    write_images(root / "testB", 2, (60, 60, 200), seed=4)
    return root


TINY_MODEL = {"ngf": 8, "n_blocks": 2}
