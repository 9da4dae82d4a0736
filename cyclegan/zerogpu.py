"""Running on a ZeroGPU Space: the server's translations inside ``spaces.GPU``, which lends a GPU for each call.

On ZeroGPU (the ``spaces`` package installed and ``SPACES_ZERO_GPU`` set, as a ZeroGPU Space sets it) ``gpu(fn,
duration)`` is ``spaces.GPU(fn, duration=duration)``: ``fn`` then runs in a worker process forked from the
server, so what it takes and returns must pickle (names and pictures, not models), and it finds the models in the
memory the fork shares. Everywhere else ``gpu`` gives ``fn`` back unchanged and nothing else differs. ``spaces``
must be imported before CUDA is touched, which ``prepare`` does.
"""
from __future__ import annotations

import importlib.util
import os
from typing import Callable, TypeVar

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
