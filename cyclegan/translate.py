"""Translate pictures with a trained CycleGAN model: the ``Translator`` API, and a CLI for files and folders.

    python -m cyclegan.translate --model checkpoints/emoji --input photos/ --output out/ --direction AtoB
    python -m cyclegan.translate --model checkpoints/emoji --input photo.png --output out/
    python -m cyclegan.translate --model checkpoints/monet2photo --input clip.mp4 --output out/   # out/clip.mp4

``Translator`` loads a model folder or a Hub repo (``cyclegan.model_folder``), runs its generators on a backend
(``cyclegan.backends``: ONNX Runtime on the CPU by default, eager PyTorch on GPUs and as the fallback), and
translates big images in tiles (``cyclegan.tiling``).
"""
from __future__ import annotations

import argparse
import math
import sys
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from PIL import Image

from .backends import BACKENDS, Backend, Runner, RunnerKind, eager_runner, onnx_runner, resolve_backend
from .config import TileConfig, VideoConfig, program
from .cpu_graph import WINOGRAD_MIN_CHANNELS
from .device import resolve_device
from .direction import Direction, require
from .errors import DataError, ModelNotFoundError
from .hub import resolve_model_dir
from .model_folder import default_direction, generator_folders, load_generator, read_manifest
from .images import list_images, load_image, to_pil, to_rgb, to_tensor, triptych
from .tiling import blend_tiles, downscale

if TYPE_CHECKING:
    from .video import VideoInfo


