"""Pictures in and out of the generators: PIL RGB <-> 1x3xHxW tensors in [-1, 1], and triptychs."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image


def to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL RGB -> 1x3xHxW in [-1, 1]."""
    array = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy())
    return array.permute(2, 0, 1).unsqueeze(0).float().div(127.5).sub(1)


def to_pil(x: torch.Tensor) -> Image.Image:
    """1x3xHxW in [-1, 1] -> PIL RGB."""
    array = x[0].float().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8).permute(1, 2, 0)
    return Image.fromarray(array.cpu().numpy(), "RGB")


def triptych(*images: Image.Image) -> Image.Image:
    """Images side by side (real | generated | reconstructed) on one canvas."""
    canvas = Image.new("RGB", (sum(im.width for im in images), max(im.height for im in images)), "white")
    x = 0
    for im in images:
        canvas.paste(im, (x, 0))
        x += im.width
    return canvas
