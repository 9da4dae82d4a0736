"""cyclegan/frozen_stats.py: a generator normalised with given instance-norm statistics, and how Translator asks
for it (``generate(x, direction, stats)``), eagerly and through ONNX Runtime."""
from __future__ import annotations

import pytest
import torch

from cyclegan import Generator, Translator
from cyclegan.backends import onnxruntime_available
from cyclegan.frozen_stats import StatsGenerator


@pytest.fixture
def generators():
    torch.manual_seed(0)
    return Generator(ngf=8, n_blocks=2).eval(), Generator(ngf=8, n_blocks=2).eval()


def test_an_image_with_its_own_statistics_is_the_plain_generator(generators):
    G = generators[0]
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    frozen = StatsGenerator(G).eval()
    stats = frozen.record(x)
    assert stats.numel() == frozen.size > 0
    with torch.no_grad():
        assert torch.allclose(frozen(x, stats), G(x), atol=1e-5)


@pytest.mark.parametrize("backend", ["eager", pytest.param("onnx", marks=pytest.mark.skipif(
    not onnxruntime_available(), reason="needs onnxruntime and onnx"))])
def test_generate_with_stats_normalises_with_them(generators, backend):
    """One way to ask for frozen statistics: the same frame with another frame's statistics comes out otherwise,
    with its own exactly as without any."""
    t = Translator(*generators, backend=backend)
    x, other = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 1.5 - 0.5
    own = t.image_stats(x, "AtoB")
    plain = t.generate(x, "AtoB")
    assert (t.generate(x, "AtoB", own) - plain).abs().max() < 1e-4
    assert (t.generate(x, "AtoB", t.image_stats(other, "AtoB")) - plain).abs().max() > 1e-2
    with pytest.raises(ValueError, match="Unknown direction"):
        t.generate(x, "sideways", own)