class Translator:
    """The generators of a CycleGAN model (both, or one for a one-direction model), for translating and
    reconstructing single images.

    ``backend`` picks how the generators run (see ``cyclegan.backends``): ``auto``, the default, is ONNX
    Runtime on the CPU, with Winograd convolutions on layers of at least ``winograd_min_channels`` input
    channels, and eager PyTorch on CUDA or when onnxruntime is not installed. The backends give the same
    outputs up to float rounding; docs/PERFORMANCE.md compares their speed. ``threads`` and ``onnx_config``
    (session config entries) tune ONNX Runtime.

    Images with more than ``tiles.tile_threshold`` pixels are translated in ``tiles.tile_size`` tiles overlapping
    by ``tiles.tile_overlap`` pixels (``config.TileConfig``), so that memory grows with the tile size, not with the
    image: lower the threshold or the tile size when memory is short. The instance-norm statistics of every tile
    are those of the whole image (taken from a copy downscaled to at most ``stats_pixels`` pixels), and
    overlapping tiles are cross-faded, so no seams show. ``tiles=NO_TILES`` (a threshold of 0) turns tiling off.

    ``native_size`` is the scale the model was trained at: a model that has one (its manifest's
    ``native_size``) translates each picture resized to about ``native_size`` x ``native_size`` pixels, aspect
    kept, and gives the results back at the picture's own size, because its brush strokes or outlines only look
    right near that scale. ``native_size=0`` translates at the picture's own size. The direction ``__call__``
    takes by default is the manifest's ``default_direction`` (AtoB unless it says otherwise).
    """

    def __init__(self, G_AB: torch.nn.Module | None, G_BA: torch.nn.Module | None, manifest: dict | None = None,
                 device: str | torch.device = "cpu", *, backend: Backend = "auto", threads: int | None = None,
                 tiles: TileConfig = TileConfig(), stats_pixels: int | None = None, onnx_config: dict[str, str] | None = None,
                 winograd_min_channels: int = WINOGRAD_MIN_CHANNELS, native_size: int | None = None):
        self.device = torch.device(device)
        # A one-direction model (the reference's photo -> painting style_* models) has one generator and so
        # no reconstruction: __call__ then gives None for it.
        self.generators = {d: G.to(self.device).eval() for d, G in zip(Direction, (G_AB, G_BA)) if G is not None}
        if not self.generators:
            raise ValueError("a Translator needs at least one generator")
        self.manifest = manifest or {"name": "cyclegan", "domain_a": "A", "domain_b": "B"}
        if native_size is not None and native_size < 0:
            raise ValueError(f"native_size must be positive (or 0 for none); got {native_size}")
        self.native_size = native_size or None
        self.default_direction = default_direction(self.manifest, self.generators)
        self.backend = resolve_backend(backend, self.device)
        tiles.check()
        self.threads, self.winograd_min_channels = threads, winograd_min_channels
        # Idle ONNX Runtime threads sleep rather than spin: the two generators' sessions take turns, and a
        # spinning idle pool steals the cores from the working one (docs/PERFORMANCE.md).
        self.onnx_config = {"session.intra_op.allow_spinning": "0", **(onnx_config or {})}
        self.tiles = tiles
        self.stats_pixels = stats_pixels or tiles.tile_size * tiles.tile_size
        self._runners: dict[tuple[Direction, RunnerKind], Runner] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_pretrained(cls, path_or_repo_id: str | Path, *, device: str | torch.device = "cpu",
                        revision: str | None = None, token: str | None = None, cache_dir: str | None = None,
                        local_files_only: bool = False, **options) -> "Translator":
        """Load from a model folder (``G_AB/``, ``G_BA/``) or a Hub repo id holding one.

        ``options`` go to ``Translator`` (``backend``, ``threads``, ``tiles``, ...)."""
        folder = resolve_model_dir(path_or_repo_id, revision=revision, token=token, cache_dir=cache_dir,
                                   local_files_only=local_files_only)
        manifest = read_manifest(folder)
        subfolders = generator_folders(folder)
        G_AB, G_BA = (load_generator(subfolders[d]) if d in subfolders else None for d in Direction)
        options.setdefault("native_size", manifest.get("native_size"))
        return cls(G_AB, G_BA, manifest, device, **options)

    def check_direction(self, direction: Direction | str) -> Direction:
        """``direction`` as a Direction; ``ValueError`` in one line for an unknown one or one this model lacks."""
        return require(direction, self.generators, self.manifest.get("domain_a", "A"),
                       self.manifest.get("domain_b", "B"))

    # -- runners: what turns a padded 1x3xHxW batch into the generator's output -----------------------
    def _runner(self, direction: Direction, kind: RunnerKind = "whole") -> Runner:
        key = (direction, kind)
        runner = self._runners.get(key)
        if runner is None:
            with self._lock:
                runner = self._runners.get(key)
                if runner is None:
                    runner = self._runners[key] = self._make_runner(direction, kind)
        return runner

    def _make_runner(self, direction: Direction, kind: RunnerKind) -> Runner:
        G = self.generators[direction]
        if self.backend == "onnx" and kind != "stats":
            try:
                return onnx_runner(G, kind, threads=self.threads, config=self.onnx_config,
                                   min_channels=self.winograd_min_channels)
            except Exception as e:  # an exporter or runtime problem must not break translation
                warnings.warn(f"ONNX Runtime backend unavailable ({type(e).__name__}: {str(e)[:200]}); "
                              "using eager PyTorch")
                self.backend = "eager"
        return eager_runner(G, kind, self.device)

    # -- translation: the public methods check the direction, the private ones trust it --------------------
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

    def generate(self, x: torch.Tensor, direction: Direction | str, stats: torch.Tensor | None = None
                 ) -> torch.Tensor:
        """One generator on a 1x3xHxW batch in [-1, 1], any H and W; returns a CPU tensor of the same shape.

        The input is padded to a multiple of 4 and the output cropped back. ``stats`` (from ``image_stats``)
        normalises it with those instance-norm statistics instead of its own: a video frame with its recent
        frames', say. Above ``tiles.tile_threshold`` pixels the image goes through ``generate_tiled``.
        """
        return self._generate(x, self.check_direction(direction), stats)

    def image_stats(self, x: torch.Tensor, direction: Direction | str) -> torch.Tensor:
        """The generator's instance-norm statistics for image ``x``, measured on a copy downscaled to at most
        ``stats_pixels`` pixels (the whole image when it is that small)."""
        return self._image_stats(x, self.check_direction(direction))

    def generate_following(self, x: torch.Tensor, direction: Direction | str, stats: torch.Tensor | None = None
                           ) -> tuple[torch.Tensor, torch.Tensor]:
        """``generate`` with ``stats`` that also returns the statistics each layer saw (those of its own input,
        normalised upstream with ``stats``): statistics moved towards these frame after frame become a still scene's
        own with one pass a frame (``steady.Steadier``). Without ``stats`` they are first measured on ``x`` at its
        full size (a second pass). A picture big enough for tiles is measured on a downscaled copy, as
        ``generate_tiled`` normalises it, both for ``stats`` and for what is returned."""
        return self._generate_following(x, self.check_direction(direction), stats)

    def generate_tiled(self, x: torch.Tensor, direction: Direction | str, stats: torch.Tensor | None = None
                       ) -> torch.Tensor:
        """``generate`` in overlapping tiles: memory grows with the tile size, not with the image.

        Each tile is normalised with the whole image's statistics (``image_stats``; or ``stats``), so that tiles
        agree in tone, and overlapping tiles are blended with linear ramps that sum to 1.
        """
        return self._generate_tiled(x, self.check_direction(direction), stats)

    @torch.inference_mode()
    def _generate(self, x: torch.Tensor, direction: Direction, stats: torch.Tensor | None = None) -> torch.Tensor:
        h, w = x.shape[-2:]
        if self.tiles.tiles(h * w):
            return self._generate_tiled(x, direction, stats)
        if stats is None:
            return self._runner(direction)(self._pad(x))[..., :h, :w].cpu()
        return self._runner(direction, "frozen")(self._pad(x), stats)[..., :h, :w].cpu()

    @torch.inference_mode()
    def _generate_following(self, x: torch.Tensor, direction: Direction, stats: torch.Tensor | None = None
                            ) -> tuple[torch.Tensor, torch.Tensor]:
        h, w = x.shape[-2:]
        if self.tiles.tiles(h * w):
            seen = self._image_stats(x, direction)
            return self._generate_tiled(x, direction, seen if stats is None else stats), seen
        padded = self._pad(x)
        if stats is None:  # measured on the whole frame: a downscaled copy's differ, and would drift to these
            stats = self._runner(direction, "stats")(padded)
        y, seen = self._runner(direction, "follow")(padded, stats)
        return y[..., :h, :w].cpu(), seen.cpu()

    @torch.inference_mode()
    def _image_stats(self, x: torch.Tensor, direction: Direction) -> torch.Tensor:
        return self._runner(direction, "stats")(self._pad(downscale(x, self.stats_pixels))).cpu()

    @torch.inference_mode()
    def _generate_tiled(self, x: torch.Tensor, direction: Direction, stats: torch.Tensor | None = None
                        ) -> torch.Tensor:
        if x.shape[0] != 1:
            return torch.cat([self._generate_tiled(x[i:i + 1], direction, stats) for i in range(x.shape[0])])
        stats = self._image_stats(x, direction) if stats is None else stats
        run = self._runner(direction, "frozen")
        return blend_tiles(lambda tile: run(self._pad(tile), stats)[..., :tile.shape[-2], :tile.shape[-1]], x,
                           self.tiles.tile_size, self.tiles.tile_overlap)

    def working_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """The (width, height) a picture of ``size`` is translated at: about ``native_size`` squared pixels with
        the aspect kept, or ``size`` itself for a model without a native scale (or a picture within 2% of it)."""
        w, h = size
        scale = self.native_size / math.sqrt(w * h) if self.native_size else 1.0
        if abs(scale - 1) <= 0.02:
            return size
        return max(1, round(w * scale)), max(1, round(h * scale))

    def __call__(self, image: Image.Image, direction: Direction | str | None = None
                 ) -> tuple[Image.Image, Image.Image, Image.Image | None]:
        """(real, generated, reconstructed) PIL images, all of the input's size; reconstructed is None for a
        one-direction model, which has no generator to translate back with. ``direction`` defaults to the
        model's ``default_direction``; a model with a ``native_size`` translates at that scale."""
        direction = self.default_direction if direction is None else self.check_direction(direction)
        real = to_rgb(image)
        size = self.working_size(real.size)
        work = real if size == real.size else real.resize(size, Image.Resampling.LANCZOS)
        fake = self._generate(to_tensor(work), direction)
        back = direction.reverse
        rec = self._generate(fake, back) if back in self.generators else None
        fake, rec = (None if t is None else to_pil(t) for t in (fake, rec))
        if size != real.size:  # back to the picture's own size
            fake, rec = (None if im is None else im.resize(real.size, Image.Resampling.LANCZOS) for im in (fake, rec))
        return real, fake, rec

    def translate_video(self, src: str | Path, dst: str | Path, direction: Direction | str | None = None, *,
                        steady: bool = True, progress: bool = True, **options) -> "VideoInfo":
        """Translate the video ``src`` into the H.264 MP4 ``dst``, the audio kept; returns what was written.

        ``steady`` (the default) shares the instance-norm statistics between frames and smooths the output where
        the input stands still; ``steady=False`` translates each frame on its own. ``options`` are
        ``VideoConfig`` fields (``side_by_side``, ``max_seconds``, ``max_side``, ``smoothing``, ...).
        ``cyclegan.video.BadVideo`` says in one line what is wrong with an unusable input."""
        from .video import translate_video
        config = VideoConfig(**options) if steady else VideoConfig.frame_by_frame(**options)
        return translate_video(self, src, dst, direction, config, progress=progress)


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
    skipped: list[tuple[Path, str]] = []
    return list_images(path, skipped), skipped


