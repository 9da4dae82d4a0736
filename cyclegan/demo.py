"""The demo's handlers: ``Demo`` holds what they share (the model cache, the upload limits, the results folders, the
sandbox that decodes uploads) and each of its methods is one event's function (the public ones are the API), so
each can be called and tested on its own. The page that wires them is ``cyclegan.page``; the server that serves it,
``cyclegan.server``.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import gradio as gr
from PIL import Image

from .catalog import ModelCache, ModelSpec, check_direction, direction_choices, model_info, reconstructed_label
from .config import UploadLimits
from .direction import Direction
from .errors import BadImage, CatalogError
from .guard import as_toast, read_upload, toast
from .images import to_tensor, triptych
from .memory import Reclaimer
from .metrics import psnr
from .sandbox import Sandbox
from .uploads import DiskBudget, confine, fit, fresh_folder, gradio_temp, human_size, save_png, save_triptych
from . import zerogpu

# No telemetry from a server of this app. Gradio reads the variable when it would send (a launch, a failed share
# link), not at import, so setting it here, before any Blocks, is enough; the Blocks also say analytics_enabled=False.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

class Demo:
    """What the handlers share, and the handlers: each method is one event's function (the public ones are the API).

    On ZeroGPU the translations run where a GPU is lent (``zerogpu``) and every model is loaded, on CUDA, when the
    demo is made; one that cannot be loaded then is left out, with a line on the console."""

    def __init__(self, models: list[ModelSpec], *, limits: UploadLimits = UploadLimits(),
                 zoo_dir: str | Path | None = None, device: str = "cpu", examples_dir: str | Path | None = None):
        if not models:
            raise ValueError("no models: put a model folder in checkpoints/ or pass --model")
        self.models, self.limits = models, limits
        self.cache = ModelCache(models, zoo_dir or Path.home() / ".cache" / "cyclegan" / "zoo", device)
        # Gradio's temp dir holds the uploads and the results offered for download; fresh_folder prunes the latter.
        self.temp = gradio_temp()
        self.downloads, self.videos, self.results = (self.temp / f"cyclegan-{name}" for name in ("triptychs", "videos",
                                                                                                   "results"))
        # The only places a path from a client may lead: Gradio's upload folder (the same temp dir) and the examples.
        self.roots = [self.temp.resolve(), *([Path(examples_dir).resolve()] if examples_dir else [])]
        self.disk = DiskBudget(self.temp, limits.max_disk_bytes)
        self.sandbox = Sandbox(limits.decode_memory_bytes, limits.decode_seconds)  # where uploads are decoded
        self.memory = Reclaimer()
        zerogpu.DEMOS[id(self)] = self
        self.on_device = zerogpu.gpu(zerogpu.translate_on_device, zerogpu.PICTURE_GPU_SECONDS)
        self.clip_on_device = zerogpu.gpu(zerogpu.clip_on_device, zerogpu.clip_gpu_seconds)
        if zerogpu.enabled():
            self._load_all()

    def _load_all(self) -> None:
        """ZeroGPU's stand-in for CUDA takes weights only in the thread that imported ``spaces`` (the main one, which
        makes the demo): a Hub or reference model loaded on first use, in a request's thread, would reach the real
        CUDA and fail. So every model is loaded now, and one that cannot be is no longer offered."""
        for spec in list(self.models):
            try:
                self.cache.get(spec.key)
            except CatalogError as e:
                print(f"* Not listed: {spec.key} (on ZeroGPU every model is loaded at start): {e}", flush=True)
                self.cache.specs.pop(spec.key)
                self.models = [s for s in self.models if s is not spec]
        if not self.models:
            raise ValueError("no models: none of the models listed could be loaded")

    def settle(self) -> None:
        """After a request, failed or not: its memory handed back (``memory.Reclaimer``)."""
        self.memory.settle()

    def resolve(self, model, direction) -> tuple[ModelSpec, Direction]:
        """The request's model (default: the first listed) and direction (default: the model's), checked once;
        anything a client sends is checked here first, a list or a dict where a name belongs too."""
        self.disk.keep()
        with as_toast():
            spec = self.cache.spec(model or self.models[0].key)
            return spec, check_direction(spec, direction or spec.default_direction)

    def translate(self, image, model, direction, progress=gr.Progress(track_tqdm=True), with_triptych=True):
        """Translate a picture with a CycleGAN model, and translate the result back (cycle consistency).

        Args:
            image: the picture to translate (any image file, uploaded or, over MCP, inline as a data: URL; a web
                address is not fetched; the long side is resized to the app's limit).
            model: the model, by its key or label; default: the first one listed.
            direction: 'AtoB' (domain A to domain B, as the model's name says) or 'BtoA'; default: the model's
                own (photo -> Monet, BtoA, for monet2photo).
        Returns:
            real, generated and reconstructed PNGs, seconds taken, PSNR (dB) of reconstructed vs real, triptych PNG.
        """
        # progress: a reference model's first use downloads it; Gradio shows the download's tqdm bar.
        start = time.perf_counter()
        spec, direction = self.resolve(model, direction)
        try:
            with as_toast():
                picture = self.read(image)
                self.cache.get(spec.key, direction)  # loaded here (a Hub model's directions are known once it is)
            real, fake, rec = self.on_device(id(self), spec.key, picture, direction.value)
            # A one-direction model has no reconstruction (rec is None): no PSNR either, and a two-image triptych.
            score = None if rec is None else round(psnr(to_tensor(real), to_tensor(rec), data_range=2.0), 2)
            # Fast PNGs (zlib level 1), not Gradio's default level: on 2 cores four 512 px PNGs cost a translation.
            folder = fresh_folder(self.results)
            paths = [None if im is None else str(save_png(im, folder / f"{name}.png"))
                     for name, im in (("real", real), ("generated", fake), ("reconstructed", rec))]
            trip = self.save_triptych([real, fake, rec], spec, direction) if with_triptych else None
            del picture, real, fake, rec
        finally:  # a refused picture may have been decoded in part: its memory goes back too
            self.settle()
        return (*paths, round(time.perf_counter() - start, 3), score, trip)

    def read(self, payload) -> Image.Image:
        """A picture a client sent (its raw payload), checked, decoded in the sandbox and fitted to the app's size;
        gr.Error in one line if it cannot be."""
        return fit(read_upload(payload, self.roots, self.sandbox, **self.limits.decode()), self.limits.max_side)

    def translate_page(self, image, model, direction, progress=gr.Progress(track_tqdm=True)):
        """The page's server path: translate() without the triptych (built when Download is clicked), where it ran,
        and Real against Generated for the compare slider."""
        real, fake, rec, seconds, score, _ = self.translate(image, model, direction, progress, with_triptych=False)
        return real, fake, rec, seconds, score, "Translated on the server.", (real, fake)

    def make_triptych(self, real, fake, rec, model, direction):
        """Download triptych: the three images of the page side by side, built now (None: nothing to build). The
        images come back from the page as any client's files do: checked and decoded like an upload."""
        try:
            images = [self.read(im) for im in (real, fake, rec) if im is not None]
            return self.save_triptych(images, *self.resolve(model, direction)) if len(images) >= 2 else None
        finally:
            self.settle()

    def save_triptych(self, images: list[Image.Image | None], spec: ModelSpec, direction: Direction) -> str:
        """The images side by side, as a PNG offered for download (a one-direction model's rec is None: left out)."""
        return str(save_triptych(triptych(*(im for im in images if im is not None)), self.downloads,
                                 f"cyclegan-{Path(spec.source).name}-{direction.value}"))

    def translate_video(self, video, model, direction, steady=True, side_by_side=False,
                        progress=gr.Progress(track_tqdm=True)):
        """Translate a short video with a CycleGAN model, steady from frame to frame, keeping its sound.

        Args:
            video: the video file (MP4, WebM, MOV, ...; uploaded, a web address is not fetched; frames are resized
                like pictures, to the app's limit).
            model: the model, by its key or label; default: the first one listed.
            direction: 'AtoB' or 'BtoA'; default: the model's own.
            steady: share the normalisation statistics between frames and smooth where nothing moves (default);
                False translates each frame on its own, which flickers.
            side_by_side: the input and the translation side by side in one video.
        Returns:
            the translated H.264 MP4, and a line saying what was done.
        """
        start = time.perf_counter()
        spec, direction = self.resolve(model, direction)
        named = video.get("path") if isinstance(video, dict) else video  # the input's FileData, or a path
        if not named:
            raise gr.Error("No video: upload a clip first.", print_exception=False)
        try:
            path = confine(named, self.roots)
        except BadImage as e:
            raise toast(str(e)) from None
        if path.stat().st_size > self.limits.max_video_bytes:
            raise gr.Error(f"Video too large: {human_size(path.stat().st_size)} > limit of "
                           f"{human_size(self.limits.max_video_bytes)}", print_exception=False)
        with as_toast():
            self.cache.get(spec.key, direction)
        folder = fresh_folder(self.videos)
        out = folder / f"cyclegan-{Path(spec.source).name}-{direction}.mp4"
        try:
            info = self.clip_on_device(id(self), spec.key, str(path), str(out), direction.value, bool(steady),
                                       bool(side_by_side), self.limits.video())
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)  # nothing half-written stays behind
            raise
        finally:
            self.settle()
        seconds = time.perf_counter() - start
        return str(out), (f"{info.frames} frames at {info.width}×{info.height}, {float(info.fps):g} fps"
                          f"{', with its sound' if info.audio else ''}; translated in {seconds:.1f} s "
                          f"({info.frames / seconds:.1f} frames/s), {'steady' if steady else 'frame by frame'}.")

    def select_model(self, model):
        """Direction choices, model info, and the Reconstructed and PSNR boxes as fit the model (a one-direction
        model has neither a second direction nor a reconstruction)."""
        with as_toast():
            spec = self.cache.spec(model)
        if spec.kind == "hub" and not self.cache.loaded(model):
            try:
                self.cache.get(model)  # fetches now, so the domain names are known and a failure shows at once
            except CatalogError as e:
                gr.Warning(str(e), duration=15)
                return gr.update(choices=direction_choices(spec)), f"⚠️ {e}", gr.update(), gr.update()
        one_way = len(spec.directions) == 1
        only = {"value": Direction(spec.directions[0]).value} if one_way else {}
        direction = gr.update(choices=direction_choices(spec), **only)
        return (direction, model_info(spec), gr.update(label=reconstructed_label(spec)),
                gr.update(visible=not one_way))

    def select_video_model(self, model):
        """The Video tab's direction choices for the model picked, on its default direction."""
        with as_toast():
            spec = self.cache.spec(model)
        return gr.update(choices=direction_choices(spec), value=spec.default_direction.value)

    @staticmethod
    def show_stats() -> gr.Row:
        return gr.Row(visible=True)

    @staticmethod
    def clear_results() -> tuple[None, None, None, gr.Row]:
        return None, None, None, gr.Row(visible=False)
