import json
import math

import pytest
import torch

from cyclegan import Translator
from cyclegan.config import ModelConfig, TrainConfig
from cyclegan.pool import ImagePool
from cyclegan.training import CycleGAN, Trainer, lr_factor, train_step


def tiny_configs(dataroot, out, **overrides):
    cfg = TrainConfig(dataroot=str(dataroot), out=str(out), load_size=36, crop_size=32, epochs=1, decay_epochs=1,
                      workers=0, device="cpu", seed=3, pool_size=4)
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg, ModelConfig(ngf=8, ndf=8, n_blocks=2)


def test_one_step_changes_all_four_networks_and_losses_are_finite():
    torch.manual_seed(0)
    cfg, model_cfg = TrainConfig(), ModelConfig(ngf=8, ndf=8, n_blocks=2)
    nets = CycleGAN(model_cfg)
    before = {k: v.clone() for k, v in nets.state_dict().items()}
    opt_G = torch.optim.Adam([*nets.G_AB.parameters(), *nets.G_BA.parameters()], lr=2e-4, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam([*nets.D_A.parameters(), *nets.D_B.parameters()], lr=2e-4, betas=(0.5, 0.999))
    losses = train_step(nets.G_AB, nets.G_BA, nets.D_A, nets.D_B, opt_G, opt_D, ImagePool(4), ImagePool(4),
                        torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1, cfg)
    assert set(losses) == {"G", "G_AB", "G_BA", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B"}
    assert all(isinstance(v, float) and math.isfinite(v) for v in losses.values())
    assert losses["idt_A"] > 0
    for net in ("G_AB", "G_BA", "D_A", "D_B"):
        changed = [k for k in before if k.startswith(net) and not torch.equal(before[k], nets.state_dict()[k])]
        assert changed, f"{net} did not change"
    # The discriminators are trainable again after the step (frozen only during the G update).
    assert all(p.requires_grad for p in nets.D_A.parameters())


def test_identity_off():
    cfg = TrainConfig(lambda_identity=0.0)
    nets = CycleGAN(ModelConfig(ngf=8, ndf=8, n_blocks=2))
    opt = lambda *ms: torch.optim.Adam([p for m in ms for p in m.parameters()])  # noqa: E731
    losses = train_step(nets.G_AB, nets.G_BA, nets.D_A, nets.D_B, opt(nets.G_AB, nets.G_BA), opt(nets.D_A, nets.D_B),
                        ImagePool(0), ImagePool(0), torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32), cfg)
    assert losses["idt_A"] == losses["idt_B"] == 0.0


def test_lr_schedule_is_constant_then_linear():
    # The reference's rule: lr is constant for 3 epochs, then falls by 1/(decay_epochs + 1) per epoch.
    factors = [lr_factor(e, epochs=3, decay_epochs=3) for e in range(6)]
    assert factors[:3] == [1.0, 1.0, 1.0]
    assert factors[3:] == pytest.approx([0.75, 0.5, 0.25])


def test_tiny_run_writes_checkpoint_samples_and_model(dataroot, tmp_path):
    cfg, model_cfg = tiny_configs(dataroot, tmp_path / "run")
    model_dir = Trainer(cfg, model_cfg).fit()
    out = tmp_path / "run"
    assert model_dir == out / "model"
    assert (out / "checkpoint.pt").is_file()
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["epoch_001.png", "epoch_002.png"]
    assert list((out / "tensorboard").iterdir())
    for sub in ("G_AB", "G_BA"):
        assert json.loads((out / "model" / sub / "config.json").read_text())["ngf"] == 8
        assert (out / "model" / sub / "model.safetensors").is_file()
    card = (out / "model" / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: cyclegan") and "samples.png" in card and '"crop_size": 32' in card
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 2 and state["step"] == 12 and state["train_config"]["crop_size"] == 32
    assert set(state) >= {"nets", "opt_G", "opt_D", "sched_G", "sched_D", "pool_A", "pool_B", "rng"}
    real, fake, rec = Translator.from_pretrained(model_dir)(
        __import__("PIL.Image").Image.new("RGB", (30, 20), "red"))
    assert real.size == fake.size == rec.size == (30, 20)


def test_resume_mid_run_gives_the_same_weights(dataroot, tmp_path):
    cfg, model_cfg = tiny_configs(dataroot, tmp_path / "straight")
    Trainer(cfg, model_cfg).fit()
    straight = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)["nets"]

    cfg, model_cfg = tiny_configs(dataroot, tmp_path / "resumed")
    assert Trainer(cfg, model_cfg).fit(max_steps=4) is None  # interrupted mid-epoch, like a killed run
    partial = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)
    assert (partial["epoch"], partial["epoch_step"], partial["step"]) == (0, 4, 4)
    cfg.resume = True
    Trainer(cfg, model_cfg).fit(max_steps=5)  # into the second epoch, across the LR schedule step
    Trainer(cfg, model_cfg).fit()
    resumed = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)["nets"]
    assert resumed.keys() == straight.keys()
    for k in straight:
        assert torch.equal(resumed[k], straight[k]), k


def test_resume_refuses_other_model_settings(dataroot, tmp_path):
    from cyclegan.data import DataError
    cfg, model_cfg = tiny_configs(dataroot, tmp_path / "run")
    Trainer(cfg, model_cfg).fit(max_steps=1)
    cfg.resume = True
    with pytest.raises(DataError, match="model settings"):
        Trainer(cfg, ModelConfig(ngf=16, ndf=8, n_blocks=2)).fit()
