"""The CPU inference graph: Winograd convolutions for wide layers, ONNX export (in memory and by the CLI).
Tiny generators (ngf 8, 2 blocks) on images of at most 64 px; the backends that run the graph: test_backends.py."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cyclegan import Generator, Translator
from cyclegan import onnx_export
from cyclegan.backends import onnxruntime_available
from cyclegan.cpu_graph import WinogradConv3x3, fast_generator
from cyclegan.export import main as export_main
from cyclegan.onnx_export import ONNX_FORMAT
from cyclegan.testing import random_batch as image

needs_ort = pytest.mark.skipif(not onnxruntime_available(), reason="needs onnxruntime")
TOL = 1e-4  # float32 rounding of a different summation order; outputs are tanh values in [-1, 1]


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("shape", [(1, 16, 18, 18), (2, 8, 13, 22), (1, 4, 3, 5)])
def test_winograd_conv_equals_conv2d(m, shape):
    torch.manual_seed(0)
    conv = nn.Conv2d(shape[1], 12, 3)
    x = torch.randn(shape)
    with torch.no_grad():
        assert torch.allclose(WinogradConv3x3(conv, m)(x), conv(x), atol=1e-4)


def test_winograd_rejects_other_convolutions():
    with pytest.raises(ValueError, match="3x3"):
        WinogradConv3x3(nn.Conv2d(4, 4, 3, stride=2))


def test_winograd_generator_matches_eager_and_shares_weights(generators):
    G = generators[0]
    fast = fast_generator(G, min_channels=0)
    x = image(40, 52)
    with torch.no_grad():
        assert (fast(x) - G(x)).abs().max() < TOL
    assert fast.model[1].weight is G.model[1].weight  # untouched layers are shared, not copied
    assert isinstance(fast.model[10].conv_block[1], WinogradConv3x3)


def test_winograd_only_on_wide_layers():
    # Narrow layers (the shipped ngf-16 models: 64 channels) stay plain convolutions: Winograd lost there.
    narrow = Generator(ngf=16, n_blocks=1)
    assert fast_generator(narrow) is narrow
    wide = Generator(ngf=32, n_blocks=1, upsample="resize")  # residual blocks of 128 channels
    fast = fast_generator(wide)
    swapped = [m for m in fast.modules() if isinstance(m, WinogradConv3x3)]
    assert [m.in_channels for m in swapped] == [128, 128, 128]  # both residual convs and the first upsampling one
    assert not any(isinstance(m, nn.InstanceNorm2d) for m in fast.modules())  # ChannelNorm, exportable


@needs_ort
@pytest.mark.parametrize("min_channels", [None, 0], ids=["default", "winograd"])
def test_onnx_graph_has_dynamic_height_width_and_batch(generators, tmp_path, min_channels):
    import onnxruntime as ort
    G = generators[0]
    path = tmp_path / "g.onnx"
    onnx_export.export_onnx(G, path, **({} if min_channels is None else {"min_channels": min_channels}))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for x in (image(64, 64), image(36, 52), image(20, 28, batch=2)):
        with torch.no_grad():
            ref = G(x)
        out = torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
        assert out.shape == ref.shape and (out - ref).abs().max() < TOL


@needs_ort
def test_export_cli_writes_both_generators(model_dir, capsys):
    import onnxruntime as ort
    assert export_main([str(model_dir), "--onnx"]) == 0
    for label, G in (("G_AB", 0), ("G_BA", 1)):
        meta = json.loads((model_dir / label / "onnx.json").read_text())
        assert meta["format"] == ONNX_FORMAT and meta["max_abs_diff_vs_eager_at_256"] < TOL
        session = ort.InferenceSession(str(model_dir / label / "model.onnx"), providers=["CPUExecutionProvider"])
        x = image()
        generator = Translator.from_pretrained(model_dir, backend="eager").generators["AtoB" if G == 0 else "BtoA"]
        with torch.no_grad():
            assert (torch.from_numpy(session.run(None, {"input": x.numpy()})[0]) - generator(x)).abs().max() < TOL
    assert "G_BA: wrote" in capsys.readouterr().out


def test_export_cli_errors_are_one_line(tmp_path, capsys):
    assert export_main([str(tmp_path / "missing"), "--onnx"]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_export_never_moves_the_callers_module(generators, tmp_path):
    G = generators[0].train()
    onnx_export.export_onnx(G, tmp_path / "g.onnx")
    assert G.training  # exported from an eval-mode copy


def test_fast_path_keeps_odd_sizes_exact():
    # Winograd tiles that overhang the edge read zeros and are cropped: still the same convolution.
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 8, 3)
    x = F.pad(torch.randn(1, 8, 7, 9), (1, 1, 1, 1), mode="reflect")
    with torch.no_grad():
        assert torch.allclose(WinogradConv3x3(conv)(x), conv(x), atol=1e-4)
