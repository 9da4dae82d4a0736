"""Big images in tiles: the tile layout, the blend weights, and the downscaled copy the whole image's statistics
are measured on.

Memory then grows with the tile size, not with the image. ``Translator.generate_tiled`` puts these together with
the frozen instance-norm statistics of ``cyclegan.frozen_stats``, so that tiles agree in tone and no seams show.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


# -- layout and blending ---------------------------------------------------------------------------------
def tile_spans(length: int, tile: int, overlap: int, align: int = 4) -> list[tuple[int, int]]:
    """(start, end) of tiles of about ``tile`` pixels covering ``[0, length)``, evenly spread, overlapping by
    at least ``overlap``. Starts are multiples of ``align``: the generator downsamples by 4, so only such
    shifts translate a tile exactly like the same pixels of the whole image."""
    if length <= tile:
        return [(0, length)]
    n = -(-(length - overlap) // (tile - overlap))
    starts = [round(i * (length - tile) / (n - 1) / align) * align for i in range(n)]
    return [(s, min(length, s + tile) if i < n - 1 else length) for i, s in enumerate(starts)]


def blend_ramp(spans: list[tuple[int, int]], i: int) -> torch.Tensor:
    """1-D weights of tile ``i``: 0 on the outer quarter of each overlap with a neighbour (pixels too close
    to the tile's edge, where the generator lacks context), a linear ramp across the middle half, 1 elsewhere.

    Where two tiles overlap their weights add up to exactly 1, so a smooth image stays smooth: no step
    at the tile borders, only a gradual cross-fade between two translations of the same pixels.
    """
    start, end = spans[i]
    w = torch.ones(end - start)
    pos = torch.arange(end - start, dtype=torch.float32) + 0.5

    def ramp(p: torch.Tensor, n: int) -> torch.Tensor:  # 0 for p < n/4, 1 for p > 3n/4
        return ((p - n / 4) / (n / 2)).clamp(0, 1)
    if i > 0:
        w = torch.minimum(w, ramp(pos, spans[i - 1][1] - start))
    if i < len(spans) - 1:
        w = torch.minimum(w, ramp(end - start - pos, end - spans[i + 1][0]))
    return w


def blend_tiles(run: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int, overlap: int
                ) -> torch.Tensor:
    """``run`` (a 1x3xhxw tile -> its 1x3xhxw output) over overlapping tiles of the 1x3xHxW ``x``, the outputs
    cross-faded with ``blend_ramp`` into one CPU float tensor of x's size."""
    h, w = x.shape[-2:]
    ys, xs = tile_spans(h, tile, overlap), tile_spans(w, tile, overlap)
    out = torch.zeros(1, 3, h, w)
    total = torch.zeros(1, 1, h, w)
    for i, (y0, y1) in enumerate(ys):
        wy = blend_ramp(ys, i)
        for j, (x0, x1) in enumerate(xs):
            y = run(x[..., y0:y1, x0:x1]).cpu().float()
            weight = (wy[:, None] * blend_ramp(xs, j)[None, :]).view(1, 1, y1 - y0, x1 - x0)
            out[..., y0:y1, x0:x1] += y * weight
            total[..., y0:y1, x0:x1] += weight
    return out / total


def downscale(x: torch.Tensor, max_pixels: int) -> torch.Tensor:
    """``x`` shrunk (antialiased, aspect kept, each side at least 8) to at most ``max_pixels`` pixels; as it is
    when it is that small. What the whole image's statistics are measured on."""
    h, w = x.shape[-2:]
    if h * w <= max_pixels:
        return x
    scale = (max_pixels / (h * w)) ** 0.5
    size = (max(8, int(h * scale)), max(8, int(w * scale)))
    return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
