"""Where work runs: the ``--device`` names resolved to a torch device, and the CPU cores this process may use."""
from __future__ import annotations

import os

import torch

from .errors import DataError


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when present, else the CPU; any other name as torch reads it (cpu, cuda, cuda:N).

    ``DataError`` in one line for a CUDA device on a machine without one, before anything is loaded onto it.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DataError(f"--device {name}: not a device name (use cpu, cuda, cuda:N or auto)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DataError(f"--device {name}: CUDA is not available on this machine (use --device cpu)")
    return device


def cpu_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one, e.g. a container's
    CPU set), which can be fewer than the machine has."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
