"""Inference benchmark: latency of a full triptych (generate + reconstruct) per backend and image size,
the accuracy of each backend against eager fp32, peak memory of big images, and the tiling's accuracy.

    python -m benchmarks.inference_speed                          # backends x 256/512/1024, prints a table
    python -m benchmarks.inference_speed --sizes 256 --repeats 10 # the app's case
    python -m benchmarks.inference_speed --memory                 # peak RSS of a 2048x2048 triptych per backend
    python -m benchmarks.inference_speed --tiling                 # tiled vs untiled at 1024x1024

Without --model the generators are the real architecture (ngf 64, 9 residual blocks) with random weights
(seed 0); speed does not depend on the weights, accuracy is checked on them and on --model if given.
Results: a Markdown table on stdout and benchmarks/results/inference_*.json.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import statistics
import subprocess
import sys
import time
import warnings

import torch
from torch import nn

from benchmarks.common import (ROOT, SHARED_DATA, ForeignLoad, Timer, busy_processes, clean_runs, describe,
                    hardware, markdown_table, write_results)

from cyclegan import Generator
from cyclegan.backends import BACKENDS
from cyclegan.config import NO_TILES, TileConfig
from cyclegan.cpu_graph import ChannelNorm, fast_generator, replace_modules
from cyclegan.direction import Direction
from cyclegan.images import to_tensor
from cyclegan.translate import Translator

# The product's backends, then the alternatives they were chosen over: they are built here, not in the library.
PRODUCT = ["eager", "onnx"]
ALTERNATIVES = ["channels_last", "compile", "winograd-torch", "onnx-plain", "onnx-winograd-all"]
EXTRA = ["eager-1thread", "onnx-1thread", "onnx-spin", "eager-bf16", "nnpack"]
ACCURACY = 1e-2  # the bar: max abs difference of the outputs (in [-1, 1]) from eager fp32


def test_image(size: int):
    """A real photo when the shared data is there (resized to size x size), else a synthetic scene."""
    from PIL import Image
    folder = SHARED_DATA / "monet2photo" / "testB"
    files = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
    if files:
        return Image.open(files[0]).convert("RGB").resize((size, size), Image.Resampling.BICUBIC), str(files[0].name)
    import numpy as np
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.stack([200 * xx, 150 * yy, 100 + 100 * np.sin(8 * xx * yy)], -1)
    return Image.fromarray(img.clip(0, 255).astype("uint8")), "synthetic"


def load_generators(model: str | None, ngf: int, n_blocks: int, upsample: str = "transpose"
                    ) -> tuple[nn.Module, nn.Module, str]:
    if model:
        t = Translator.from_pretrained(model, backend="eager")
        return t.generators[Direction.AtoB], t.generators[Direction.BtoA], f"weights of {model}"
    torch.manual_seed(0)
    G_AB, G_BA = (Generator(ngf=ngf, n_blocks=n_blocks, upsample=upsample).eval() for _ in range(2))
    return G_AB, G_BA, f"random weights (seed 0), ngf {ngf}, {n_blocks} blocks, {upsample} upsampling"


class NNPackConv(nn.Module):
    """A stride-1 unpadded conv through NNPACK (Winograd F(6x6, 3x3) on x86): a benchmark-only variant."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.weight, self.bias = conv.weight.detach(), conv.bias.detach()

    def forward(self, x):
        return torch._nnpack_spatial_convolution(x, self.weight, self.bias, [0, 0], [1, 1])


def nnpack_generator(G: nn.Module) -> nn.Module:
    torch._nnpack_available()  # initialises NNPACK; its convolutions fail without it

    def swap(c):
        if isinstance(c, nn.Conv2d) and c.kernel_size == (3, 3) and c.stride == (1, 1) and c.padding == (0, 0):
            return NNPackConv(c)
        if isinstance(c, nn.InstanceNorm2d):
            return ChannelNorm(c.num_features, c.eps)
        return None
    return replace_modules(G, swap).eval()


class ChannelsLast(nn.Module):
    def __init__(self, G: nn.Module):
        super().__init__()
        self.G = copy.deepcopy(G).to(memory_format=torch.channels_last)

    def forward(self, x):
        return self.G(x.contiguous(memory_format=torch.channels_last)).contiguous()


