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


# -- recipe options: EMA, DiffAugment, resize upsampling, mobile blocks, --max-steps ----------------------
ALL_OPTIONS = dict(ema=0.9, diffaugment="color,translation,cutout")


def all_option_configs(dataroot, out):
    cfg, _ = tiny_configs(dataroot, out, **ALL_OPTIONS)
    return cfg, ModelConfig(ngf=8, ndf=8, n_blocks=2, upsample="resize", block="mobile")


def test_ema_arithmetic(dataroot, tmp_path):
    """The first update copies the weights; each later one is ema = d * ema + (1 - d) * weights."""
    cfg, model_cfg = tiny_configs(dataroot, tmp_path / "run", ema=0.9)
    trainer = Trainer(cfg, model_cfg)
    trainer.fit(max_steps=1)
    p1 = {k: v.clone() for k, v in trainer.nets.G_AB.state_dict().items()}
    ema1 = trainer.ema["G_AB"].module.state_dict()
    assert all(torch.equal(ema1[k], p1[k]) for k in p1)
    trainer.fit(max_steps=1)
    p2 = trainer.nets.G_AB.state_dict()
    ema2 = trainer.ema["G_AB"].module.state_dict()
    assert any(not torch.equal(p1[k], p2[k]) for k in p1)
    for k in p1:
        torch.testing.assert_close(ema2[k], 0.9 * p1[k] + 0.1 * p2[k])
    # Samples and the exported model use the averaged weights, not the training ones.
    G_AB, _ = trainer.inference_generators()
    assert G_AB is trainer.ema["G_AB"].module
    exported = Translator.from_pretrained(tmp_path / "run" / "model").generators["AtoB"].state_dict()
    key = next(k for k in p1 if k.endswith("weight"))
    torch.testing.assert_close(exported[key], ema2[key].half().float())


def test_every_option_resumes_bit_exactly(dataroot, tmp_path):
    cfg, model_cfg = all_option_configs(dataroot, tmp_path / "straight")
    Trainer(cfg, model_cfg).fit()
    straight = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)

    cfg, model_cfg = all_option_configs(dataroot, tmp_path / "resumed")
    assert Trainer(cfg, model_cfg).fit(max_steps=4) is None
    cfg.resume = True
    Trainer(cfg, model_cfg).fit()
    resumed = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)
    for part in ("nets", "ema"):
        flat = lambda d: {f"{a}.{b}": v for a, sd in d.items() for b, v in sd.items()} if part == "ema" else d  # noqa: E731
        s, r = flat(straight[part]), flat(resumed[part])
        assert s.keys() == r.keys() and s
        for k in s:
            assert torch.equal(s[k], r[k]), (part, k)
    config = json.loads((tmp_path / "resumed" / "model" / "G_AB" / "config.json").read_text())
    assert (config["upsample"], config["block"]) == ("resize", "mobile")
    assert resumed["train_config"]["diffaugment"] == ALL_OPTIONS["diffaugment"]


def test_max_steps_finishes_the_run_with_a_model_card(dataroot, tmp_path):
    cfg, model_cfg = tiny_configs(dataroot, tmp_path / "run", max_steps=3)
    model_dir = Trainer(cfg, model_cfg).fit()
    assert model_dir == tmp_path / "run" / "model"
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert state["step"] == 3
    card = (model_dir / "README.md").read_text()
    assert "3 steps in all" in card and "multiply-adds" in card


def test_cli_options_and_their_checks(capsys):
    from cyclegan.config import parse_args
    train, model = parse_args(["--dataroot", "x", "--ema", "0.999", "--diffaugment", "color,cutout",
                               "--upsample", "resize", "--block", "mobile", "--max-steps", "10"])
    assert (train.ema, train.diffaugment, train.max_steps) == (0.999, "color,cutout", 10)
    assert (model.upsample, model.block) == ("resize", "mobile")
    for bad in (["--ema", "1.5"], ["--diffaugment", "rotate"], ["--block", "dense"]):
        with pytest.raises(SystemExit):
            parse_args(["--dataroot", "x", *bad])
    assert "rotate" in capsys.readouterr().err


