import pytest
import torch
from torch import nn

from cyclegan import Discriminator, Generator
from cyclegan.zoo import reference_generator


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_exact_parameter_counts():
    assert n_params(Generator()) == 11_378_179
    assert n_params(Discriminator()) == 2_764_737


@pytest.mark.parametrize("size", [32, 48])
def test_shapes(size):
    G, D = Generator(ngf=8, n_blocks=2), Discriminator(ndf=8)
    x = torch.randn(2, 3, size, size)
    y = G(x)
    assert y.shape == x.shape and y.abs().max() <= 1  # tanh output
    assert D(x).shape == (2, 1, size // 8 - 2, size // 8 - 2)


def reference_layout(ngf: int, n_blocks: int, dropout: bool = False) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the reference ResnetGenerator (instance norm, so every conv has a bias)."""
    shapes = {"model.1": (ngf, 3, 7, 7), "model.4": (ngf * 2, ngf, 3, 3), "model.7": (ngf * 4, ngf * 2, 3, 3)}
    second = 6 if dropout else 5
    for b in range(n_blocks):
        shapes[f"model.{10 + b}.conv_block.1"] = (ngf * 4, ngf * 4, 3, 3)
        shapes[f"model.{10 + b}.conv_block.{second}"] = (ngf * 4, ngf * 4, 3, 3)
    up = 10 + n_blocks
    shapes[f"model.{up}"] = (ngf * 4, ngf * 2, 3, 3)  # ConvTranspose2d weights are (in, out, k, k)
    shapes[f"model.{up + 3}"] = (ngf * 2, ngf, 3, 3)
    shapes[f"model.{up + 7}"] = (3, ngf, 7, 7)
    transposed = {f"model.{up}", f"model.{up + 3}"}
    layout = {}
    for k, shape in shapes.items():
        layout[f"{k}.weight"] = shape
        layout[f"{k}.bias"] = (shape[1] if k in transposed else shape[0],)  # one bias per output channel
    return layout


@pytest.mark.parametrize("ngf,n_blocks,dropout", [(64, 9, False), (64, 6, False), (8, 2, True)])
def test_reference_key_layout(ngf, n_blocks, dropout):
    G = Generator(ngf=ngf, n_blocks=n_blocks, dropout=dropout)
    ours = {k: tuple(v.shape) for k, v in G.state_dict().items()}
    assert ours == reference_layout(ngf, n_blocks, dropout)


def test_loads_reference_layout_state_dict(tmp_path):
    """A state_dict written in the reference's layout (plus old InstanceNorm stats) loads and is used."""
    state = {k: torch.randn(shape) * 0.02 for k, shape in reference_layout(64, 9).items()}
    state["model.2.running_mean"] = torch.zeros(64)  # old PyTorch checkpoints carry these
    path = tmp_path / "horse2zebra.pth"
    torch.save(state, path)
    G = reference_generator(path)
    for k, v in G.state_dict().items():
        assert torch.equal(v, state[k])


def test_norm_choices_and_init():
    G = Generator(ngf=8, n_blocks=2, norm="batch")
    assert any(isinstance(m, nn.BatchNorm2d) for m in G.modules())
    assert G.model[1].bias is None  # batch norm supplies the shift, as in the reference
    conv = Generator(ngf=64, n_blocks=9).model[10].conv_block[1]
    assert abs(conv.weight.std().item() - 0.02) < 0.002 and conv.weight.mean().abs() < 0.002
    with pytest.raises(ValueError, match="norm"):
        Generator(norm="layer")


def test_hub_mixin_round_trip(tmp_path):
    G = Generator(ngf=8, n_blocks=2)
    G.save_pretrained(tmp_path / "g")
    assert (tmp_path / "g" / "config.json").is_file() and (tmp_path / "g" / "model.safetensors").is_file()
    G2 = Generator.from_pretrained(tmp_path / "g", strict=True)
    assert G2.model[1].weight.shape == (8, 3, 7, 7)
    x = torch.randn(1, 3, 32, 32)
    assert torch.equal(G.eval()(x), G2.eval()(x))
    D = Discriminator(ndf=8)
    D.save_pretrained(tmp_path / "d")
    assert torch.equal(Discriminator.from_pretrained(tmp_path / "d", strict=True).model[0].weight, D.model[0].weight)
