"""A cheaper generator for the camera, distilled from a model's own: the camera translates a frame in a few tens of
milliseconds on a visitor's device only with a narrower network, while pictures keep the full one.

Paired distillation: each student generator (``--ngf 8`` by default, the teacher's layout otherwise; started from
the teacher's own strongest channels, ``networks.narrow``, unless ``--no-prune``) learns the teacher's translation
of the domain's own photos (L1 to the teacher's output, ``lambda_l1``), and a PatchGAN on the target domain's real
images keeps the adversarial loss (as GAN Compression does), so that the student stays in the domain where it
cannot copy the teacher exactly. The students are averaged (EMA) like the recipe's generators.

    python -m cyclegan.distill checkpoints/monet2photo --dataroot DATA --minutes 40   # writes FOLDER/camera/

The result is a model folder of its own (``FOLDER/camera/``: both students, a manifest and a card), named in the
teacher's manifest (``"camera": "camera"``); ``cyclegan.export`` builds the camera's graph from it, and pictures keep
the teacher. ``python -m cyclegan.evaluate --model FOLDER/camera`` scores it like any model.
"""
from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .config import DistillConfig, HelpFormatter, add_dataclass_args, program
from .data import Domains, readable_images, train_transform
from .direction import Direction
from .errors import DataError, DownloadError, ModelNotFoundError
from .images import load_image
from .losses import discriminator_loss, gan_loss
from .model_folder import (CAMERA, CONFIG, generator_folders, load_generator, read_manifest, save_model_folder,
                           set_camera)
from .networks import Discriminator, Generator, narrow
from .training import hardware


def cpu_minutes() -> float:
    return time.process_time() / 60


def student_config(teacher_config: dict, cfg: DistillConfig) -> dict:
    """The student's generator settings: the teacher's (its config.json), narrower."""
    return {**teacher_config, "ngf": cfg.ngf, "n_blocks": cfg.n_blocks}


