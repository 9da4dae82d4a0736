"""Inference: translate PIL images with a trained pair of generators, and a CLI for whole folders.

    python -m cyclegan.translate --model checkpoints/emoji --input photos/ --output out/ --direction AtoB
    python -m cyclegan.translate --model checkpoints/emoji --input photo.png --output out/

On CPU the generators run through ONNX Runtime (``backend="auto"``; each graph is exported in memory on first
use, see ``cyclegan.export``), with eager PyTorch as the fallback and on GPUs. Big images are translated in
overlapping tiles that share the whole image's normalisation statistics (``Translator.generate_tiled``).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import sys
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .data import IMAGE_EXTENSIONS, DataError, list_images, load_image, to_rgb
from .export import StatsGenerator, onnx_model, stats_onnx_model
from .hub import GENERATOR_FOLDERS, ModelNotFoundError, load_generator, read_manifest

Direction = Literal["AtoB", "BtoA"]
# A Hub repo id is "name" or "owner/name"; anything else that does not exist locally is a wrong path.
REPO_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")


def to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL RGB -> 1x3xHxW in [-1, 1]."""
    array = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy())
    return array.permute(2, 0, 1).unsqueeze(0).float().div(127.5).sub(1)


def to_pil(x: torch.Tensor) -> Image.Image:
    """1x3xHxW in [-1, 1] -> PIL RGB."""
    array = x[0].float().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8).permute(1, 2, 0)
    return Image.fromarray(array.cpu().numpy(), "RGB")


def triptych(*images: Image.Image) -> Image.Image:
    """Images side by side (real | generated | reconstructed) on one canvas."""
    canvas = Image.new("RGB", (sum(im.width for im in images), max(im.height for im in images)), "white")
    x = 0
    for im in images:
        canvas.paste(im, (x, 0))
        x += im.width
    return canvas


def save_triptych(image: Image.Image, folder: Path, stem: str, max_age: float = 3600) -> Path:
    """Write ``image`` as ``folder/<random>/<stem>.png`` (a fresh subfolder, so that concurrent requests never
    overwrite each other's file); subfolders older than ``max_age`` s are deleted on the way."""
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in folder.iterdir():
        try:
            if now - old.stat().st_mtime > max_age:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass
    path = folder / uuid.uuid4().hex / f"{stem}.png"
    path.parent.mkdir()
    image.save(path)
    return path


def resolve_model_dir(path_or_repo_id: str | Path, *, revision: str | None = None, token: str | None = None,
                      cache_dir: str | None = None, local_files_only: bool = False) -> Path:
    """A local model folder as is, or a Hub repo's snapshot (from the cache when offline)."""
    path = Path(path_or_repo_id)
    if path.is_dir():
        return path
    name = str(path_or_repo_id)
    if path.exists() or not REPO_ID.match(name) or name.startswith((".", "/")):
        raise ModelNotFoundError(f"model folder not found: {name}")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError
    try:
        return Path(snapshot_download(name, revision=revision, token=token, cache_dir=cache_dir,
                                      local_files_only=local_files_only, etag_timeout=5,
                                      allow_patterns=["manifest.json", "README.md", "samples.png", "G_AB/*", "G_BA/*"]))
    except RepositoryNotFoundError:
        raise ModelNotFoundError(f"no Hub model repo {name!r} (or it is private: pass a token)") from None
    except LocalEntryNotFoundError:
        raise ModelNotFoundError(f"Hub model {name!r} is not in the local cache and the Hub cannot be reached "
                                 "(offline or HF_HUB_OFFLINE=1)") from None
    except (HfHubHTTPError, OSError) as e:
        raise ModelNotFoundError(f"could not fetch Hub model {name!r}: {str(e).splitlines()[0]}") from None


# -- backends ---------------------------------------------------------------------------------------------
# One path per device: ONNX Runtime on CPU (fastest within 1e-2 of eager on the shipped models,
# docs/PERFORMANCE.md), eager PyTorch on CUDA and wherever onnxruntime is missing or fails. "auto" picks.
Backend = Literal["auto", "eager", "onnx"]
BACKENDS = ("auto", "eager", "onnx")


