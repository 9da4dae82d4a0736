"""Every ONNX graph the project makes, in one place: the CPU graph of a generator (``onnx_model``, Winograd on wide
layers: ``cyclegan.cpu_graph``) and its frozen-statistics twin (``stats_onnx_model``: ``cyclegan.frozen_stats``),
which ``backends`` run in ONNX Runtime; the browser's plain graph with fp16 weights (``generator_onnx``) and the
camera's steady step (``steady_onnx``: ``cyclegan.steady.SteadyFrame``), which ``cyclegan.export`` writes for the
page; and a file's check against eager PyTorch (``check_onnx``).

The legacy TorchScript exporter (``dynamo=False``) is used: it needs no ``onnxscript`` and handles the dynamic
height and width (the input may have any size that is a multiple of 4).
"""
from __future__ import annotations

import copy
import io
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .cpu_graph import WINOGRAD_MIN_CHANNELS, fast_generator
from .frozen_stats import StatsGenerator

ONNX_FORMAT = 2  # recorded in onnx.json: 2 = Winograd on wide layers only
OPSET = 17
MIN_FP16_ELEMENTS = 16  # smaller float tensors (scales, pads, epsilons) stay fp32 in the browser's files


def cpu_float(generator: nn.Module) -> nn.Module:
    """The generator itself if it is an fp32 CPU module in eval mode, else such a copy (never moved in place)."""
    params = list(generator.parameters()) + list(generator.buffers())
    if not generator.training and all(p.device.type == "cpu" and p.dtype == torch.float32 for p in params):
        return generator
    return copy.deepcopy(generator).float().cpu().eval()


def export_graph(graph: nn.Module, inputs: dict[str, torch.Tensor], f: str | Path | io.BytesIO,
                 dynamic_axes: dict[int, str], outputs: tuple[str, ...] = ("output",)) -> None:
    """Write ``graph`` as ONNX: its inputs named as in ``inputs`` (example tensors, in call order), its outputs as in
    ``outputs``; ``dynamic_axes`` of the first input and of the output ``output`` are left free."""
    first = next(iter(inputs))
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
        torch.onnx.export(graph, tuple(inputs.values()), f, input_names=list(inputs), output_names=list(outputs),
                          opset_version=OPSET, dynamic_axes={first: dynamic_axes, "output": dynamic_axes},
                          do_constant_folding=True, dynamo=False)


def export_onnx(generator: nn.Module, f: str | Path | io.BytesIO, *, min_channels: int = WINOGRAD_MIN_CHANNELS,
                sample_size: int = 64) -> None:
    """Write the generator's inference graph (``fast_generator``) as ONNX with dynamic batch, height and width
    (input ``input``, output ``output``, 1x3xHxW in [-1, 1], H and W multiples of 4) to a path or file object."""
    graph = fast_generator(cpu_float(generator), min_channels)
    export_graph(graph, {"input": torch.zeros(1, 3, sample_size, sample_size)}, f,
                 {0: "batch", 2: "height", 3: "width"})


def onnx_model(generator: nn.Module, *, min_channels: int = WINOGRAD_MIN_CHANNELS) -> bytes:
    """The generator's ONNX graph, for ``onnxruntime.InferenceSession``."""
    buffer = io.BytesIO()
    export_onnx(generator, buffer, min_channels=min_channels)
    return buffer.getvalue()


def stats_onnx_model(generator: nn.Module, *, min_channels: int = WINOGRAD_MIN_CHANNELS, follow: bool = False
                     ) -> bytes:
    """The frozen-statistics CPU graph of ``generator`` as ONNX (inputs ``input``, 1x3xHxW, and ``stats``), for
    ``onnxruntime.InferenceSession``; with ``follow``, ``StatsGenerator.follow``'s: a second output ``seen``, the
    statistics each layer saw."""
    graph = StatsGenerator(cpu_float(generator), min_channels).eval()
    x = torch.zeros(1, 3, 64, 64)
    buffer = io.BytesIO()
    export_graph(_Following(graph) if follow else graph, {"input": x, "stats": graph.record(x)}, buffer,
                 {2: "height", 3: "width"}, ("output", "seen") if follow else ("output",))
    return buffer.getvalue()


class _Following(nn.Module):
    """``StatsGenerator.follow`` as a module's forward, for the exporter."""

    def __init__(self, graph: StatsGenerator):
        super().__init__()
        self.graph = graph

    def forward(self, x: torch.Tensor, stats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.graph.follow(x, stats)


def fp16_weights(model: "onnx.ModelProto") -> "onnx.ModelProto":  # noqa: F821
    """``model`` with its float weights stored as fp16, each followed by a Cast back to fp32: half the bytes to
    download, the same fp32 arithmetic (the weights were shipped as fp16 safetensors, so nothing is lost)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    graph = model.graph
    kept, casts = [], []
    for init in graph.initializer:
        if init.data_type == TensorProto.FLOAT and int(np.prod(init.dims)) >= MIN_FP16_ELEMENTS:
            half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), f"{init.name}.fp16")
            kept.append(half)
            casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                          name=f"{init.name}.cast"))
        else:
            kept.append(init)
    nodes = casts + list(graph.node)
    graph.ClearField("initializer")
    graph.initializer.extend(kept)
    graph.ClearField("node")
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    return model


def generator_onnx(generator) -> bytes:
    """One generator as the page runs it: its plain graph (input ``input``, 1x3xHxW in [-1, 1], H and W multiples
    of 4; output ``output``) with fp16 weights."""
    import onnx
    plain = onnx_model(generator, min_channels=1 << 30)  # no layer is that wide: no Winograd
    return fp16_weights(onnx.load_from_string(plain)).SerializeToString()


def steady_onnx(generator) -> bytes:
    """The camera's graph of one generator (``steady.SteadyFrame``: shared statistics and smoothing in one step; its
    inputs are named as its arguments, its outputs ``output`` and ``new_stats``), with fp16 weights."""
    import onnx
    from .steady import SteadyFrame
    graph = SteadyFrame(cpu_float(generator)).eval()
    x, small = torch.zeros(1, 3, 64, 48), torch.zeros(1, 3, 32, 24)
    one = torch.ones(1)
    inputs = {"x": x, "small": small, "stats": graph.frozen.measure(small), "rate": one, "follow": one, "previous_x": x,
              "previous_y": x, "smoothing": one, "motion_levels": one}
    image = {2: "height", 3: "width"}
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
        torch.onnx.export(graph, tuple(inputs.values()), buffer, input_names=list(inputs),
                          output_names=["output", "new_stats"], opset_version=OPSET, do_constant_folding=True,
                          dynamo=False, dynamic_axes={"x": image, "small": {2: "small_height", 3: "small_width"},
                                                      "previous_x": image, "previous_y": image, "output": image})
    return fp16_weights(onnx.load_from_string(buffer.getvalue())).SerializeToString()


def check_onnx(generator: torch.nn.Module, path: str | Path, size: int = 256, seed: int = 0) -> float:
    """Max abs difference between ONNX Runtime and eager PyTorch on a random image."""
    import onnxruntime as ort
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.inference_mode():
        ref = generator.float().cpu().eval()(x)
    out = torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
    return float((out - ref).abs().max())
