"""Training: the four networks, one CycleGAN step, and the loop with checkpoints, samples and export.

Naming follows the paper: G_AB maps A to B, G_BA maps B to A, D_A tells real A images from fake_A,
D_B tells real B images from fake_B. (The reference calls our D_B ``netD_A``.)
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import random
import signal
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader
from torchvision.utils import make_grid, save_image
from tqdm.auto import tqdm

from .augment import diff_augment
from .config import ModelConfig, TrainConfig
from .data import (DataError, Domains, UnpairedDataset, UnpairedSampler, eval_transform, list_images, load_image,
                   readable_images, train_transform)
from .device import resolve_device
from .losses import cycle_loss, discriminator_loss, gan_loss, identity_loss
from .networks import Discriminator, Generator, complexity
from .pool import ImagePool


class CycleGAN(nn.Module):
    """The two generators and the two discriminators."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.G_AB = Generator(**cfg.generator_kwargs())
        self.G_BA = Generator(**cfg.generator_kwargs())
        self.D_A = Discriminator(ndf=cfg.ndf, norm=cfg.norm)
        self.D_B = Discriminator(ndf=cfg.ndf, norm=cfg.norm)


def unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, DistributedDataParallel) else module


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
    convolution's input gradient to the backward pass, under 1% of a generator's work.
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
        from .download import download_dataset
        return Domains.from_dataroot(download_dataset(cfg.dataset, cfg.data_dir))
    if cfg.dataroot:
        return Domains.from_dataroot(cfg.dataroot)
    return Domains(Path(cfg.domain_a), Path(cfg.domain_b))


def hardware() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