# -- reference parity (issue 12): the LR schedule, and the GPU options' code paths on the CPU ----------------
def test_per_epoch_learning_rates_of_a_3_plus_3_schedule(dataroot, tmp_path, monkeypatch):
    """The rate each epoch trains at, as Trainer.fit steps its schedulers (at the end of each epoch).

    Today's reference steps at the start of each epoch and would train at
    2e-4, 2e-4, 1.5e-4, 1e-4, 0.5e-4, 0: its last epoch learns nothing.
    """
    seen = []

    def fake_step(G_AB, G_BA, D_A, D_B, opt_G, opt_D, *args, **kwargs):
        seen.append((opt_G.param_groups[0]["lr"], opt_D.param_groups[0]["lr"]))
        opt_G.step(), opt_D.step()  # no gradients, so no change; keeps the scheduler's order check quiet
        return dict.fromkeys(("G", "D_A", "D_B"), 0.0)

    monkeypatch.setattr("cyclegan.training.train_step", fake_step)
    cfg, model_cfg = tiny_configs(dataroot, tmp_path / "run", epochs=3, decay_epochs=3, batch_size=6)
    Trainer(cfg, model_cfg).fit()  # 6 A images, batch 6: one step per epoch
    assert [g for g, _ in seen] == pytest.approx([2e-4, 2e-4, 2e-4, 1.5e-4, 1e-4, 0.5e-4], rel=1e-12)
    assert [d for _, d in seen] == [g for g, _ in seen]


def run_two_steps(trainer):
    loader = iter(trainer.loader)
    losses = []
    for _ in range(2):
        batch = next(loader)
        losses.append(train_step(trainer.G_AB, trainer.G_BA, trainer.D_A, trainer.D_B, trainer.opt_G,
                                 trainer.opt_D, trainer.pool_A, trainer.pool_B, batch["A"], batch["B"], trainer.cfg,
                                 trainer.autocast))
    return losses


def test_bf16_autocast_runs_on_the_cpu(dataroot, tmp_path):
    """--precision bf16 on the CPU takes the same autocast path as on CUDA (slowly), so it is tested here."""
    cfg, model_cfg = tiny_configs(dataroot, tmp_path / "run", precision="bf16", batch_size=2)
    trainer = Trainer(cfg, model_cfg)
    before = trainer.nets.G_AB.model[1].weight.detach().clone()
    with trainer.autocast:
        assert trainer.G_AB(torch.zeros(1, 3, 32, 32)).dtype == torch.bfloat16
    for losses in run_two_steps(trainer):
        assert all(math.isfinite(v) for v in losses.values()), losses
    assert trainer.nets.G_AB.model[1].weight.dtype == torch.float32  # the weights stay fp32 ...
    assert not torch.equal(trainer.nets.G_AB.model[1].weight, before)  # ... and train


def test_compile_runs_on_the_cpu_without_recompiling(dataroot, tmp_path, monkeypatch):
    """--compile: two steps with finite losses, and no recompile although the generators see real images
    (no grad) and fakes (grad). The aot_eager backend runs the same tracing and guards as inductor without its
    C++ code generation, which takes about a minute even for this tiny model on 2 cores."""
    from cyclegan.training import GradInput
    compile_ = torch.compile
    monkeypatch.setattr(torch, "compile", lambda model, **kw: compile_(model, backend="aot_eager", **kw))
    torch._dynamo.reset()
    cfg, model_cfg = tiny_configs(dataroot, tmp_path / "run", compile=True, batch_size=2)
    trainer = Trainer(cfg, model_cfg)
    assert isinstance(trainer.G_AB, GradInput) and trainer.D_A is trainer.nets.D_A  # only the generators
    before = trainer.nets.G_BA.model[1].weight.detach().clone()
    with torch._dynamo.config.patch(error_on_recompile=True):
        for losses in run_two_steps(trainer):
            assert all(math.isfinite(v) for v in losses.values()), losses
    assert not torch.equal(trainer.nets.G_BA.model[1].weight, before)  # the compiled view trains the same weights
    samples = trainer.sample_grid(*trainer.fixed_samples(2))  # eager modules: no compile in eval mode
    assert torch.isfinite(samples).all()