def make(variant: str, G_AB: nn.Module, G_BA: nn.Module, threads: int | None):
    """A Translator running ``variant`` and a factory of the context its calls run in (threads, autocast)."""
    context = contextlib.nullcontext
    if variant in BACKENDS:
        return Translator(G_AB, G_BA, backend=variant, threads=threads, tiles=NO_TILES), context
    if variant == "channels_last":
        return Translator(ChannelsLast(G_AB), ChannelsLast(G_BA), backend="eager", tiles=NO_TILES), context
    if variant == "compile":
        return Translator(torch.compile(G_AB, dynamic=True), torch.compile(G_BA, dynamic=True), backend="eager",
                          tiles=NO_TILES), context
    if variant == "winograd-torch":  # eager PyTorch with every residual 3x3 conv as Winograd
        return Translator(fast_generator(G_AB, 0), fast_generator(G_BA, 0), backend="eager",
                          tiles=NO_TILES), context
    if variant in ("onnx-plain", "onnx-winograd-all"):  # the graph is exported on the first (timed) call
        n = 10**9 if variant == "onnx-plain" else 0  # Winograd from n input channels on: never, or everywhere
        return Translator(G_AB, G_BA, backend="onnx", threads=threads, tiles=NO_TILES,
                          winograd_min_channels=n), context
    if variant == "eager-1thread":
        return Translator(G_AB, G_BA, backend="eager", tiles=NO_TILES), lambda: torch_threads(1)
    if variant == "onnx-1thread":
        return Translator(G_AB, G_BA, backend="onnx", threads=1, tiles=NO_TILES), context
    if variant == "onnx-spin":  # ONNX Runtime's default: idle threads spin (Translator turns it off)
        return Translator(G_AB, G_BA, backend="onnx", threads=threads, tiles=NO_TILES,
                          onnx_config={"session.intra_op.allow_spinning": "1"}), context
    if variant == "eager-bf16":
        return (Translator(G_AB, G_BA, backend="eager", tiles=NO_TILES),
                lambda: torch.autocast("cpu", dtype=torch.bfloat16))
    if variant == "nnpack":
        if not torch._nnpack_available():
            raise RuntimeError("NNPACK is not available in this torch build")
        return Translator(nnpack_generator(G_AB), nnpack_generator(G_BA), backend="eager", tiles=NO_TILES), context
    raise ValueError(f"unknown variant {variant}")


@contextlib.contextmanager
def torch_threads(n: int):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def triptych_seconds(t: Translator, image, context) -> float:
    with context(), Timer() as timer:
        t(image, Direction.AtoB)
    return timer.seconds


def outputs(t: Translator, x: torch.Tensor, context) -> tuple[torch.Tensor, torch.Tensor]:
    with context(), torch.inference_mode():
        fake = t.generate(x, Direction.AtoB).float()
        return fake, t.generate(fake, Direction.BtoA).float()


def repeats_for(size: int, repeats: int) -> int:
    return max(2, round(repeats * (256 / size) ** 2)) if size > 256 else repeats


def run_speed(args, G_AB, G_BA, weights: str) -> dict:
    rows = []
    eager = Translator(G_AB, G_BA, backend="eager", tiles=NO_TILES)
    for size in args.sizes:
        image, source = test_image(size)
        x = to_tensor(image)
        ref = outputs(eager, x, contextlib.nullcontext)
        for variant in args.backends:
            row = {"size": size, "backend": variant}
            try:
                t, context = make(variant, G_AB, G_BA, args.threads)
                row["first_call_s"] = triptych_seconds(t, image, context)  # exports / compiles on first use
                times, row["discarded_busy_runs"], loads = clean_runs(
                    lambda: triptych_seconds(t, image, context), repeats_for(size, args.repeats))
                if not times:
                    raise RuntimeError("the machine never became quiet: no clean run")
                row["other_load_cores"] = max(loads)
                fake, rec = outputs(t, x, context)
            except Exception as e:  # a variant that cannot run here is reported, not fatal
                row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
                rows.append(row)
                print(f"{size} {variant}: {row['error']}", file=sys.stderr)
                continue
            row.update(median_s=statistics.median(times), min_s=min(times), runs=len(times),
                       setup_s=max(0.0, row["first_call_s"] - statistics.median(times)),
                       max_abs_fake=float((fake - ref[0]).abs().max()), max_abs_rec=float((rec - ref[1]).abs().max()))
            row["max_abs"] = max(row["max_abs_fake"], row["max_abs_rec"])
            row["within_1e-2"] = row["max_abs"] <= ACCURACY
            rows.append(row)
            print(f"{size} {variant}: median {row['median_s']:.3f} s, setup {row['setup_s']:.1f} s, "
                  f"max abs {row['max_abs']:.1e}", file=sys.stderr)
        base = next((r["median_s"] for r in rows if r["size"] == size and r["backend"] == "eager"
                     and "median_s" in r), None)
        for r in rows:
            if r["size"] == size and base and "median_s" in r:
                r["speedup"] = base / r["median_s"]
    return {"rows": rows, "weights": weights, "image": source}


