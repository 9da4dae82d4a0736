"""torchrun support: set up and tear down the process group when launched with several processes."""
from __future__ import annotations

import contextlib
import os
from typing import Iterator

import torch
import torch.distributed as dist


@contextlib.contextmanager
def distributed(device: str) -> Iterator[None]:
    """Join the process group if torchrun started us (WORLD_SIZE > 1): NCCL on CUDA, gloo on CPU."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        yield
        return
    use_cuda = device != "cpu" and torch.cuda.is_available()
    dist.init_process_group("nccl" if use_cuda else "gloo")
    try:
        yield
    finally:
        dist.destroy_process_group()
