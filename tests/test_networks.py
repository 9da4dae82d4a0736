import pytest
import torch
from torch import nn

from cyclegan import Discriminator, Generator
from cyclegan.testing import reference_layout
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


# -- recipe options (docs/QUALITY.md) ----------------------------------------------------------------------
from cyclegan.networks import MobileResnetBlock, complexity  # noqa: E402


@pytest.mark.parametrize("upsample,block", [("resize", "resnet"), ("transpose", "mobile"), ("resize", "mobile")])
@pytest.mark.parametrize("size", [32, 44])
def test_option_shapes(upsample, block, size):
    G = Generator(ngf=8, n_blocks=2, upsample=upsample, block=block)
    x = torch.randn(2, 3, size, size)
    y = G(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    assert any(isinstance(m, nn.ConvTranspose2d) for m in G.modules()) == (upsample == "transpose")
    assert any(isinstance(m, MobileResnetBlock) for m in G.modules()) == (block == "mobile")


def test_mobile_block_is_depthwise_separable():
    convs = [m for m in MobileResnetBlock(16).modules() if isinstance(m, nn.Conv2d)]
    assert [(c.kernel_size, c.groups) for c in convs] == [((3, 3), 16), ((1, 1), 1)] * 2


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="upsample"):
        Generator(ngf=8, n_blocks=1, upsample="bilinear")
    with pytest.raises(ValueError, match="block"):
        Generator(ngf=8, n_blocks=1, block="dense")


def test_complexity_counts_multiply_adds():
    conv = nn.Conv2d(3, 8, 3, padding=1)  # 8 outputs x 27 multiply-adds at each of 16x16 pixels
    assert complexity(conv, 16) == (8 * 27 * 16 * 16, 8 * 27 + 8)
    # A ResnetBlock's two 3x3 convs at width d cost 2 * 9 d^2 per pixel; a mobile block 2 * (9 d + d^2).
    ref = complexity(Generator(ngf=16, n_blocks=4), 64)[0]
    mobile = complexity(Generator(ngf=16, n_blocks=4, block="mobile"), 64)[0]
    d, pixels = 64, 16 * 16  # blocks run at width 4 ngf and a quarter of the resolution
    assert ref - mobile == 4 * pixels * 2 * (9 * d * d - (9 * d + d * d))
    # Resize-convolution upsampling costs 4x the transposed convolution's multiply-adds.
    assert complexity(Generator(ngf=8, n_blocks=1, upsample="resize"), 32)[0] > complexity(Generator(ngf=8, n_blocks=1), 32)[0]


def test_options_survive_the_hub_round_trip(tmp_path):
    import json
    G = Generator(ngf=8, n_blocks=2, upsample="resize", block="mobile")
    G.save_pretrained(tmp_path / "g")
    config = json.loads((tmp_path / "g" / "config.json").read_text())
    assert config["upsample"] == "resize" and config["block"] == "mobile"
    from cyclegan.model_folder import load_generator
    G2 = load_generator(tmp_path / "g")
    x = torch.randn(1, 3, 32, 32)
    assert torch.equal(G.eval()(x), G2(x))


# -- reference parity (issue 12): the reference's layers, written out -------------------------------------------
def describe(m: nn.Module) -> str:
    """A layer as the reference's code builds it: type and the arguments that change what it computes."""
    name = type(m).__name__
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        extra = f" op{m.output_padding[0]}" if isinstance(m, nn.ConvTranspose2d) else ""
        return (f"{name} {m.in_channels}->{m.out_channels} k{m.kernel_size[0]} s{m.stride[0]} p{m.padding[0]}{extra}"
                f"{' bias' if m.bias is not None else ''}")
    if isinstance(m, nn.InstanceNorm2d):
        return f"{name} {m.num_features} affine={m.affine} stats={m.track_running_stats}"
    if isinstance(m, nn.ReflectionPad2d):
        return f"{name} {m.padding[0]}"
    if isinstance(m, nn.LeakyReLU):
        return f"{name} {m.negative_slope}"
    if name == "ResnetBlock":
        return "ResnetBlock[" + ", ".join(describe(x) for x in m.conv_block) + "]"
    return name