MEMORY_CHILD = r"""
import json, sys, time, torch
from cyclegan.testing import peak_rss_mb
from cyclegan import Generator, Translator
from cyclegan.config import TileConfig
from PIL import Image
backend, size, tile_threshold, ngf, n_blocks, upsample = sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
torch.manual_seed(0)
G_AB, G_BA = (Generator(ngf=ngf, n_blocks=n_blocks, upsample=upsample).eval() for _ in range(2))
kw = {} if tile_threshold == "default" else {"tiles": TileConfig(tile_threshold=0 if tile_threshold == "none" else int(tile_threshold))}
t = Translator(G_AB, G_BA, backend=backend, **kw)
t(Image.new("RGB", (64, 64)), "AtoB")  # export / session set-up outside the timed run
image = Image.effect_noise((size, size), 40).convert("RGB")
before = peak_rss_mb()
t0 = time.perf_counter()
real, fake, rec = t(image, "AtoB")
seconds = time.perf_counter() - t0
print(json.dumps({"peak_rss_mb": peak_rss_mb(), "rss_before_mb": before, "seconds": seconds, "tiled": t.tiles.tiles(size * size)}))
"""


def run_memory(args) -> dict:
    rows = []
    cases = [(b, 2048, "default") for b in args.memory_backends] + [(b, 1024, "none") for b in args.memory_backends]
    for backend, size, threshold in cases:
        with ForeignLoad() as load:
            r = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(ROOT), backend, str(size), threshold,
                                str(args.ngf), str(args.n_blocks), args.upsample],
                               capture_output=True, text=True, timeout=3600, cwd=ROOT)
        row = {"backend": backend, "size": size, "tiling": "off" if threshold == "none" else "default (512 px tiles)",
               "other_load_cores": load.cores}
        if r.returncode == 0:
            row.update(json.loads(r.stdout.strip().splitlines()[-1]))
            row["under_2GB"] = row["peak_rss_mb"] < 2048
        else:
            row["error"] = r.stderr.strip().splitlines()[-1][:200] if r.stderr.strip() else f"exit {r.returncode}"
        rows.append(row)
        print(f"memory {backend} {size} {threshold}: {row}", file=sys.stderr)
    return {"rows": rows}