def translate_video_file(translator: Translator, args: argparse.Namespace, direction: Direction,
                         config: VideoConfig) -> int:
    """The CLI's video path: ``--input`` translated into ``--output``/STEM.mp4."""
    from .video import translate_video
    if not Path(args.input).is_file():
        raise DataError(f"input not found: {args.input}")
    dest = Path(args.output) / f"{Path(args.input).stem}.mp4"
    info = translate_video(translator, args.input, dest, direction, config)
    print(f"wrote {dest}: {info.frames} frames, {info.width}x{info.height} at {float(info.fps):g} fps"
          + (f", sound ({info.audio})" if info.audio else ", no sound"))
    return 0


def main(argv: list[str] | None = None) -> int:
    from .config import HelpFormatter, add_dataclass_args
    from .images import VIDEO_SUFFIXES, is_video
    parser = argparse.ArgumentParser(prog=program("python -m cyclegan.translate"), formatter_class=HelpFormatter,
                                     description="Translate an image or a folder of images, writing a triptych PNG per "
                                                 "image (real | generated | reconstructed); or a video, writing a "
                                                 "steady translated H.264 MP4 with its sound.")
    parser.add_argument("--model", required=True, help="model folder or Hub repo id")
    parser.add_argument("--input", required=True, help="an image file, a folder of images (subfolders included), or "
                                                        "a video file (" + ", ".join(VIDEO_SUFFIXES) + ")")
    parser.add_argument("--output", required=True, help="folder for the triptychs, or for the translated video")
    parser.add_argument("--direction", choices=[d.value for d in Direction], default=None,
                        help="AtoB translates domain A images into domain B, BtoA the other way (default: the "
                             "model's default direction, AtoB unless its manifest names another)")
    parser.add_argument("--native-size", type=int, default=None,
                        help="translate each image at about NxN pixels and give the result at the image's size "
                             "(default: the model's native scale, if its manifest has one; 0: the image's own size)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (CUDA when present)")
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="how the generators run: auto is ONNX Runtime on CPU (eager PyTorch without it or on "
                             "CUDA); eager to compare with PyTorch's own outputs; see docs/PERFORMANCE.md")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads of the ONNX Runtime backend (default: its own choice); lower it to leave "
                             "cores to other work")
    add_dataclass_args(parser, TileConfig, "tiles")
    add_dataclass_args(parser, VideoConfig, "video")
    parser.add_argument("--frame-by-frame", action="store_true",
                        help="video: translate each frame on its own (no shared statistics, no smoothing), as the "
                             "reference implementation does; it flickers")
    args = parser.parse_args(argv)
    try:
        translator = Translator.from_pretrained(
            args.model, device=resolve_device(args.device), backend=args.backend, threads=args.threads,
            tiles=TileConfig(**{f: getattr(args, f) for f in TileConfig.__dataclass_fields__}),
            **({} if args.native_size is None else {"native_size": args.native_size}))
        # A one-direction model: say so before any image.
        direction = translator.check_direction(args.direction or translator.default_direction)
        if is_video(args.input):
            fields = {f: getattr(args, f) for f in VideoConfig.__dataclass_fields__}
            config = VideoConfig.frame_by_frame(**fields) if args.frame_by_frame else VideoConfig(**fields)
            return translate_video_file(translator, args, config=config, direction=direction)
        files, skipped = input_images(args.input)
    except (ModelNotFoundError, DataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    from tqdm.auto import tqdm
    for path in tqdm(files, desc=f"{direction}"):
        try:
            image = load_image(path)
        except OSError as e:
            warnings.warn(f"skipping unreadable image {path}: {e}")
            skipped.append((path, f"unreadable: {e}"))
            continue
        images = [im for im in translator(image, direction) if im is not None]  # no rec: one-direction
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