def onnxruntime_available() -> bool:
    """Whether the ONNX backends can run: onnxruntime, and the onnx package that torch's exporter needs."""
    try:
        import onnxruntime  # noqa: F401
        return importlib.util.find_spec("onnx") is not None
    except (ImportError, ValueError):
        return False


def resolve_backend(backend: str, device: torch.device) -> str:
    """The backend that ``backend`` means on ``device``: ``auto`` is ONNX Runtime on CPU when it is installed,
    else eager PyTorch."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if backend == "auto":
        return "onnx" if device.type == "cpu" and onnxruntime_available() else "eager"
    if backend == "onnx" and device.type != "cpu":
        raise ValueError(f"backend {backend!r} runs on the CPU only; use backend='eager' on {device}")
    return backend


def tile_spans(length: int, tile: int, overlap: int, align: int = 4) -> list[tuple[int, int]]:
    """(start, end) of tiles of about ``tile`` pixels covering ``[0, length)``, evenly spread, overlapping by
    at least ``overlap``. Starts are multiples of ``align``: the generator downsamples by 4, so only such
    shifts translate a tile exactly like the same pixels of the whole image."""
    if length <= tile:
        return [(0, length)]
    n = -(-(length - overlap) // (tile - overlap))
    starts = [round(i * (length - tile) / (n - 1) / align) * align for i in range(n)]
    return [(s, min(length, s + tile) if i < n - 1 else length) for i, s in enumerate(starts)]


def blend_ramp(spans: list[tuple[int, int]], i: int) -> torch.Tensor:
    """1-D weights of tile ``i``: 0 on the outer quarter of each overlap with a neighbour (pixels too close
    to the tile's edge, where the generator lacks context), a linear ramp across the middle half, 1 elsewhere.

    Where two tiles overlap their weights add up to exactly 1, so a smooth image stays smooth: no step
    at the tile borders, only a gradual cross-fade between two translations of the same pixels.
    """
    start, end = spans[i]
    w = torch.ones(end - start)
    pos = torch.arange(end - start, dtype=torch.float32) + 0.5

    def ramp(p: torch.Tensor, n: int) -> torch.Tensor:  # 0 for p < n/4, 1 for p > 3n/4
        return ((p - n / 4) / (n / 2)).clamp(0, 1)
    if i > 0:
        w = torch.minimum(w, ramp(pos, spans[i - 1][1] - start))
    if i < len(spans) - 1:
        w = torch.minimum(w, ramp(end - start - pos, end - spans[i + 1][0]))
    return w


class Translator:
    """Both generators of a CycleGAN model, for translating and reconstructing single images.

    ``backend`` picks how the generators run (see ``BACKENDS``); the default, ``auto``, is ONNX Runtime on
    CPU (1.3x faster than eager PyTorch on the shipped models at 512 px, same outputs within 1e-4;
    docs/PERFORMANCE.md) and eager PyTorch on CUDA or when onnxruntime is not installed.

    Images with more than ``tile_threshold`` pixels are translated in ``tile_size`` tiles overlapping by
    ``tile_overlap`` pixels, so that memory stays bounded (a 2048x2048 image stays under 2 GB). The
    instance-norm statistics of every tile are those of the whole image (measured on a copy downscaled to
    at most ``stats_pixels`` pixels), and overlapping tiles are cross-faded, so no seams show.
    ``tile_threshold=None`` turns tiling off.
    """

    def __init__(self, G_AB: torch.nn.Module | None, G_BA: torch.nn.Module | None, manifest: dict | None = None,
                 device: str | torch.device = "cpu", *, backend: Backend = "auto", threads: int | None = None,
                 tile_size: int = 512, tile_overlap: int = 64, tile_threshold: int | None = 1024 * 1024,
                 stats_pixels: int | None = None,
                 onnx_config: dict[str, str] | None = None):
        self.device = torch.device(device)
        # A one-direction model (the reference's photo -> painting style_* models) has one generator and so
        # no reconstruction: __call__ then gives None for it.
        self.generators = {d: G.to(self.device).eval() for d, G in (("AtoB", G_AB), ("BtoA", G_BA)) if G is not None}
        if not self.generators:
            raise ValueError("a Translator needs at least one generator")
        self.manifest = manifest or {"name": "cyclegan", "domain_a": "A", "domain_b": "B"}
        self.backend = resolve_backend(backend, self.device)
        if tile_overlap < 0 or tile_size < 16 or 2 * tile_overlap > tile_size:
            raise ValueError(f"need tile_size >= 16 and 0 <= 2 * tile_overlap <= tile_size; "
                             f"got {tile_size} and {tile_overlap}")
        self.threads = threads
        # ONNX Runtime session config entries. Idle threads sleep rather than spin: the two generators' sessions
        # take turns, and a spinning idle pool steals the cores from the working one (measured: 1.66x vs 1.43x
        # eager speed at 256 px on 2 cores).
        self.onnx_config = {"session.intra_op.allow_spinning": "0", **(onnx_config or {})}
        self.tile_size, self.tile_overlap, self.tile_threshold = tile_size, tile_overlap, tile_threshold
        self.stats_pixels = stats_pixels or tile_size * tile_size
        self._runners: dict[tuple[str, str], object] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_pretrained(cls, path_or_repo_id: str | Path, *, device: str | torch.device = "cpu",
                        revision: str | None = None, token: str | None = None, cache_dir: str | None = None,
                        local_files_only: bool = False, **options) -> "Translator":
        """Load from a model folder (``G_AB/``, ``G_BA/``) or a Hub repo id holding one.

        ``options`` go to ``Translator`` (``backend``, ``threads``, ``tile_size``, ...)."""
        folder = resolve_model_dir(path_or_repo_id, revision=revision, token=token, cache_dir=cache_dir,
                                   local_files_only=local_files_only)
        manifest = read_manifest(folder)
        directions = manifest["directions"]
        if not directions or not set(directions) <= set(GENERATOR_FOLDERS):
            raise ModelNotFoundError(f"{folder / 'manifest.json'}: directions must list 'AtoB' and/or 'BtoA', "
                                     f"got {directions!r}")
        G_AB, G_BA = (load_generator(folder / sub) if d in directions else None
                      for d, sub in GENERATOR_FOLDERS.items())
        return cls(G_AB, G_BA, manifest, device, **options)

    # -- runners: what turns a padded 1x3xHxW batch into the generator's output -----------------------
    def _runner(self, direction: str, kind: str = "whole"):
        key = (direction, kind)
        runner = self._runners.get(key)
        if runner is None:
            with self._lock:
                runner = self._runners.get(key)
                if runner is None:
                    runner = self._runners[key] = self._make_runner(direction, kind)
        return runner

    def _make_runner(self, direction: str, kind: str):
        G = self.generators[direction]
        if kind == "stats":  # eager on every backend: it runs once per image, on a downscaled copy
            module = StatsGenerator(G).eval()
            return lambda x: module.record(x.to(self.device))
        if self.backend == "onnx":
            try:
                return self._onnx_runner(G, kind)
            except Exception as e:  # an exporter or runtime problem must not break translation
                warnings.warn(f"ONNX Runtime backend unavailable ({type(e).__name__}: {str(e)[:200]}); "
                              "using eager PyTorch")
                self.backend = "eager"
        if kind == "tiles":
            module = StatsGenerator(G).eval()
            return lambda x, stats: module(x.to(self.device), stats.to(self.device))
        return lambda x: G(x.to(self.device))

    def _onnx_runner(self, G: torch.nn.Module, kind: str):
        import onnxruntime as ort
        options = ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
        for key, value in self.onnx_config.items():
            options.add_session_config_entry(key, value)
        providers = ["CPUExecutionProvider"]
        if kind == "whole":
            session = ort.InferenceSession(onnx_model(G), options, providers=providers)
            return lambda x: torch.from_numpy(session.run(None, {"input": x.float().contiguous().numpy()})[0])
        session = ort.InferenceSession(stats_onnx_model(G), options, providers=providers)
        return lambda x, stats: torch.from_numpy(session.run(None, {
            "input": x.float().contiguous().numpy(), "stats": stats.float().contiguous().numpy()})[0])

    # -- translation ----------------------------------------------------------------------------------
    @staticmethod
    def _pad(x: torch.Tensor) -> torch.Tensor:
        """Pad to a multiple of 4 (the generator halves the resolution twice), and to at least 8 so that its
        reflection pads fit."""
        h, w = x.shape[-2:]
        H, W = max(8, -(-h // 4) * 4), max(8, -(-w // 4) * 4)
        if (H, W) != (h, w):
            mode = "reflect" if H - h < h and W - w < w else "replicate"
            x = F.pad(x, (0, W - w, 0, H - h), mode=mode)
        return x

    @torch.inference_mode()
    def generate(self, x: torch.Tensor, direction: Direction) -> torch.Tensor:
        """One generator on a 1x3xHxW batch in [-1, 1], any H and W; returns a CPU tensor of the same shape.

        The input is padded to a multiple of 4 and the output cropped back. Above ``tile_threshold``
        pixels the image goes through ``generate_tiled``.
        """
        self._check_direction(direction)
        h, w = x.shape[-2:]
        if self.tile_threshold is not None and h * w > self.tile_threshold:
            return self.generate_tiled(x, direction)
        return self._runner(direction)(self._pad(x))[..., :h, :w].cpu()

    @torch.inference_mode()
    def image_stats(self, x: torch.Tensor, direction: Direction) -> torch.Tensor:
        """The generator's instance-norm statistics for image ``x``, measured on a copy downscaled to at most
        ``stats_pixels`` pixels (the whole image when it is that small)."""
        h, w = x.shape[-2:]
        if h * w > self.stats_pixels:
            scale = (self.stats_pixels / (h * w)) ** 0.5
            size = (max(8, int(h * scale)), max(8, int(w * scale)))
            x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
        return self._runner(direction, "stats")(self._pad(x)).cpu()

    @torch.inference_mode()
    def generate_tiled(self, x: torch.Tensor, direction: Direction, stats: torch.Tensor | None = None
                       ) -> torch.Tensor:
        """``generate`` in overlapping tiles: memory grows with the tile size, not with the image.

        Each tile is normalised with the whole image's statistics (``image_stats``), so that tiles agree in
        tone, and overlapping tiles are blended with linear ramps that sum to 1.
        """
        self._check_direction(direction)
        if x.shape[0] != 1:
            return torch.cat([self.generate_tiled(x[i:i + 1], direction) for i in range(x.shape[0])])
        stats = self.image_stats(x, direction) if stats is None else stats
        run = self._runner(direction, "tiles")
        h, w = x.shape[-2:]
        ys, xs = (tile_spans(n, self.tile_size, self.tile_overlap) for n in (h, w))
        out = torch.zeros(1, 3, h, w)
        total = torch.zeros(1, 1, h, w)
        for i, (y0, y1) in enumerate(ys):
            wy = blend_ramp(ys, i)
            for j, (x0, x1) in enumerate(xs):
                y = run(self._pad(x[..., y0:y1, x0:x1]), stats)[..., :y1 - y0, :x1 - x0].cpu().float()
                weight = (wy[:, None] * blend_ramp(xs, j)[None, :]).view(1, 1, y1 - y0, x1 - x0)
                out[..., y0:y1, x0:x1] += y * weight
                total[..., y0:y1, x0:x1] += weight
        return out / total

    def _check_direction(self, direction: str) -> None:
        if direction not in ("AtoB", "BtoA"):
            raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
        if direction not in self.generators:
            a, b = self.manifest.get("domain_a", "A"), self.manifest.get("domain_b", "B")
            src, dst = (a, b) if direction == "AtoB" else (b, a)
            raise ValueError(f"this model has no {direction} generator ({src} -> {dst}): it is a one-direction "
                             f"model that translates {' and '.join(self.generators)} only")

    def __call__(self, image: Image.Image, direction: Direction = "AtoB"
                 ) -> tuple[Image.Image, Image.Image, Image.Image | None]:
        """(real, generated, reconstructed) PIL images, all of the input's size; reconstructed is None for a
        one-direction model, which has no generator to translate back with."""
        self._check_direction(direction)
        real = to_rgb(image)
        back: Direction = "BtoA" if direction == "AtoB" else "AtoB"
        fake = self.generate(to_tensor(real), direction)
        rec = self.generate(fake, back) if back in self.generators else None
        return real, to_pil(fake), None if rec is None else to_pil(rec)


MAX_LISTED = 20  # skipped files listed one per line; beyond that only counted


def input_images(path: str | Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """What ``--input`` names: (images to translate, [(file left out, why)]).

    A file is taken as it is (its decoding says whether it is an image). A folder gives its images as
    ``list_images`` finds them, and every other entry it passed over, so that nothing is dropped silently.
    """
    path = Path(path)
    if path.is_file():
        return [path], []
    if not path.is_dir():
        raise DataError(f"input not found: {path} (give an image file or a folder of images)")
    files = list_images(path)
    chosen, skipped = set(files), []
    for root, dirs, names in os.walk(path):
        for d in sorted(d for d in dirs if d.startswith(".")):
            skipped.append((Path(root) / d, "hidden folder, not searched"))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            file = Path(root) / name
            if file in chosen:
                continue
            why = ("hidden file" if name.startswith(".") else "not a file" if not file.is_file() else
                   f"not an image type ({file.suffix or 'no extension'}; "
                   f"reads {', '.join(sorted(IMAGE_EXTENSIONS))})")
            skipped.append((file, why))
    return files, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cyclegan.translate",
                                     description="Translate an image or a folder of images; writes a triptych PNG per image "
                                                 "(real | generated | reconstructed).")
    parser.add_argument("--model", required=True, help="model folder or Hub repo id")
    parser.add_argument("--input", required=True, help="an image file, or a folder of images (subfolders included)")
    parser.add_argument("--output", required=True, help="folder for the triptychs")
    parser.add_argument("--direction", choices=["AtoB", "BtoA"], default="AtoB")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="how the generators run: auto is ONNX Runtime on CPU (eager PyTorch without it or on "
                             "CUDA); see docs/PERFORMANCE.md")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads of the ONNX Runtime backend")
    parser.add_argument("--tile-size", type=int, default=512, help="tile size for big images")
    parser.add_argument("--tile-overlap", type=int, default=64, help="overlap of neighbouring tiles")
    parser.add_argument("--tile-threshold", type=int, default=1024 * 1024,
                        help="images with more pixels than this are translated in tiles (0: never)")
    args = parser.parse_args(argv)
    try:
        translator = Translator.from_pretrained(
            args.model, device=args.device, backend=args.backend, threads=args.threads, tile_size=args.tile_size,
            tile_overlap=args.tile_overlap, tile_threshold=args.tile_threshold or None)
        translator._check_direction(args.direction)  # a one-direction model: say so before reading any image
        files, skipped = input_images(args.input)
    except (ModelNotFoundError, DataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    from tqdm.auto import tqdm
    for path in tqdm(files, desc=f"{args.direction}"):
        try:
            image = load_image(path)
        except OSError as e:
            warnings.warn(f"skipping unreadable image {path}: {e}")
            skipped.append((path, f"unreadable: {e}"))
            continue
        images = [im for im in translator(image, args.direction) if im is not None]  # no rec: one-direction
        # Mirrors the input's subfolders, so that a/x.jpg and b/x.jpg do not overwrite each other's triptych.
        base = Path(args.input)
        dest = out / (path.relative_to(base).with_suffix(".png") if base.is_dir() else f"{path.stem}.png")
        dest.parent.mkdir(parents=True, exist_ok=True)
        triptych(*images).save(dest)
        written += 1
    print(f"wrote {written} triptych(s) to {out}" + (f"; skipped {len(skipped)}:" if skipped else ""))
    for path, why in skipped[:MAX_LISTED]:
        print(f"  {path}: {why}")
    if len(skipped) > MAX_LISTED:
        print(f"  ... and {len(skipped) - MAX_LISTED} more")
    if not written:
        print("error: no image could be translated", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