def run_tiling(args, G_AB, G_BA) -> dict:
    rows = []
    image, source = test_image(args.tiling_size)
    x = to_tensor(image)
    whole_t = Translator(G_AB, G_BA, backend=args.tiling_backend, tiles=NO_TILES)
    with Timer() as timer:
        whole = whole_t.generate(x, Direction.AtoB)
    rows.append({"case": f"untiled {args.tiling_size}px", "seconds": timer.seconds})
    n = args.tiling_size
    for tile, overlap, stats in [(512, 64, n * n), (512, 128, n * n), (512, 64, None), (512, 128, None),
                                 (256, 64, n * n)]:
        t = Translator(G_AB, G_BA, backend=args.tiling_backend, tiles=TileConfig(tile, overlap, tile_threshold=1),
                       stats_pixels=stats)
        with Timer() as timer, ForeignLoad() as load:
            tiled = t.generate(x, Direction.AtoB)
        e = (tiled - whole).abs()
        rows.append({"case": f"tiles {tile}/{overlap}, statistics from "
                             + ("the whole image" if stats else f"{tile}x{tile} downscale"),
                     "seconds": timer.seconds, "other_load_cores": load.cores, "max_abs": float(e.max()),
                     "mean_abs": float(e.mean()),
                     "p99_abs": float(e.flatten().kthvalue(int(0.99 * e.numel())).values)})
        print(rows[-1], file=sys.stderr)
    return {"rows": rows, "image": source, "backend": args.tiling_backend}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    p.add_argument("--backends", nargs="+", default=PRODUCT + ALTERNATIVES,
                   help=f"of {PRODUCT + ALTERNATIVES + EXTRA}")
    p.add_argument("--repeats", type=int, default=5, help="timed triptychs at 256 px (fewer at bigger sizes)")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: its own choice)")
    p.add_argument("--model", default=None, help="a model folder to take the weights from")
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--n-blocks", type=int, default=9)
    p.add_argument("--upsample", choices=["transpose", "resize"], default="transpose",
                   help="the generator's upsampling layers (the shipped models use resize)")
    p.add_argument("--memory", action="store_true", help="peak RSS of 2048x2048 (tiled) and 1024x1024 (untiled)")
    p.add_argument("--memory-backends", nargs="+", default=["eager", "onnx"])
    p.add_argument("--tiling", action="store_true", help="tiled vs untiled accuracy and time")
    p.add_argument("--tiling-size", type=int, default=1024)
    p.add_argument("--tiling-backend", default="onnx")
    p.add_argument("--no-speed", dest="speed", action="store_false", help="skip the latency table")
    p.add_argument("--out", default=None, help="JSON file (default benchmarks/results/inference_speed.json)")
    args = p.parse_args(argv)

    warnings.filterwarnings("ignore")
    busy = busy_processes()
    if busy:
        print("WARNING: other training processes are running; timings will be distorted:\n  " + "\n  ".join(busy),
              file=sys.stderr)
    info = hardware("cpu")
    payload = {"hardware": info, "command": " ".join(sys.argv), "busy": busy, "time": time.strftime("%Y-%m-%d %H:%M")}
    print(f"# Inference on {describe(info)}\n")
    G_AB, G_BA, weights = load_generators(args.model, args.ngf, args.n_blocks, args.upsample)
    if args.speed:
        payload["speed"] = run_speed(args, G_AB, G_BA, weights)
        print(f"Full triptych (generate + reconstruct, PIL in and out), {weights}; image: "
              f"{payload['speed']['image']}; max abs vs eager fp32 over both outputs.\n")
        print(markdown_table(payload["speed"]["rows"], [
            ("size", "size"), ("backend", "backend"), ("median_s", "triptych (s)"), ("speedup", "vs eager"),
            ("setup_s", "first-call set-up (s)"), ("max_abs", "max abs diff"), ("within_1e-2", "within 1e-2"),
            ("discarded_busy_runs", "runs discarded (busy)"), ("error", "note")]))
    if args.memory:
        payload["memory"] = run_memory(args)
        print(f"\nPeak RSS of a full triptych in a fresh process (random weights, ngf {args.ngf}, "
              f"{args.n_blocks} blocks, {args.upsample} upsampling).\n")
        print(markdown_table(payload["memory"]["rows"], [
            ("backend", "backend"), ("size", "size"), ("tiling", "tiling"), ("peak_rss_mb", "peak RSS (MB)"),
            ("rss_before_mb", "RSS before (MB)"), ("seconds", "triptych (s)"), ("under_2GB", "< 2 GB"),
            ("other_load_cores", "other load (cores)"), ("error", "note")]))
    if args.tiling:
        payload["tiling"] = run_tiling(args, G_AB, G_BA)
        print(f"\nTiled vs untiled G_AB output at {args.tiling_size}px ({payload['tiling']['image']}, "
              f"{args.tiling_backend}; values in [-1, 1]).\n")
        print(markdown_table(payload["tiling"]["rows"], [
            ("case", "case"), ("seconds", "time (s)"), ("max_abs", "max abs"), ("mean_abs", "mean abs"),
            ("p99_abs", "99th pct abs")]))
    path = write_results("inference_speed", payload, args.out)
    print(f"\nwrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
