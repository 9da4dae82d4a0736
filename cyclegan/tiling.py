"""Big images in tiles: the tile layout, the blend weights, and generators whose instance-norm statistics are
frozen to those of the whole image, so that tiles agree in tone and no seams show.

Memory then grows with the tile size, not with the image. ``Translator.generate_tiled`` puts these together;
the frozen-statistics graph also exports to ONNX (``stats_onnx_model``) for the CPU backend.
"""
from __future__ import annotations

import io
import threading
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .cpu_graph import WINOGRAD_MIN_CHANNELS, cpu_float, export_graph, fast_generator, replace_modules


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


# -- frozen instance-norm statistics ---------------------------------------------------------------------
class _NormStats:
    """Shared state of the ``StatsNorm`` layers of one generator: record instance-norm statistics, or use
    given ones. The statistics of all layers live in one flat vector: mean then 1/std of each layer in turn."""

    def __init__(self):
        self.mode = "record"
        self.flat: torch.Tensor | None = None
        self.recorded: list[torch.Tensor] = []


class StatsNorm(nn.Module):
    """Affine-free instance norm whose per-channel mean and 1/std are recorded from one image (``record``)
    and then frozen (``frozen``), so that tiles of a big image are all normalised like the whole image."""

    def __init__(self, channels: int, eps: float, offset: int, state: _NormStats):
        super().__init__()
        self.channels, self.eps, self.offset, self.state = channels, eps, offset, state

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c, o = self.channels, self.offset
        if self.state.mode == "record":
            var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
            rstd = torch.rsqrt(var + self.eps)
            self.state.recorded += [mean.reshape(-1), rstd.reshape(-1)]
        else:
            mean = self.state.flat[o: o + c].view(1, c, 1, 1)
            rstd = self.state.flat[o + c: o + 2 * c].view(1, c, 1, 1)
        return (x - mean) * rstd


class StatsGenerator(nn.Module):
    """A generator whose instance norms are ``StatsNorm`` layers (the weights are shared, not copied).

    ``record(x)`` returns the flat statistics vector of ``x`` (a 1x3xHxW batch); ``forward(x, stats)``
    runs with those statistics frozen. The forward exports to ONNX with ``stats`` as a second input.
    With ``min_channels`` the net is the CPU graph (``cpu_graph.fast_generator``): Winograd on layers at
    least that wide.
    """

    def __init__(self, generator: nn.Module, min_channels: int | None = None):
        super().__init__()
        self.state, self.size = _NormStats(), 0
        self._lock = threading.Lock()  # the statistics are shared state: one call at a time

        def swap(c: nn.Module) -> nn.Module | None:
            if isinstance(c, nn.InstanceNorm2d) and not c.affine and not c.track_running_stats:
                norm = StatsNorm(c.num_features, c.eps, self.size, self.state)
                self.size += 2 * c.num_features
                return norm
            return None
        net = replace_modules(generator, swap)
        self.net = fast_generator(net, min_channels) if min_channels is not None else net

    @torch.inference_mode()
    def record(self, x: torch.Tensor) -> torch.Tensor:
        with self._lock:
            self.state.mode, self.state.recorded = "record", []
            try:
                self.net(x)
                return torch.cat(self.state.recorded) if self.state.recorded else torch.zeros(0)
            finally:
                self.state.recorded = []

    def forward(self, x: torch.Tensor, stats: torch.Tensor) -> torch.Tensor:
        with self._lock:
            self.state.mode, self.state.flat = "frozen", stats
            try:
                return self.net(x)
            finally:
                self.state.flat = None


def stats_onnx_model(generator: nn.Module, *, min_channels: int = WINOGRAD_MIN_CHANNELS) -> bytes:
    """The frozen-statistics CPU graph of ``generator`` as ONNX (inputs ``input``, 1x3xHxW, and ``stats``), for
    ``onnxruntime.InferenceSession``."""
    graph = StatsGenerator(cpu_float(generator), min_channels).eval()
    x = torch.zeros(1, 3, 64, 64)
    buffer = io.BytesIO()
    export_graph(graph, {"input": x, "stats": graph.record(x)}, buffer, {2: "height", 3: "width"})
    return buffer.getvalue()
