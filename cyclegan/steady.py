"""Steady video, frame after frame: CycleGAN translates each frame on its own and flickers, since instance
normalisation takes each frame's own statistics (a small change in one place, a moving hand or a blinking light,
shifts the colours of the whole picture) and the generator's texture follows the camera's noise. Two remedies, each
switchable in ``config.VideoConfig``:

- **shared statistics**: every instance norm uses statistics averaged over the last frames
  (``cyclegan.frozen_stats``): measured on the first frame, then moved towards those each layer sees as it
  translates a frame with them (``Translator.generate_following``), so that a frame takes one pass of the
  generator, not two;
- **temporal smoothing**: where the input did not move, the output is blended with the previous output, by a
  weight that falls to 0 where the input changed, so that moving things are followed at once.

``Steadier`` does both for the video path (``cyclegan.video``), frame by frame; ``SteadyFrame`` is the same step as
one graph, which the browser's camera runs (exported by ``cyclegan.export``). Neither touches a container.
"""
from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from .config import VideoConfig
from .direction import Direction
from .frozen_stats import StatsGenerator


class FrameTranslator(Protocol):
    """What the video path needs of a translator (``cyclegan.Translator`` is one): its generators with given
    instance-norm statistics (or a frame's own, measured) returning what each layer saw, and the size it translates
    a frame at."""

    default_direction: Direction

    def check_direction(self, direction: Direction | str) -> Direction: ...

    def working_size(self, size: tuple[int, int]) -> tuple[int, int]: ...

    def generate(self, x: torch.Tensor, direction: Direction | str, stats: torch.Tensor | None = None
                 ) -> torch.Tensor: ...

    def generate_following(self, x: torch.Tensor, direction: Direction | str, stats: torch.Tensor | None = None
                           ) -> tuple[torch.Tensor, torch.Tensor]: ...


def local_change(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """How much a 1x3xHxW picture changed at each pixel: the signed change averaged over 5x5 pixels (camera noise
    cancels out, a moving edge does not), its largest channel; 1x1xHxW, on the pictures' scale."""
    return F.avg_pool2d(after - before, 5, stride=1, padding=2, count_include_pad=False).abs().amax(1, True)


def stats_rate(frames: int, window: int) -> float:
    """How far the shared statistics move towards a frame's own: their mean over the frames so far, then a running
    mean over the last ``window`` (the first frame is its own)."""
    return max(1 / frames, 1 / window)


def smoothed(fake: torch.Tensor, last: torch.Tensor, before: torch.Tensor, x: torch.Tensor,
             smoothing: float | torch.Tensor, motion_levels: float | torch.Tensor) -> torch.Tensor:
    """``fake`` blended with the previous output ``last`` where the input did not change from ``before`` to ``x``:
    by up to ``smoothing`` where it stood still, by nothing where it changed by ``motion_levels`` of 255 or more."""
    keep = smoothing * (1 - local_change(before, x) / (2 * motion_levels / 255)).clamp(0, 1)
    return keep * last + (1 - keep) * fake


class SteadyFrame(nn.Module):
    """One step of the steady translation as one graph, for a page that translates a camera live (exported by
    ``cyclegan.export``). The shared statistics are first moved by ``rate`` towards those measured on ``small``
    (a second pass of the generator: the first frame, with ``small`` the frame and ``rate`` 1; anything small with
    ``rate`` 0 otherwise); the frame is translated with them (``StatsGenerator``, the video path's mechanism), and
    smoothed against the previous input and output. The pass also gives the statistics each layer saw, and the
    shared ones move towards those by ``follow``: in a still scene they become the frame's own, with no second
    pass. Returns (output, the new shared statistics). With ``small`` the frame, ``rate`` 1, ``follow`` 0 and
    ``smoothing`` 0 it is the plain generator, frame by frame."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.frozen = StatsGenerator(generator)

    def forward(self, x: torch.Tensor, small: torch.Tensor, stats: torch.Tensor, rate: torch.Tensor,
                follow: torch.Tensor, previous_x: torch.Tensor, previous_y: torch.Tensor, smoothing: torch.Tensor,
                motion_levels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        stats = stats + rate * (self.frozen.measure(small) - stats)
        fake, seen = self.frozen.follow(x, stats)
        return smoothed(fake, previous_y, previous_x, x, smoothing, motion_levels), stats + follow * (seen - stats)


class Steadier:
    """The per-frame state of one video's translation: the running instance-norm statistics and the previous input
    and output. ``__call__`` takes a frame as a 1x3xHxW tensor in [-1, 1] and returns its translation."""

    def __init__(self, translator: FrameTranslator, direction: Direction, config: VideoConfig):
        self.translator, self.direction, self.config = translator, direction, config
        self.stats: torch.Tensor | None = None
        self.frames = 0
        self.previous: tuple[torch.Tensor, torch.Tensor] | None = None  # (input, output)

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        cfg, t = self.config, self.translator
        self.frames += 1
        if cfg.shared_stats:
            # The first frame (and with a window of 1 every frame) takes its own statistics, measured first; the
            # others the shared ones, which then move towards what the frame showed: a running mean, as the
            # camera's graph (SteadyFrame) is fed.
            own = self.stats is None or cfg.stats_window == 1
            fake, seen = t.generate_following(x, self.direction, None if own else self.stats)
            rate = stats_rate(self.frames, cfg.stats_window)
            self.stats = seen if self.stats is None else self.stats + rate * (seen - self.stats)
        else:
            fake = t.generate(x, self.direction)
        if cfg.smoothing and self.previous is not None and self.previous[0].shape == x.shape:
            fake = smoothed(fake, self.previous[1], self.previous[0], x, cfg.smoothing, cfg.motion_levels)
        self.previous = (x, fake)
        return fake