def test_layers_are_the_reference_resnet_generator_and_patchgan():
    """ResnetGenerator(ngf=8, n_blocks=1, InstanceNorm, reflect padding) and NLayerDiscriminator(ndf=8, n_layers=3)
    of junyanz/pytorch-CycleGAN-and-pix2pix models/networks.py, layer by layer."""
    norm = "InstanceNorm2d {} affine=False stats=False"
    assert [describe(m) for m in Generator(ngf=8, n_blocks=1).model] == [
        "ReflectionPad2d 3", "Conv2d 3->8 k7 s1 p0 bias", norm.format(8), "ReLU",
        "Conv2d 8->16 k3 s2 p1 bias", norm.format(16), "ReLU",
        "Conv2d 16->32 k3 s2 p1 bias", norm.format(32), "ReLU",
        f"ResnetBlock[ReflectionPad2d 1, Conv2d 32->32 k3 s1 p0 bias, {norm.format(32)}, ReLU, "
        f"ReflectionPad2d 1, Conv2d 32->32 k3 s1 p0 bias, {norm.format(32)}]",
        "ConvTranspose2d 32->16 k3 s2 p1 op1 bias", norm.format(16), "ReLU",
        "ConvTranspose2d 16->8 k3 s2 p1 op1 bias", norm.format(8), "ReLU",
        "ReflectionPad2d 3", "Conv2d 8->3 k7 s1 p0 bias", "Tanh",
    ]
    assert [describe(m) for m in Discriminator(ndf=8).model] == [
        "Conv2d 3->8 k4 s2 p1 bias", "LeakyReLU 0.2",
        "Conv2d 8->16 k4 s2 p1 bias", norm.format(16), "LeakyReLU 0.2",
        "Conv2d 16->32 k4 s2 p1 bias", norm.format(32), "LeakyReLU 0.2",
        "Conv2d 32->64 k4 s1 p1 bias", norm.format(64), "LeakyReLU 0.2",
        "Conv2d 64->1 k4 s1 p1 bias",
    ]


def test_discriminator_state_dict_is_the_reference_layout():
    """The default NLayerDiscriminator's keys and shapes, so the reference's D checkpoints load unchanged."""
    assert {k: tuple(v.shape) for k, v in Discriminator().state_dict().items()} == {
        "model.0.weight": (64, 3, 4, 4), "model.0.bias": (64,),
        "model.2.weight": (128, 64, 4, 4), "model.2.bias": (128,),
        "model.5.weight": (256, 128, 4, 4), "model.5.bias": (256,),
        "model.8.weight": (512, 256, 4, 4), "model.8.bias": (512,),
        "model.11.weight": (1, 512, 4, 4), "model.11.bias": (1,),
    }


def test_initialisation_is_the_reference_rule():
    """init_type='normal', gain 0.02: every conv weight N(0, 0.02) and every bias 0 (the reference's init_weights)."""
    torch.manual_seed(0)
    for net in (Generator(), Discriminator()):
        convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        weights = torch.cat([m.weight.flatten() for m in convs])
        assert abs(weights.std().item() - 0.02) < 2e-4 and abs(weights.mean().item()) < 2e-4
        assert all(torch.count_nonzero(m.bias) == 0 for m in convs)


@pytest.mark.parametrize("upsample", ["resize", "transpose"])
def test_widen_computes_the_same_function_and_its_copies_can_grow_apart(upsample):
    from cyclegan.networks import widen
    torch.manual_seed(0)
    G = Generator(ngf=8, n_blocks=2, upsample=upsample)
    for p in G.parameters():
        p.data.normal_(0, 0.1)  # a trained generator's weights, not the init's tiny ones
    wide = widen(G, 12)
    assert wide.model[1].out_channels == 12 and n_params(wide) > n_params(G)
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(wide(x), G(x), atol=1e-4)
    # a copy's outgoing weights differ from its original's, so their gradients differ and they can grow apart
    loss = wide(x).square().mean()
    loss.backward()
    g = wide.model[1].weight.grad
    assert not torch.allclose(g[0], g[8])  # channel 8 copies channel 0
    with pytest.raises(ValueError, match="narrower"):
        widen(G, 4)


@pytest.mark.parametrize("upsample", ["resize", "transpose"])
def test_narrow_keeps_the_channels_the_next_layers_use(upsample):
    """Channels whose weights downstream are all zero contribute nothing: narrowing drops exactly those (the skip
    path's in every block at once) and computes what the generator did; the same width is the generator itself."""
    from cyclegan.networks import narrow
    torch.manual_seed(0)
    G = Generator(ngf=8, n_blocks=2, upsample=upsample).eval()
    for p in G.parameters():
        p.data.normal_(0, 0.1)
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(narrow(G, 8)(x), G(x))
    convs = [m for m in G.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        for conv in convs[1:]:  # a quarter of every layer's input channels unused downstream (not the picture's)
            w = conv.weight.transpose(0, 1) if isinstance(conv, nn.ConvTranspose2d) else conv.weight
            w[:, 1::4] = 0
    small = narrow(G, 6).eval()
    assert small.model[1].out_channels == 6 and n_params(small) < n_params(G)
    assert torch.allclose(small(x), G(x), atol=1e-5)
    with pytest.raises(ValueError, match="between 1 and"):
        narrow(G, 9)