def distill(folder: str | Path, domains: Domains, cfg: DistillConfig, *, log=print) -> Path:
    """Train the camera's students of the model ``folder`` on ``domains``' train images and write them to
    ``folder/camera/`` (named in the folder's manifest). Returns that folder."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    subs = generator_folders(folder)
    teachers = {d: load_generator(sub).float().eval() for d, sub in subs.items()}
    for t in teachers.values():
        t.requires_grad_(False)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    teacher_config = json.loads((next(iter(subs.values())) / CONFIG).read_text())
    if cfg.prune and (cfg.n_blocks != teacher_config["n_blocks"] or cfg.ngf > teacher_config["ngf"]):
        raise ValueError(f"--prune starts the students from the teacher's channels: it needs the teacher's "
                         f"{teacher_config['n_blocks']} blocks and at most its ngf {teacher_config['ngf']} (got "
                         f"--n-blocks {cfg.n_blocks}, --ngf {cfg.ngf}); use --no-prune for another layout")
    kwargs = student_config(teacher_config, cfg)
    students = {d: narrow(t, cfg.ngf).train() if cfg.prune else Generator(**kwargs) for d, t in teachers.items()}
    averaged = {d: AveragedModel(s, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=True)
                for d, s in students.items()}
    critics = {d: Discriminator(ndf=cfg.ndf) for d in teachers}
    opt_G = torch.optim.Adam([p for s in students.values() for p in s.parameters()], lr=cfg.lr, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam([p for c in critics.values() for p in c.parameters()], lr=cfg.lr, betas=(0.5, 0.999))
    load = cfg.load_size or manifest.get("native_size") or 256
    transform = train_transform(load, min(cfg.crop_size, load))
    files = {"A": readable_images(domains.train_a), "B": readable_images(domains.train_b)}
    if not files["A"] or not files["B"]:
        raise DataError(f"no train images in {domains.train_a} and {domains.train_b}")

    def batch(side: str) -> torch.Tensor:
        return transform(load_image(random.choice(files[side])))[None]

    step, start = 0, cpu_minutes()
    while (cfg.max_steps and step < cfg.max_steps) or (not cfg.max_steps and cpu_minutes() - start < cfg.minutes):
        real_A, real_B = batch("A"), batch("B")
        losses, fakes, targets, loss_G = {}, {}, {}, 0.0
        for d, student in students.items():
            source, targets[d] = d.ends(real_A, real_B)
            with torch.no_grad():
                taught = teachers[d](source)
            fakes[d] = fake = student(source)
            losses[f"L1_{d.value}"] = l1 = nn.functional.l1_loss(fake, taught)
            losses[f"G_{d.value}"] = adversarial = gan_loss(critics[d](fake), True)
            loss_G = loss_G + cfg.lambda_l1 * l1 + adversarial
        opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        opt_G.step()
        opt_D.zero_grad(set_to_none=True)
        for d in students:
            discriminator_loss(critics[d](targets[d]), critics[d](fakes[d].detach())).backward()
        opt_D.step()
        for d, s in students.items():
            averaged[d].update_parameters(s)
        step += 1
        if step % 200 == 0:
            log(f"step {step}: " + ", ".join(f"{k} {v.item():.3f}" for k, v in losses.items())
                + f"; {cpu_minutes() - start:.1f} CPU-min")
    minutes = cpu_minutes() - start
    ema = {d: copy.deepcopy(a.module).eval() for d, a in averaged.items()}
    out = folder / CAMERA
    summary = (f"The camera's generators, distilled from {manifest['name']}'s (ngf {cfg.ngf}, {cfg.n_blocks} blocks"
               f"{', started from its strongest channels' if cfg.prune else ''}; "
               f"{step:,} steps, {minutes:.0f} CPU-minutes, on {load} px photos cropped to {min(cfg.crop_size, load)})")
    save_model_folder(ema.get(Direction.AtoB), ema.get(Direction.BtoA), out, name=f"{manifest['name']}-camera",
                      domain_a=manifest["domain_a"], domain_b=manifest["domain_b"],
                      train_config={"distill": asdict(cfg), "distilled_from": manifest["name"],
                                    "crop_size": min(cfg.crop_size, load), "license_name": manifest.get("license_name"),
                                    "license_link": manifest.get("license_link")},
                      model_config=kwargs, steps_done=step, hardware=hardware(),
                      train_seconds=minutes * 60, license=manifest.get("license", "unknown"), summary=summary,
                      native_size=manifest.get("native_size"), default_direction=manifest.get("default_direction"),
                      attribution=manifest.get("attribution"))
    set_camera(folder, CAMERA)
    log(f"wrote {out} ({step:,} steps, {minutes:.1f} CPU-minutes); {folder / 'manifest.json'} names it")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=program("python -m cyclegan.distill"), formatter_class=HelpFormatter,
                                description=__doc__.strip().split("\n")[0])
    p.add_argument("model", help="the model folder to distill (its camera/ is written inside it)")
    p.add_argument("--dataroot", help="folder with trainA/ trainB/: the domains' photos")
    p.add_argument("--dataset", help="a dataset by name instead, as train.py takes it")
    p.add_argument("--data-dir", default="datasets", help="where --dataset unpacks its downloads")
    add_dataclass_args(p, DistillConfig, "student")
    args = p.parse_args(argv)
    if bool(args.dataroot) == bool(args.dataset):
        p.error("give --dataroot or --dataset")
    try:
        if args.dataset:
            from .datasets import dataset_folder
            root = dataset_folder(args.dataset, args.data_dir)
        else:
            root = Path(args.dataroot)
        cfg = DistillConfig(**{f: getattr(args, f) for f in DistillConfig.__dataclass_fields__})
        distill(args.model, Domains.from_dataroot(root), cfg)
    except (DataError, DownloadError, ModelNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
