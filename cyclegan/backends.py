"""How a generator runs: eager PyTorch, or its CPU graph in ONNX Runtime; ``auto`` picks per device.

A runner turns a padded 1x3xHxW batch into the generator's output. Each generator has up to four:
``whole`` (an image with its own instance-norm statistics), ``frozen`` (with given statistics as a second input:
a tile with the whole image's; ``cyclegan.frozen_stats``), ``follow`` (``frozen`` that also returns the statistics
each layer saw: a video frame with its recent frames', which then move towards those) and ``stats`` (records an
image's statistics; always eager: it runs once per image, on a downscaled copy, or on a video's first frame).
A new backend is a name in ``BACKENDS``, a rule in ``resolve_backend`` and a runner builder here.
"""
from __future__ import annotations

import importlib.util
from typing import Callable, Literal

import torch
from torch import nn

from .cpu_graph import WINOGRAD_MIN_CHANNELS
from .frozen_stats import StatsGenerator
from .onnx_export import onnx_model, stats_onnx_model

Backend = Literal["auto", "eager", "onnx"]
BACKENDS = ("auto", "eager", "onnx")
RunnerKind = Literal["whole", "frozen", "stats", "follow"]
Runner = Callable[..., torch.Tensor | tuple[torch.Tensor, torch.Tensor]]


def onnxruntime_available() -> bool:
    """Whether the ONNX backends can run: onnxruntime, and the onnx package that torch's exporter needs."""
    try:
        import onnxruntime  # noqa: F401
        return importlib.util.find_spec("onnx") is not None
    except (ImportError, ValueError):
        return False


def resolve_backend(backend: str, device: torch.device) -> str:
    """The backend that ``backend`` means on ``device``: ``auto`` is ONNX Runtime on CPU when it is installed,
    else eager PyTorch."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if backend == "auto":
        return "onnx" if device.type == "cpu" and onnxruntime_available() else "eager"
    if backend == "onnx" and device.type != "cpu":
        raise ValueError(f"backend {backend!r} runs on the CPU only; use backend='eager' on {device}")
    return backend


def eager_runner(generator: nn.Module, kind: RunnerKind, device: torch.device) -> Runner:
    """The generator in eager PyTorch on ``device``."""
    if kind == "whole":
        return lambda x: generator(x.to(device))
    module = StatsGenerator(generator).eval()
    if kind == "stats":
        return lambda x: module.record(x.to(device))
    if kind == "follow":
        return lambda x, stats: module.follow(x.to(device), stats.to(device))
    return lambda x, stats: module(x.to(device), stats.to(device))


def onnx_runner(generator: nn.Module, kind: RunnerKind, *, threads: int | None = None,
                config: dict[str, str] | None = None, min_channels: int = WINOGRAD_MIN_CHANNELS) -> Runner:
    """The generator's CPU graph (Winograd on layers of at least ``min_channels`` input channels), exported in
    memory and run by ONNX Runtime with ``threads`` intra-op threads (its own choice when None) and the
    session config entries ``config``. Raises whatever the exporter or the runtime raise."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    for key, value in (config or {}).items():
        options.add_session_config_entry(key, value)
    providers = ["CPUExecutionProvider"]
    if kind == "whole":
        session = ort.InferenceSession(onnx_model(generator, min_channels=min_channels), options, providers=providers)
        return lambda x: torch.from_numpy(session.run(None, {"input": x.float().contiguous().numpy()})[0])
    if kind in ("frozen", "follow"):
        session = ort.InferenceSession(stats_onnx_model(generator, min_channels=min_channels, follow=kind == "follow"),
                                       options, providers=providers)

        def run(x: torch.Tensor, stats: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
            out = [torch.from_numpy(a) for a in session.run(None, {"input": x.float().contiguous().numpy(),
                                                                    "stats": stats.float().contiguous().numpy()})]
            return out[0] if kind == "frozen" else (out[0], out[1])
        return run
    raise ValueError(f"the ONNX backend has no {kind!r} runner (statistics are recorded eagerly)")
