"""Running on a ZeroGPU Space: the server's translations inside ``spaces.GPU``, which lends a GPU for each call.

On ZeroGPU (the ``spaces`` package installed and ``SPACES_ZERO_GPU`` set, as a ZeroGPU Space sets it) ``gpu(fn,
duration)`` is ``spaces.GPU(fn, duration=duration)``: ``fn`` then runs in a worker process forked from the
server, so what it takes and returns must pickle (names and pictures, not models), and it finds the models in the
memory the fork shares. Everywhere else ``gpu`` gives ``fn`` back unchanged and nothing else differs. ``spaces``
must be imported before CUDA is touched, which ``prepare`` does, so this module imports no torch at its top.

The device work of the demo's handlers lives here too: ``translate_on_device`` and ``clip_on_device`` take a demo's
id, a model's key and pictures or paths (what pickles), and find the demo in ``DEMOS``.
"""
from __future__ import annotations

import importlib.util
import os
import weakref
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable)


def enabled() -> bool:
    """Whether this process serves a ZeroGPU Space: ``SPACES_ZERO_GPU`` says so and ``spaces`` is installed."""
    flag = os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true")
    return flag and importlib.util.find_spec("spaces") is not None


def prepare() -> bool:
    """Import ``spaces`` first, on ZeroGPU (it patches torch before CUDA is initialised); whether it is on."""
    if enabled():
        import spaces  # noqa: F401
        return True
    return False


def gpu(fn: F, duration: float | Callable[..., float]) -> F:
    """``fn`` run with a GPU lent for about ``duration`` seconds (a number, or a function of ``fn``'s arguments:
    ZeroGPU's dynamic duration) on ZeroGPU; ``fn`` itself elsewhere."""
    if not enabled():
        return fn
    import spaces
    return spaces.GPU(fn, duration=duration)


# The live demos by id: a ZeroGPU worker, a fork of this process, finds its demo (and so the loaded models) here,
# since what crosses to it must pickle. Weak: a demo no longer used goes, with its models.
DEMOS: "weakref.WeakValueDictionary[int, Any]" = weakref.WeakValueDictionary()
PICTURE_GPU_SECONDS = 20  # a picture and its reconstruction on a lent GPU, the worker's start included
MIN_CLIP_GPU_SECONDS = 30


def translate_on_device(demo_id: int, key: str, picture, direction: str):
    """One picture through the model ``key`` of the demo ``demo_id``: where a GPU is lent for the call, on ZeroGPU
    (``gpu``)."""
    import torch
    from .direction import Direction
    translator = DEMOS[demo_id].cache.get(key, Direction(direction))
    with torch.inference_mode():
        return translator(picture, direction)


def clip_on_device(demo_id: int, key: str, path: str, out: str, direction: str, steady: bool, side_by_side: bool,
                   video: dict):
    """One clip through the model ``key``, written to ``out`` (see ``translate_on_device``); its ``VideoInfo``."""
    from .direction import Direction
    from .errors import BadVideo
    from .guard import toast
    translator = DEMOS[demo_id].cache.get(key, Direction(direction))
    try:
        return translator.translate_video(path, out, direction, steady=steady, side_by_side=side_by_side, **video)
    except BadVideo as e:  # a toast, which also crosses back from a ZeroGPU worker
        raise toast(str(e)) from None


def clip_gpu_seconds(demo_id: int, key: str, path: str, out: str, direction: str, steady: bool, side_by_side: bool,
                     video: dict) -> float:
    """ZeroGPU's dynamic duration of ``clip_on_device`` (the same arguments): 20 s for the worker's start and a second
    for every 10 frames translated (a faster clip's thinned to ``max_fps``), at most 300. A clip beyond the bounds
    (longer, too many frames, frames too big, not a video) asks for the least, 30: it is refused at once. Probed
    within the same frame-size bound as its translation."""
    from .errors import BadVideo
    from .video import probe
    try:
        info = probe(path, max_frame_pixels=video.get("max_frame_pixels", 0))
    except BadVideo:
        return MIN_CLIP_GPU_SECONDS
    fps = float(info.fps) or 1.0
    frames = info.frames or info.duration * fps
    if ((video.get("max_seconds") and info.duration > video["max_seconds"])
            or (video.get("max_frames") and frames > video["max_frames"])):
        return MIN_CLIP_GPU_SECONDS
    if video.get("max_fps") and fps > video["max_fps"]:
        frames *= video["max_fps"] / fps
    return min(300, max(MIN_CLIP_GPU_SECONDS, 20 + frames / 10))