class Trainer:
    """Owns a training run: data, networks, optimisers, schedulers, pools, and OUT/."""

    def __init__(self, cfg: TrainConfig, model_cfg: ModelConfig):
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

        self.domains = resolve_domains(cfg)
        files_a, files_b = readable_images(self.domains.train_a), readable_images(self.domains.train_b)
        self.dataset = UnpairedDataset(files_a, files_b, train_transform(cfg.load_size, cfg.crop_size))
        self.sampler = UnpairedSampler(len(files_a), len(files_b), cfg.seed, self.rank, self.world_size)
        self.loader = DataLoader(self.dataset, batch_size=cfg.batch_size, sampler=self.sampler,
                                 num_workers=cfg.num_workers(), pin_memory=self.device.type == "cuda",
                                 drop_last=True, generator=torch.Generator().manual_seed(cfg.seed))
        if len(self.sampler) < cfg.batch_size:
            raise DataError(f"--batch-size {cfg.batch_size} is larger than an epoch "
                            f"({len(self.sampler)} image pairs per process)")

        self.nets = CycleGAN(model_cfg).to(self.device)
        if cfg.channels_last:
            self.nets.to(memory_format=torch.channels_last)
        fused = self.device.type == "cuda"
        params_G = [*self.nets.G_AB.parameters(), *self.nets.G_BA.parameters()]
        params_D = [*self.nets.D_A.parameters(), *self.nets.D_B.parameters()]
        self.opt_G = torch.optim.Adam(params_G, lr=cfg.lr, betas=(cfg.beta1, 0.999), fused=fused)
        self.opt_D = torch.optim.Adam(params_D, lr=cfg.lr, betas=(cfg.beta1, 0.999), fused=fused)
        rule = lambda epoch: lr_factor(epoch, cfg.epochs, cfg.decay_epochs)  # noqa: E731
        self.sched_G = torch.optim.lr_scheduler.LambdaLR(self.opt_G, rule)
        self.sched_D = torch.optim.lr_scheduler.LambdaLR(self.opt_D, rule)
        self.pool_A, self.pool_B = ImagePool(cfg.pool_size), ImagePool(cfg.pool_size)
        # The EMA copies are what samples, exports and evaluation use; they never train.
        self.ema = {name: AveragedModel(G, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=True)
                    for name, G in (("G_AB", self.nets.G_AB), ("G_BA", self.nets.G_BA))} if cfg.ema > 0 else {}
        self.epoch, self.epoch_step, self.step, self.train_seconds = 0, 0, 0, 0.0

        # What train_step calls: compiled and/or DDP-wrapped views of the same parameters.
        self.G_AB, self.G_BA, self.D_A, self.D_B = (self.nets.G_AB, self.nets.G_BA, self.nets.D_A, self.nets.D_B)
        if cfg.compile:
            # Only the generators: they do about 94% of the step's multiply-adds (6 forwards of 49.6 G at 256 px
            # against 6 of 3.1 G for the discriminators), and compiling a discriminator would recompile, since its
            # weights are frozen in the generator update and trainable in its own.
            self.G_AB, self.G_BA = (GradInput(torch.compile(G)) for G in (self.G_AB, self.G_BA))
        if self.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.G_AB, self.G_BA, self.D_A, self.D_B = (
                DistributedDataParallel(m, device_ids=ids) for m in (self.G_AB, self.G_BA, self.D_A, self.D_B))
        bf16 = cfg.precision == "bf16"
        if bf16 and self.device.type == "cpu" and self.is_main:
            # Allowed so that the autocast code path runs (and is tested) without a GPU.
            tqdm.write("note: --precision bf16 on the CPU works but is usually slower than fp32 (it is a GPU option)")
        self.autocast = torch.autocast(self.device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        self.stop_requested = False

    # -- checkpoints -------------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.out / "checkpoint.pt"

    def state_dict(self) -> dict:
        return {
            "nets": self.nets.state_dict(), "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(),
            "sched_G": self.sched_G.state_dict(), "sched_D": self.sched_D.state_dict(),
            "pool_A": self.pool_A.state_dict(), "pool_B": self.pool_B.state_dict(),
            "ema": {name: m.state_dict() for name, m in self.ema.items()},
            "epoch": self.epoch, "epoch_step": self.epoch_step, "step": self.step,
            "train_seconds": self.train_seconds,
            "rng": {"torch": torch.get_rng_state(), "python": random.getstate(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
            "train_config": {k: v for k, v in asdict(self.cfg).items() if k != "hub_token"},
            "model_config": asdict(self.model_cfg),
        }

    def save_checkpoint(self) -> None:
        """Write OUT/checkpoint.pt atomically: a crash mid-write keeps the previous checkpoint.

        Under DDP every rank calls this; rank 0 writes (the weights are the same on all ranks) and the
        others wait until the file is complete, so that a restart or ``--resume`` never reads a stale one.
        """
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            tmp = self.checkpoint_path.with_suffix(".pt.tmp")
            torch.save(self.state_dict(), tmp)
            os.replace(tmp, self.checkpoint_path)
        if self.distributed:
            dist.barrier()

    def load_checkpoint(self) -> None:
        path = self.checkpoint_path
        if not path.is_file():
            raise DataError(f"--resume: no checkpoint at {path}")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state["model_config"] != asdict(self.model_cfg):
            raise DataError(f"--resume: {path} was trained with model settings {state['model_config']}, "
                            f"not {asdict(self.model_cfg)}")
        self.nets.load_state_dict(state["nets"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        self.sched_G.load_state_dict(state["sched_G"])
        self.sched_D.load_state_dict(state["sched_D"])
        self.pool_A.load_state_dict(state["pool_A"], self.device)
        self.pool_B.load_state_dict(state["pool_B"], self.device)
        for name, m in self.ema.items():  # a run that turns --ema on when resuming starts the average there
            if name in state.get("ema", {}):
                m.load_state_dict(state["ema"][name])
        self.epoch, self.epoch_step, self.step = state["epoch"], state["epoch_step"], state["step"]
        self.train_seconds = state["train_seconds"]
        torch.set_rng_state(state["rng"]["torch"])
        random.setstate(state["rng"]["python"])
        if state["rng"]["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])

    # -- samples and export ------------------------------------------------------------------------
    def inference_generators(self) -> tuple[nn.Module, nn.Module]:
        """(G_AB, G_BA) as samples and exports see them: the EMA weights when --ema is on."""
        if self.ema:
            return self.ema["G_AB"].module, self.ema["G_BA"].module
        return self.nets.G_AB, self.nets.G_BA

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

    def write_sample(self, samples: tuple[torch.Tensor, torch.Tensor], name: str | None = None) -> Path:
        path = self.out / "samples" / f"{name or f'epoch_{self.epoch:03d}'}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(self.sample_grid(*samples), path)
        return path

    def export(self, sample: Path | None) -> Path:
        from .hub import export_model
        name_a, name_b = self.cfg.domain_names()
        return export_model(
            *self.inference_generators(), self.out / "model", name=self.cfg.run_name(), domain_a=name_a,
            domain_b=name_b, train_config=asdict(self.cfg), model_config=asdict(self.model_cfg),
            sample=sample, train_seconds=self.train_seconds, hardware=hardware(), epochs_done=self.epoch,
            steps_done=self.step, dataset=self.cfg.dataset, license=self.cfg.license)

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

    def describe_networks(self) -> str:
        """Multiply-adds and parameters of one generator and one discriminator at the training crop size."""
        size = self.cfg.crop_size
        (g_macs, g_params), (d_macs, d_params) = (complexity(m, size) for m in (self.nets.G_AB, self.nets.D_A))
        return (f"generator {g_macs / 1e9:.3f} G multiply-adds at {size}x{size}, {g_params:,} parameters; "
                f"discriminator {d_macs / 1e9:.3f} G, {d_params:,} parameters")

    def fit(self, max_steps: int | None = None, until: Callable[[], bool] | None = None) -> Path | None:
        """Train to the end (all epochs, or ``cfg.max_steps`` steps in all), or until SIGINT/SIGTERM, or for
        ``max_steps`` more steps, or until ``until()`` says so (checked after each step: a time budget).

        Either way OUT/checkpoint.pt and OUT/model are written; returns OUT/model only when training is complete.
        """
        cfg, total_epochs = self.cfg, self.cfg.epochs + self.cfg.decay_epochs
        if cfg.resume:
            self.load_checkpoint()
        writer = None
        if self.is_main:
            from torch.utils.tensorboard import SummaryWriter
            writer = SummaryWriter(self.out / "tensorboard")
            samples = self.fixed_samples()
            tqdm.write(f"training {cfg.run_name()} on {self.device} x{self.world_size}: "
                       f"{len(self.dataset.files_a)} A / {len(self.dataset.files_b)} B images, "
                       f"effective batch size {cfg.batch_size * self.world_size}, epochs {self.epoch}->{total_epochs}"
                       f"{f', at most {cfg.max_steps} steps' if cfg.max_steps else ''}\n{self.describe_networks()}")
        handlers = {s: signal.signal(s, self._request_stop) for s in (signal.SIGINT, signal.SIGTERM)} \
            if threading.current_thread() is threading.main_thread() else {}
        sample, steps_left, last = None, max_steps, None
        done = lambda: bool(cfg.max_steps) and self.step >= cfg.max_steps  # noqa: E731
        try:
            while self.epoch < total_epochs and not done():
                self.sampler.set_epoch(self.epoch, self.epoch_step * cfg.batch_size)
                bar = tqdm(self.loader, desc=f"epoch {self.epoch + 1}/{total_epochs}", disable=not self.is_main,
                           initial=self.epoch_step, total=self.epoch_step + len(self.loader), dynamic_ncols=True)
                for batch in bar:
                    t0 = time.perf_counter()
                    real_A = batch["A"].to(self.device, non_blocking=True)
                    real_B = batch["B"].to(self.device, non_blocking=True)
                    if cfg.channels_last:
                        real_A, real_B = (x.contiguous(memory_format=torch.channels_last) for x in (real_A, real_B))
                    last = train_step(self.G_AB, self.G_BA, self.D_A, self.D_B, self.opt_G, self.opt_D,
                                      self.pool_A, self.pool_B, real_A, real_B, cfg, self.autocast)
                    dt = time.perf_counter() - t0
                    self.train_seconds += dt
                    for name, G in (("G_AB", self.nets.G_AB), ("G_BA", self.nets.G_BA)):
                        if name in self.ema:
                            self.ema[name].update_parameters(G)
                    self.step, self.epoch_step = self.step + 1, self.epoch_step + 1
                    if self.is_main:
                        bar.set_postfix(G=f"{last['G']:.3f}", D_A=f"{last['D_A']:.3f}", D_B=f"{last['D_B']:.3f}",
                                        img_s=f"{cfg.batch_size * self.world_size / dt:.1f}")
                        if self.step % 10 == 0:
                            for k, v in last.items():
                                writer.add_scalar(f"loss/{k}", v, self.step)
                            writer.add_scalar("lr", self.opt_G.param_groups[0]["lr"], self.step)
                    if steps_left is not None:
                        steps_left -= 1
                    if until is not None and until():
                        self.stop_requested = True
                    if self._should_stop() or steps_left == 0 or done():
                        break
                else:  # the epoch ran to its end
                    self.epoch, self.epoch_step = self.epoch + 1, 0
                    self.sched_G.step(), self.sched_D.step()
                    if self.is_main and (self.epoch % cfg.sample_every == 0 or self.epoch == total_epochs):
                        sample = self.write_sample(samples)
                    if self.epoch % cfg.save_every == 0 or self.epoch == total_epochs:
                        self.save_checkpoint()
                    continue
                if done():  # --max-steps reached: finish like a complete run
                    self.save_checkpoint()
                    if self.is_main:
                        sample = self.write_sample(samples, f"step_{self.step:07d}")
                    break
                # Interrupted: keep everything, and leave a usable model of the progress so far.
                self.save_checkpoint()
                if self.is_main:
                    self.export(self.write_sample(samples, f"step_{self.step:07d}"))
                    tqdm.write(f"stopped at epoch {self.epoch + 1}, step {self.step}; checkpoint saved to "
                               f"{self.checkpoint_path} and the model so far to {self.out / 'model'}; "
                               "continue with --resume")
                return None
        finally:
            for s, h in handlers.items():
                signal.signal(s, h)
            if writer is not None:
                writer.close()
        if not self.is_main:
            return None
        if sample is None:
            sample = self.write_sample(samples)
        model_dir = self.export(sample)
        tqdm.write(f"done: {self.step} steps in {self.train_seconds / 60:.1f} min; model in {model_dir}")
        if cfg.push_to_hub:
            from .hub import push_model
            url = push_model(model_dir, cfg.push_to_hub, private=cfg.private, token=cfg.hub_token)
            tqdm.write(f"pushed to {url}")
        return model_dir


