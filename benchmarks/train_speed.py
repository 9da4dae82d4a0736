"""Training benchmark: images per second and peak memory of CycleGAN training steps, per setting and size,
with a quality check of every setting against the fp32 baseline.

    python -m benchmarks.train_speed                                # all settings at 256 and 128 px
    python -m benchmarks.train_speed --sizes 128 --settings baseline channels_last --steps 6

Settings (one at a time, then "all" of those that apply on the device):
  baseline       eager fp32, batch 1, images decoded and augmented on the CPU by the DataLoader (the reference's)
  channels_last  channels_last memory format for the networks and the batches
  bf16           bf16 autocast (CUDA only; losses and optimiser state stay fp32)
  compile        torch.compile of the four networks
  fused_adam     Adam(fused=True) (the baseline uses the default for-each implementation)
  batch4/batch8  4 or 8 images per domain per step
  gpu_data       augmentation (crop, flip) and the image pool on the GPU as tensors: images decoded once
  cuda_graphs    torch.compile(mode="reduce-overhead"): CUDA graphs of the networks' kernels

Each (setting, size) runs in its own process: the same seed, the same data, ``--steps`` steps (the first
``--warmup`` untimed). Images per second count the images of one domain (a step consumes a batch of A and
a batch of B), the DataLoader's time included. Quality: the per-step losses (G and D_A + D_B) of a setting
against those of the baseline at the same size; see ``tolerance``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

from benchmarks.common import (QUIET, SHARED_DATA, ForeignLoad, Timer, busy_processes, describe, hardware,
                    markdown_table, peak_rss_mb, write_results)

SETTINGS = {
    "baseline": {},
    "channels_last": {"channels_last": True},
    "bf16": {"bf16": True},
    "compile": {"compile": True},
    "fused_adam": {"fused": True},
    "batch4": {"batch": 4},
    "batch8": {"batch": 8},
    "gpu_data": {"gpu_data": True},
    "cuda_graphs": {"cuda_graphs": True},
}
CUDA_ONLY = {"bf16", "gpu_data", "cuda_graphs"}
HORSE2ZEBRA = 1334 * 200  # images of domain A per epoch x epochs (100 + 100 decay)


def tolerance(options: dict) -> tuple[str, float]:
    """(how the losses are compared, the bound) for a setting's options.

    Settings that change only the arithmetic (memory format, kernels, fusion, compilation) see the same
    batches in the same order as the baseline, so their losses must follow it step by step: at most 5%
    relative deviation per step. Not less: Adam's first update moves every weight by about lr whatever the
    size of its gradient, so a rounding-level difference in a near-zero gradient element that flips its sign
    is at once an lr-sized weight difference (docs/PERFORMANCE.md gives the deviations seen on the CPU).
    bf16 rounds every matmul input to 8 mantissa bits: 10%. A larger batch or another augmentation pipeline
    sees other images, so only the mean losses over the run can be compared, and a short run's mean is
    noisy: 25% catches breakage (divergence, a wrong loss scale), not subtle quality changes; those need a
    full run and ``python -m cyclegan.evaluate`` (FID/KID).
    """
    if options.get("batch", 1) != 1 or options.get("gpu_data"):
        return "mean", 0.25
    if options.get("bf16"):
        return "per-step", 0.10
    return "per-step", 0.05


class DeviceData:
    """The training images decoded once, resized to load_size and kept on the device as uint8; random crops
    and flips are tensor ops on the device (``gpu_data``)."""

    def __init__(self, files_a, files_b, load_size: int, crop_size: int, device, seed: int, limit: int = 256):
        from torchvision.transforms import v2
        from cyclegan.data import load_image
        resize = v2.Compose([v2.PILToTensor(), v2.Resize((load_size, load_size), antialias=True)])
        self.A = torch.stack([resize(load_image(p)) for p in files_a[:limit]]).to(device)
        self.B = torch.stack([resize(load_image(p)) for p in files_b[:limit]]).to(device)
        self.crop, self.load = crop_size, load_size
        self.g = torch.Generator().manual_seed(seed)

    def _batch(self, images: torch.Tensor, n: int) -> torch.Tensor:
        idx = torch.randint(len(images), (n,), generator=self.g)
        offsets = torch.randint(self.load - self.crop + 1, (n, 2), generator=self.g).tolist()
        flips = (torch.rand(n, generator=self.g) < 0.5).tolist()
        out = []
        for i, (y, x), flip in zip(idx.tolist(), offsets, flips):
            crop = images[i, :, y:y + self.crop, x:x + self.crop]
            out.append(crop.flip(-1) if flip else crop)
        return torch.stack(out).float().div_(127.5).sub_(1)

    def batch(self, n: int) -> dict[str, torch.Tensor]:
        return {"A": self._batch(self.A, n), "B": self._batch(self.B, n)}


class TensorPool:
    """The image pool of ``cyclegan.pool.ImagePool`` (same rule) in one preallocated device tensor."""

    def __init__(self, size: int):
        self.size, self.buffer, self.n = size, None, 0

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        if self.buffer is None:
            self.buffer = torch.empty((self.size, *images.shape[1:]), dtype=images.dtype, device=images.device)
        images = images.detach()
        out = images.clone()
        for i in range(images.shape[0]):
            if self.n < self.size:
                self.buffer[self.n].copy_(images[i])
                self.n += 1
            elif torch.rand(()).item() < 0.5:
                j = int(torch.randint(self.size, ()).item())
                out[i].copy_(self.buffer[j])
                self.buffer[j].copy_(images[i])
        return out


def worker(spec: dict) -> dict:
    """Run one (setting, size) and return its measurements (in a fresh process)."""
    warnings.filterwarnings("ignore")
    from cyclegan.config import ModelConfig, TrainConfig
    from cyclegan.pool import ImagePool
    from cyclegan.training import Trainer, train_step
    options, size, device = spec["options"], spec["size"], spec["device"]
    load = round(size * 286 / 256)
    cfg = TrainConfig(dataroot=spec["data"], load_size=load, crop_size=size, batch_size=options.get("batch", 1),
                      device=device, precision="bf16" if options.get("bf16") else "fp32",
                      channels_last=bool(options.get("channels_last")), compile=bool(options.get("compile")),
                      seed=0, workers=spec["workers"], out=tempfile.mkdtemp(prefix="bench-train-"))
    model = ModelConfig(ngf=spec["ngf"], ndf=spec["ndf"], n_blocks=spec["n_blocks"])
    fused = bool(options.get("fused"))  # the baseline: PyTorch's default (for-each) Adam, as the reference
    adam = lambda params: torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.beta1, 0.999), fused=fused or None)  # noqa: E731
    pool = TensorPool if options.get("gpu_data") else ImagePool
    trainer = Trainer(cfg, model, optimizer=adam, pool=pool)
    dev, nets = trainer.device, trainer.nets
    if options.get("cuda_graphs"):
        for name in ("G_AB", "G_BA", "D_A", "D_B"):
            setattr(nets, name, torch.compile(getattr(nets, name), mode="reduce-overhead"))
    if options.get("gpu_data"):
        data = DeviceData(trainer.dataset.files_a, trainer.dataset.files_b, load, size, dev, seed=0)
        batches = (data.batch(cfg.batch_size) for _ in range(spec["steps"]))
    else:
        trainer.sampler.set_epoch(0)
        batches = iter(trainer.loader)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    losses, times, loads = [], [], []
    for step in range(spec["steps"]):
        with Timer(dev) as timer, ForeignLoad() as load:
            batch = next(batches)
            real_A, real_B = batch["A"].to(dev, non_blocking=True), batch["B"].to(dev, non_blocking=True)
            if cfg.channels_last:
                real_A, real_B = (x.contiguous(memory_format=torch.channels_last) for x in (real_A, real_B))
            out = train_step(nets.G_AB, nets.G_BA, nets.D_A, nets.D_B, trainer.opt_G, trainer.opt_D,
                             trainer.pool_A, trainer.pool_B, real_A, real_B, cfg, trainer.autocast)
        losses.append([out["G"], out["D_A"] + out["D_B"]])
        times.append(timer.seconds)
        loads.append(load.cores)
        print(f"  step {step}: {timer.seconds:.2f} s, G {out['G']:.3f}, foreign load {load.cores}", file=sys.stderr)
    # Timed: the steps after the warm-up that no other process disturbed (all of them if every one was).
    timed = [t for t, c in zip(times[spec["warmup"]:], loads[spec["warmup"]:]) if c is None or c < QUIET]
    busy_steps = len(times) - spec["warmup"] - len(timed)
    timed = timed or times[spec["warmup"]:]
    result = {"losses": losses, "step_times": times, "first_step_s": times[0], "foreign_load": loads,
              "busy_steps": busy_steps, "step_s": sum(timed) / len(timed),
              "imgs_per_s": cfg.batch_size * len(timed) / sum(timed)}
    result["peak_mem_mb"] = (torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else peak_rss_mb())
    result["memory_kind"] = "CUDA max allocated" if dev.type == "cuda" else "process peak RSS"
    return result


def quality(options: dict, losses: list, base: list) -> tuple[float, bool, str]:
    mode, bound = tolerance(options)
    if mode == "mean":
        dev = max(abs(sum(l[k] for l in losses) / len(losses) - sum(b[k] for b in base) / len(base))
                  / abs(sum(b[k] for b in base) / len(base)) for k in range(2))
    else:
        dev = max(abs(l[k] - b[k]) / abs(b[k]) for l, b in zip(losses, base) for k in range(2))
    return dev, dev <= bound, f"{mode} <= {bound:.0%}"


def data_root(arg: str | None) -> tuple[str, str]:
    if arg:
        return arg, Path(arg).name
    real = SHARED_DATA / "monet2photo"
    if (real / "trainA").is_dir():
        return str(real), "monet2photo (256 px JPEG, ../shared/data)"
    from cyclegan.testing import write_images
    root = Path(tempfile.mkdtemp(prefix="bench-data-"))
    write_images(root / "trainA", 16, (200, 60, 60), size=286)
    write_images(root / "trainB", 16, (60, 60, 200), size=286)
    return str(root), "synthetic 286 px PNG noise images (no shared data found)"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 128])
    p.add_argument("--settings", nargs="+", default=[*SETTINGS, "all"], help=f"of {[*SETTINGS, 'all']}")
    p.add_argument("--steps", type=int, default=None, help="steps per run (default 20 on CUDA, 4 on CPU)")
    p.add_argument("--warmup", type=int, default=None, help="untimed first steps (default 5 on CUDA, 1 on CPU)")
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--ndf", type=int, default=64)
    p.add_argument("--n-blocks", type=int, default=9)
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=None, help="DataLoader workers (default 4 on CUDA, 0 on CPU)")
    p.add_argument("--data", default=None, help="a CycleGAN-layout folder (default ../shared/data/monet2photo)")
    p.add_argument("--out", default=None, help="JSON file (default benchmarks/results/train_speed.json)")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0

    from cyclegan.device import resolve_device
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    steps = args.steps or (20 if cuda else 4)
    warmup = args.warmup if args.warmup is not None else (5 if cuda else 1)
    workers = args.workers if args.workers is not None else (4 if cuda else 0)
    data, data_name = data_root(args.data)
    busy = busy_processes()
    if busy:
        print("WARNING: other training processes are running; timings will be distorted:\n  " + "\n  ".join(busy),
              file=sys.stderr)
    info = hardware(device)
    payload = {"hardware": info, "command": " ".join(sys.argv), "busy": busy, "data": data_name, "steps": steps,
               "warmup": warmup, "model": {"ngf": args.ngf, "ndf": args.ndf, "n_blocks": args.n_blocks},
               "time": time.strftime("%Y-%m-%d %H:%M"), "rows": []}
    applicable = [s for s in SETTINGS if cuda or s not in CUDA_ONLY]
    all_options = {k: v for s in applicable if s not in ("batch4",) for k, v in SETTINGS[s].items()}
    base_losses = {}
    for size in args.sizes:
        for name in ["baseline"] + [s for s in args.settings if s != "baseline"]:
            if name not in args.settings and name != "baseline":
                continue
            options = all_options if name == "all" else SETTINGS[name]
            row = {"size": size, "setting": name if name != "all" else "all: " + "+".join(
                s for s in applicable if s not in ("baseline", "batch4"))}
            if name in CUDA_ONLY and not cuda:
                row["note"] = "n/a (needs CUDA)"
                payload["rows"].append(row)
                continue
            spec = {"options": options, "size": size, "device": str(device), "data": data, "steps": steps,
                    "warmup": warmup, "workers": workers, "ngf": args.ngf, "ndf": args.ndf, "n_blocks": args.n_blocks}
            print(f"{size}px {row['setting']} ...", file=sys.stderr)
            r = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True,
                               text=True)
            if r.returncode != 0:
                row["note"] = "failed: " + (r.stderr.strip().splitlines() or ["?"])[-1][:150]
                print(r.stderr[-3000:], file=sys.stderr)
                payload["rows"].append(row)
                continue
            result = json.loads(r.stdout.strip().splitlines()[-1])
            row.update({k: result[k] for k in ("imgs_per_s", "step_s", "first_step_s", "peak_mem_mb", "losses",
                                               "busy_steps")})
            row["memory_kind"] = result["memory_kind"]
            if name == "baseline":
                base_losses[size] = result["losses"]
            elif size in base_losses:
                row["loss_dev"], row["quality_ok"], row["tolerance"] = quality(options, result["losses"],
                                                                                base_losses[size])
            base = next((x for x in payload["rows"] if x["size"] == size and x["setting"] == "baseline"
                         and "imgs_per_s" in x), None)
            row["speedup"] = row["imgs_per_s"] / base["imgs_per_s"] if base else 1.0
            if size == 256:
                row["h2z_hours"] = HORSE2ZEBRA / row["imgs_per_s"] / 3600
            payload["rows"].append(row)
            print(f"  -> {row['imgs_per_s']:.3f} img/s, peak {row['peak_mem_mb']:.0f} MB", file=sys.stderr)
    print(f"# Training on {describe(info)}\n")
    print(f"Real architecture ngf {args.ngf} / ndf {args.ndf} / {args.n_blocks} blocks; data {data_name}; "
          f"{steps} steps per run, the first {warmup} untimed; images/s counts one domain's images; "
          f"memory is {'CUDA max allocated' if cuda else 'peak RSS of the process'}; horse2zebra = 200 epochs "
          f"x 1,334 images.\n")
    print(markdown_table(payload["rows"], [
        ("size", "size"), ("setting", "setting"), ("imgs_per_s", "img/s"), ("speedup", "vs baseline"),
        ("peak_mem_mb", "peak MB"), ("first_step_s", "first step (s)"), ("loss_dev", "loss deviation"),
        ("tolerance", "tolerance"), ("quality_ok", "quality ok"), ("h2z_hours", "horse2zebra (h)"),
        ("busy_steps", "steps discarded (busy)"), ("note", "note")]))
    path = write_results("train_speed", payload, args.out)
    print(f"\nwrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
