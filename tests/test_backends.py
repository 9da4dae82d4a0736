"""Translator backends: eager PyTorch and ONNX Runtime agree, ``auto`` picks per device, and every failure of the
ONNX path falls back to eager PyTorch. Tiny generators (ngf 8, 2 blocks) on images of at most 64 px."""
from __future__ import annotations

import sys

import pytest
import torch

from cyclegan import Translator
from cyclegan import cpu_graph, onnx_export
from cyclegan.backends import onnxruntime_available, resolve_backend
from cyclegan.testing import random_batch as image

needs_ort = pytest.mark.skipif(not onnxruntime_available(), reason="needs onnxruntime")
TOL = 1e-4  # float32 rounding of a different summation order; outputs are tanh values in [-1, 1]


@pytest.mark.parametrize("backend,min_channels", [("eager", None), pytest.param("onnx", None, marks=needs_ort),
                                                  pytest.param("onnx", 0, marks=needs_ort, id="onnx-winograd")])
def test_backends_agree_with_eager(generators, backend, min_channels):
    G_AB, G_BA = generators
    winograd = {} if min_channels is None else {"winograd_min_channels": min_channels}
    t = Translator(G_AB, G_BA, backend=backend, **winograd)
    assert t.backend == backend
    for x in (image(), image(9, 5), image(64, 64)):
        with torch.no_grad():
            ref = Translator(G_AB, G_BA, backend="eager").generate(x, "BtoA")
        assert (t.generate(x, "BtoA") - ref).abs().max() < TOL


@needs_ort
def test_auto_is_onnx_on_cpu_and_exports_each_graph_once(generators, monkeypatch):
    G_AB, G_BA = generators
    t = Translator(G_AB, G_BA)
    assert t.backend == "onnx"
    calls = []
    real_export = onnx_export.export_onnx
    monkeypatch.setattr(onnx_export, "export_onnx", lambda *a, **k: calls.append(1) or real_export(*a, **k))
    for _ in range(2):
        t.generate(image(), "AtoB")
        t.generate(image(), "BtoA")
    assert len(calls) == 2  # one graph per generator, kept in the Translator


@pytest.mark.parametrize("missing", ["onnxruntime", "onnx"])
def test_auto_falls_back_to_pure_pytorch_without_onnx(generators, monkeypatch, missing):
    monkeypatch.setitem(sys.modules, missing, None)  # makes `import onnxruntime` (or finding onnx) fail
    t = Translator(*generators)
    assert t.backend == "eager"
    x = image()
    with torch.no_grad():
        assert (t.generate(x, "AtoB") - generators[0](x)).abs().max() < TOL


def test_auto_is_eager_off_the_cpu(generators):
    assert resolve_backend("auto", torch.device("cuda")) == "eager"
    with pytest.raises(ValueError, match="CPU only"):
        resolve_backend("onnx", torch.device("cuda"))


@needs_ort
def test_export_failure_falls_back_to_eager(generators, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("exporter exploded")
    monkeypatch.setattr(onnx_export, "export_onnx", broken)
    t = Translator(*generators)
    x = image()
    with pytest.warns(UserWarning, match="exporter exploded"):
        out = t.generate(x, "AtoB")
    assert t.backend == "eager"
    with torch.no_grad():
        assert torch.equal(out, generators[0](x))


@needs_ort
def test_model_folder_is_never_written(model_dir):
    before = sorted(p.relative_to(model_dir) for p in model_dir.rglob("*"))
    t = Translator.from_pretrained(model_dir)
    t.generate(image(), "AtoB")
    assert sorted(p.relative_to(model_dir) for p in model_dir.rglob("*")) == before


def test_bad_backend_is_a_clear_error(generators):
    with pytest.raises(ValueError, match="backend must be one of"):
        Translator(*generators, backend="tensorrt")


@needs_ort
def test_winograd_width_is_passed_to_the_export(generators, monkeypatch):
    """The benchmark and the tests choose where Winograd starts by passing it, not by patching a module constant."""
    seen = []
    real_export = onnx_export.export_onnx
    monkeypatch.setattr(onnx_export, "export_onnx",
                        lambda *a, **k: seen.append(k["min_channels"]) or real_export(*a, **k))
    Translator(*generators, winograd_min_channels=0).generate(image(), "AtoB")
    Translator(*generators).generate(image(), "AtoB")
    assert seen == [0, cpu_graph.WINOGRAD_MIN_CHANNELS]
