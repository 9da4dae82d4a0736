"""Frozen instance-norm statistics: a generator whose instance norms use given per-channel means and deviations
instead of each input's own.

One mechanism serves two needs. Tiles of a big image are all normalised with the whole image's statistics, so
they agree in tone (``cyclegan.tiling``); the frames of a video share statistics averaged over recent frames, so
a change in one place does not shift the colours of the whole picture (``cyclegan.steady``). ``Translator`` asks
for it with ``generate(x, direction, stats=...)``; the graph also exports to ONNX with the statistics as a second
input (``onnx_export.stats_onnx_model``), for the CPU backend.
"""
from __future__ import annotations

import threading

import torch
from torch import nn

from .cpu_graph import fast_generator, replace_modules


class _NormStats:
    """Shared state of the ``StatsNorm`` layers of one generator: record instance-norm statistics (``record``),
    use given ones (``frozen``), or use given ones and record what each layer sees (``follow``). The statistics of
    all layers live in one flat vector: mean then 1/std of each layer in turn."""

    def __init__(self):
        self.mode = "record"
        self.flat: torch.Tensor | None = None
        self.recorded: list[torch.Tensor] = []


class StatsNorm(nn.Module):
    """Affine-free instance norm whose per-channel mean and 1/std are recorded from one image (``record``)
    and then frozen (``frozen``): every later input is normalised with them, not with its own. ``follow`` also
    records the statistics of its input as it arrives (normalised upstream with the given statistics, so the
    image's own once those are)."""

    def __init__(self, channels: int, eps: float, offset: int, state: _NormStats):
        super().__init__()
        self.channels, self.eps, self.offset, self.state = channels, eps, offset, state

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c, o = self.channels, self.offset
        if self.state.mode != "frozen":
            var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
            rstd = torch.rsqrt(var + self.eps)
            self.state.recorded += [mean.reshape(-1), rstd.reshape(-1)]
        if self.state.mode != "record":
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
        return self.measure(x)

    def measure(self, x: torch.Tensor) -> torch.Tensor:
        """``record`` without inference mode: what a traced graph calls (``steady.SteadyFrame``)."""
        return _flat(self._run(x, "record")[1])

    def forward(self, x: torch.Tensor, stats: torch.Tensor) -> torch.Tensor:
        return self._run(x, "frozen", stats)[0]

    def follow(self, x: torch.Tensor, stats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``forward`` that also returns the statistics each layer saw: ``x``'s own where ``stats`` are, so that
        statistics moved towards them frame after frame become the frames' own without a second pass
        (``steady.SteadyFrame``)."""
        y, seen = self._run(x, "follow", stats)
        return y, _flat(seen)

    def _run(self, x: torch.Tensor, mode: str, stats: torch.Tensor | None = None
             ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The net on ``x`` with its norms in ``mode``: the output and the statistics the norms recorded."""
        with self._lock:
            self.state.mode, self.state.flat, self.state.recorded = mode, stats, []
            try:
                return self.net(x), self.state.recorded
            finally:
                self.state.flat, self.state.recorded = None, []


def _flat(recorded: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat(recorded) if recorded else torch.zeros(0)
