"""The Gradio demo: the Image and Video tabs, their event handlers, and the launch with the page's client inference.

``build_demo(models)`` gives the Blocks; ``Demo`` holds what the handlers share (the model cache, the upload limits,
the results folders) and its methods are the handlers, so each can be called and tested on its own. ``app.py`` is
the command line in front of ``launch``. The page's scripts live in ``webapp/`` (``events/*.js`` for the buttons,
``gradio-client.js`` for translating in the browser).
"""
from __future__ import annotations

import ctypes
import os
import shutil
import sys
import threading
import time
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Iterator

import gradio as gr
from gradio.exceptions import InvalidPathError
import torch
from PIL import Image

from .config import UploadLimits
from .catalog import (ModelCache, ModelSpec, check_direction, direction_choices, examples_cache_dir, load_examples,
                      model_info, reconstructed_label)
from .direction import Direction
from .errors import BadImage, BadVideo, CatalogError
from .images import to_tensor, triptych
from .metrics import psnr
from .sandbox import Sandbox
from .uploads import (NOT_AN_UPLOAD, DiskBudget, check_payload, confine, decode_upload, fit, fresh_folder,
                      gradio_temp, human_size, save_png, save_triptych)
from .web_runtime import WEBAPP
from . import zerogpu

# No telemetry from a server of this app. Gradio reads the variable when it would send (a launch, a failed share
# link), not at import, so setting it here, before any Blocks, is enough; the Blocks also say analytics_enabled=False.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

# Small results (a 64 px emoji) are scaled up to fill their box; the server's own buttons are in the page, unseen.
CSS = ".result img { width: 100%; height: 100%; object-fit: contain; } .cg-hidden { display: none !important; }"
STEGANOGRAPHY_NOTE = (
    "**Cycle consistency.** *Reconstructed* is *Generated* translated back; the PSNR (dB) of Reconstructed "
    "against Real scores how well the cycle closes (higher is closer, 100 = identical). A near-perfect "
    "reconstruction is not proof of a faithful translation: CycleGAN can hide the source picture in "
    "imperceptible, low-amplitude detail of the generated image and decode it on the way back "
    "([Chu et al. 2017, \"CycleGAN, a master of steganography\"](https://arxiv.org/abs/1712.02950))."
)


def _libc_malloc_trim():
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        return None


_malloc_trim = _libc_malloc_trim()
M_ARENA_MAX = -8  # glibc's mallopt parameter


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """At most ``arenas`` glibc malloc arenas from now on (glibc's default: 8 per core). Each thread that allocates
    while another does gets an arena of its own, and memory freed in one is not reused by another: the server's
    worker threads and FFmpeg's decoding threads each kept their own high-water mark, and RSS grew by ~150 MB under a
    load of videos (to 2 arenas: ~10 MB). Whether glibc took the setting."""
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):  # not glibc: its allocator has its own ways
        return False


def page_script(name: str) -> str:
    """``webapp/events/NAME.js``, one JavaScript function for an event's ``js=`` (its comment lines left out)."""
    text = (WEBAPP / "events" / f"{name}.js").read_text()
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))


def toast(message: str) -> gr.Error:
    """A one-line reason for the person who sent the file, as the error toast they read. No title=: Gradio 6 heads
    every toast with its type ("Error"), so the message itself says what is wrong."""
    return gr.Error(message[0].upper() + message[1:], print_exception=False)


def read_upload(payload, roots: list[Path] | None = None, sandbox: Sandbox | None = None, **limits) -> Image.Image:
    """The image input's raw payload (a FileData dict, a path or a data: URL) as RGB; gr.Error if unusable. With
    ``roots``, a path is opened only inside them (``uploads.confine``); with ``sandbox``, decoded there."""
    try:
        return decode_upload(payload, roots, sandbox, **limits)
    except BadImage as e:
        raise toast(str(e)) from None


FILE_DATA = {"_type": "gradio.FileData"}
MAX_CHOICE = 200  # characters of a model or direction a client may send (a Hub id is at most 96)
NOT_AN_ENDPOINT = "Not an endpoint of this app"


def guard_inputs(blocks: gr.Blocks, roots: list[Path]) -> gr.Blocks:
    """Every value a client sends to any handler of ``blocks`` (the API's and the page's own, which anyone can call by
    its index), checked as it arrives, before Gradio's own handling:

    - a handler that runs in the page alone (no Python function) is never run here;
    - a picture or video: a path that does not resolve inside ``roots`` and any web address get the usual line
      (``uploads.check_payload``); a handler that takes one must decode it itself (``preprocess=False``, the sandbox)
      and be queued, or the call is refused (``unguarded`` lists any such handler, for the tests);
    - a model or a direction: a string of at most ``MAX_CHOICE`` characters (the handler checks it against its
      choices); a checkbox: a boolean; an example: the index of one; a call with too few values: refused;
    - afterwards the session keeps none of the values sent (Gradio copies each input into the session's state, for
      deep links, which this app does not serve: a 1 MB data: URL a call would otherwise stay in memory).

    Each refusal is one line for the client, nothing in the log. Set on the instance: Gradio has no hook that runs
    before its own handling of inputs."""
    preprocess = blocks.preprocess_data

    def checked(block_fn, block, payload):
        if isinstance(block, (gr.Image, gr.Video)):
            if block_fn.preprocess or not block_fn.queue:
                raise BadImage(NOT_AN_ENDPOINT)
            payload = check_payload(payload, roots)
            if isinstance(block, gr.Video) and payload and payload.get("path"):
                payload = {**payload, "meta": FILE_DATA}  # Gradio's FileData of a video must say what it is
        elif isinstance(block, (gr.Dropdown, gr.Radio)):
            if payload is not None and not (isinstance(payload, str) and len(payload) <= MAX_CHOICE):
                raise BadImage("Unknown direction: use 'AtoB' or 'BtoA'" if isinstance(block, gr.Radio) else
                               f"Unknown model: a model is named by a string of at most {MAX_CHOICE} characters")
            if isinstance(block, gr.Dropdown) and payload and payload not in {
                    name for choice in block.choices for name in choice}:  # a model's key or its label
                raise BadImage(f"Unknown model {payload[:60]!r}: pick one of the models listed")
        elif isinstance(block, gr.Checkbox) and not isinstance(payload, bool):
            raise BadImage("Not a yes or no: a checkbox takes true or false")
        elif isinstance(block, gr.Dataset) and payload is not None and (
                type(payload) is not int or not 0 <= payload < len(block.raw_samples)):
            raise BadImage("Not an example of this page")
        return payload

    async def preprocess_data(block_fn, inputs, state, explicit_call=False):
        try:
            if block_fn.fn is None or len(inputs) < len(block_fn.inputs):
                raise BadImage(NOT_AN_ENDPOINT)
            inputs = [checked(block_fn, block_fn.inputs[i], value) if i < len(block_fn.inputs) else value
                      for i, value in enumerate(inputs)]
            return await preprocess(block_fn, inputs, state, explicit_call)
        except (BadImage, InvalidPathError) as e:  # InvalidPathError: an example's path sent as an upload, say
            raise toast(NOT_AN_UPLOAD if isinstance(e, InvalidPathError) else str(e)) from None
        finally:
            forget_inputs(block_fn, state)

    blocks.preprocess_data = preprocess_data
    return blocks


def forget_inputs(block_fn, state) -> None:
    """Drop the copies of a call's input values that Gradio keeps in the session's state (``config_values``)."""
    for block in block_fn.inputs:
        props = getattr(state, "config_values", {}).get(block._id, {}).get("props")
        if isinstance(props, dict):
            props["value"] = None


def unguarded(blocks: gr.Blocks) -> list[str]:
    """The handlers of ``blocks`` that take a picture or video but would let Gradio decode it, or skip the queue:
    ``guard_inputs`` refuses every call to them (so the page would be broken: there must be none)."""
    return [fn.name for fn in blocks.fns.values() if fn.fn is not None and (fn.preprocess or not fn.queue)
            and any(isinstance(b, (gr.Image, gr.Video)) for b in fn.inputs)]


@contextmanager
def as_toast() -> Iterator[None]:
    """A ``CatalogError`` (unknown model, failed load, missing direction) as the error toast the user reads."""
    try:
        yield
    except CatalogError as e:
        # Only an unexpected load failure has a cause: its traceback goes to the log, the others need none.
        raise gr.Error(str(e), print_exception=e.__cause__ is not None) from e.__cause__


def web_models(models: list[ModelSpec]) -> dict[str, Path]:
    """The models the page can run in the browser: local model folders with small generators (key -> folder)."""
    from .export import web_supported
    return {s.key: Path(s.source) for s in models if s.kind == "local" and web_supported(s.source)}


# The live demos by id: a ZeroGPU worker, a fork of this process, finds its demo (and so the loaded models) here,
# since what crosses to it must pickle. Weak: a demo no longer used goes, with its models.
_DEMOS: "weakref.WeakValueDictionary[int, Demo]" = weakref.WeakValueDictionary()
SESSIONS = 1000  # the sessions whose state the server keeps (see launch)
PICTURE_GPU_SECONDS = 20  # a picture and its reconstruction on a lent GPU, the worker's start included
MIN_CLIP_GPU_SECONDS = 30


def translate_on_device(demo_id: int, key: str, picture: Image.Image, direction: str):
    """One picture through the model ``key``: where a GPU is lent for the call, on ZeroGPU (``zerogpu.gpu``)."""
    translator = _DEMOS[demo_id].cache.get(key, Direction(direction))
    with torch.inference_mode():
        return translator(picture, direction)


def clip_on_device(demo_id: int, key: str, path: str, out: str, direction: str, steady: bool, side_by_side: bool,
                   video: dict):
    """One clip through the model ``key``, written to ``out`` (see ``translate_on_device``); its ``VideoInfo``."""
    translator = _DEMOS[demo_id].cache.get(key, Direction(direction))
    try:
        return translator.translate_video(path, out, direction, steady=steady, side_by_side=side_by_side, **video)
    except BadVideo as e:  # a toast, which also crosses back from a ZeroGPU worker
        raise toast(str(e)) from None


def clip_gpu_seconds(demo_id: int, key: str, path: str, out: str, direction: str, steady: bool, side_by_side: bool,
                     video: dict) -> float:
    """ZeroGPU's dynamic duration of ``clip_on_device`` (the same arguments): 20 s for the worker's start and a second
    for every 10 frames translated (a faster clip's thinned to ``max_fps``), at most 300. A clip beyond the bounds
    (longer, too many frames, frames too big, not a video) asks for the least, 30: it is refused at once. Probed
    within the same frame-size bound as its translation."""
    from .video import probe
    try:
        info = probe(path, max_frame_pixels=video.get("max_frame_pixels", 0))
    except BadVideo:
        return MIN_CLIP_GPU_SECONDS
    fps = float(info.fps) or 1.0
    frames = info.frames or info.duration * fps
    if ((video.get("max_seconds") and info.duration > video["max_seconds"])
            or (video.get("max_frames") and frames > video["max_frames"])):
        return MIN_CLIP_GPU_SECONDS
    if video.get("max_fps") and fps > video["max_fps"]:
        frames *= video["max_fps"] / fps
    return min(300, max(MIN_CLIP_GPU_SECONDS, 20 + frames / 10))


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
        self._trimmed, self._later = -float("inf"), None
        _DEMOS[id(self)] = self
        self.on_device = zerogpu.gpu(translate_on_device, PICTURE_GPU_SECONDS)
        self.clip_on_device = zerogpu.gpu(clip_on_device, clip_gpu_seconds)
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
        """After a request, failed or not: hand the memory its pictures and frames used back to the system (glibc
        keeps freed heap pages otherwise, in every thread's arena, and the server's RSS only grows); at most every
        2 s, and then once more 2 s after a request that came sooner, so that a server gone idle has handed back
        what its last requests used."""
        if _malloc_trim is None:
            return
        now = time.monotonic()
        if now - self._trimmed >= 2:
            self._trimmed = now
            _malloc_trim(0)
        elif self._later is None or not self._later.is_alive():  # (two at once at worst: a trim costs milliseconds)
            self._later = threading.Timer(2 - (now - self._trimmed), self.settle)
            self._later.daemon = True
            self._later.start()

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


def build_demo(models: list[ModelSpec], *, limits: UploadLimits = UploadLimits(),
               examples_dir: str | Path | None = None, zoo_dir: str | Path | None = None, device: str = "cpu",
               browser_models: Collection[str] = ()) -> gr.Blocks:
    """The Gradio Blocks UI over ``models`` (see ``catalog.discover_models``); call ``.queue()`` and ``.launch()``.

    ``browser_models``: the keys of the models (``web_models``) whose pictures the page translates in the browser
    (``cyclegan/webapp/gradio-client.js``), sending the rest to the server; none: the server translates all. The
    launch then needs ``web.IsolationMiddleware`` and the script in the page's head, as ``launch`` gives them."""
    return layout(Demo(models, limits=limits, zoo_dir=zoo_dir, device=device, examples_dir=examples_dir),
                  examples_dir, browser_models)


def layout(ui: Demo, examples_dir: str | Path | None, browser_models: Collection[str]) -> gr.Blocks:
    """The page over ``ui``'s handlers (see ``build_demo``), every input guarded (``guard_inputs``)."""
    with gr.Blocks(title="CycleGAN", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown("# CycleGAN: unpaired image-to-image translation\n"
                    "Upload a picture, pick a model and a direction, and see it translated and translated back; or "
                    "translate a short video in the *Video* tab.")
        with gr.Tab("Image", id="image-tab"):
            image_tab(ui, demo, examples_dir, set(browser_models))
        with gr.Tab("Video", id="video-tab"):
            video_tab(ui)
        with gr.Tab("Camera", id="camera-tab"):
            camera_tab(bool(browser_models))
    return guard_inputs(demo, ui.roots)


def camera_tab(in_browser: bool) -> None:
    """The Camera tab: a placeholder that the page's script (webapp/camera.js) fills with the live camera, which
    translates on the visitor's device, so only where the page runs models itself."""
    if not in_browser:
        gr.Markdown("The camera is translated live in your browser, with the models that run there: this server "
                    "translates on its own (`--client-inference off`, or a GPU), so the camera is not offered.")
        return
    gr.Markdown("Your camera, translated live on your device (nothing it sees leaves it): pick a model, a direction "
                "and a size (smaller is faster), and press **Start camera**. Steady shares the normalisation "
                "statistics between frames and smooths where nothing moves.")
    gr.HTML('<div id="cyclegan-camera" class="cyclegan-camera"></div>', elem_id="camera-host")


def image_tab(ui: Demo, demo: gr.Blocks, examples_dir: str | Path | None, browser_models: set[str]) -> None:
    """The Image tab: inputs, the triptych and slider, the stats row, the examples; and their events."""
    first = ui.models[0]
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            model_in = gr.Dropdown([(s.label, s.key) for s in ui.models], value=first.key, label="Model",
                                   elem_id="model")
            info = gr.Markdown(model_info(first), elem_id="model-info")
            direction_in = gr.Radio(direction_choices(first), value=first.default_direction.value, label="Direction",
                                    elem_id="direction")
            button = gr.Button("Translate", variant="primary", elem_id="translate")
            # The server's own buttons, hidden by CSS (a hidden Gradio component is not in the page at all, and the
            # page's script clicks the first): the page's server path, and the public /translate.
            server_button = gr.Button("Translate on the server", elem_id="translate-server", elem_classes="cg-hidden")
            api_button = gr.Button("API", elem_id="translate-api", elem_classes="cg-hidden")
        with gr.Column(scale=1):
            image_in = gr.Image(type="filepath", sources=["upload", "clipboard", "webcam"], image_mode=None,
                                label="Input image", height=260, elem_id="input-image")
    with gr.Row():
        real_out, fake_out, rec_out = (
            gr.Image(type="pil", format="png", label=label, interactive=False, height=300, elem_id=label.lower(),
                     elem_classes="result") for label in ("Real", "Generated", "Reconstructed"))
        rec_out.label = reconstructed_label(first)  # after the loop: elem_id stays "reconstructed"
        compare_out = gr.ImageSlider(type="pil", format="png", label="Real ↔ Generated", interactive=False,
                                     max_height=300, elem_id="compare", elem_classes="result")
    # Hidden until a first result: Gradio's Number shows 0 when it has no value, which reads as a result.
    with gr.Row(equal_height=True, visible=False, elem_id="result-stats") as stats:
        seconds_out = gr.Number(label="Seconds", precision=2, interactive=False, elem_id="seconds")
        psnr_out = gr.Number(label="Cycle consistency: PSNR of Reconstructed vs Real (dB)", precision=1,
                             interactive=False, elem_id="psnr", visible=len(first.directions) == 2)
        download = gr.Button("Download triptych (PNG)", variant="secondary", elem_id="download", size="md")
        download_server = gr.Button("Download (server)", elem_id="download-server", elem_classes="cg-hidden")
    where_out = gr.Markdown(elem_id="where")
    note_out = gr.Markdown(elem_id="client-note")  # once: why the browser could not translate
    triptych_file = gr.File(elem_id="triptych-file", elem_classes="cg-hidden", interactive=False)
    gr.Markdown(STEGANOGRAPHY_NOTE + f"\n\nThe long side of the input is resized to at most {ui.limits.max_side} px.")

    inputs = [image_in, model_in, direction_in]
    outputs = [real_out, fake_out, rec_out, seconds_out, psnr_out, where_out]
    hidden = dict(api_visibility="private")
    # preprocess=False: the upload reaches the handler undecoded, so every bad file gets our own clear error.
    # show_progress_on: the queue position, the timer and an error badge show on Generated alone, not on all six
    # outputs (an error otherwise badges every box and hides the PSNR label; the toast says what is wrong).
    api_button.click(ui.translate, inputs, [real_out, fake_out, rec_out, seconds_out, psnr_out, triptych_file],
                     api_name="translate", preprocess=False, show_progress_on=fake_out, js=page_script("close_toasts"))
    page_outputs = outputs + [compare_out]  # the server's answer fills the slider too
    server = server_button.click(ui.translate_page, inputs, page_outputs, preprocess=False, show_progress_on=fake_out,
                                 js=page_script("close_toasts"), **hidden)
    shown = [server]
    if browser_models:  # the browser translates (the slider too), and clicks server_button when it cannot
        shown.append(button.click(None, inputs, page_outputs + [note_out], js=page_script("client_translate"),
                                  **hidden))
    else:
        button.click(None, None, None, js=page_script("click_server"), **hidden)
    for event in shown:
        event.success(lambda: gr.Row(visible=True), None, stats, js=True, **hidden)
    # After a failure the previous result is cleared away, so that it does not pass for this attempt's.
    server.failure(ui.clear_results, None, [real_out, rec_out, compare_out, stats], queue=False,
                   show_progress="hidden", **hidden)
    download.click(None, [model_in, direction_in], None, js=page_script("download_local"), **hidden)
    # preprocess=False: the three images come back from the page as any client's files, checked as uploads are.
    download_server.click(ui.make_triptych, [real_out, fake_out, rec_out, model_in, direction_in], triptych_file,
                          preprocess=False, **hidden).then(None, triptych_file, None, js=page_script("download_file"), **hidden)
    model_in.change(ui.select_model, model_in, [direction_in, info, rec_out, psnr_out], **hidden)
    if first.kind == "hub":  # its domain names are known only once it is fetched
        demo.load(ui.select_model, model_in, [direction_in, info, rec_out, psnr_out], **hidden)
    image_examples(ui, examples_dir, inputs, page_outputs, stats, browser_models)


def image_examples(ui: Demo, examples_dir: str | Path | None, inputs: list, outputs: list, stats: gr.Row,
                   browser_models: set[str]) -> None:
    """One table of examples per model (``examples/examples.json``): a click fills the inputs and translates, in
    the browser for ``browser_models``, else from the server's cache of the example's results."""
    rows = load_examples(examples_dir, [s.key for s in ui.models])
    if not rows:
        return
    direction_in = inputs[2]
    previous = os.environ.get("GRADIO_EXAMPLES_CACHE")
    os.environ["GRADIO_EXAMPLES_CACHE"] = str(examples_cache_dir(rows, ui.models, ui.limits.max_side))
    try:
        # One table per model: the Direction column names a direction with the Radio's choices, which are those of
        # the model picked when the table was built, so a shared table would show every row with the first model's
        # domain names.
        for spec in (m for m in ui.models if any(row[1] == m.key for row in rows)):
            here = spec.key in browser_models
            examples = gr.Examples([row for row in rows if row[1] == spec.key], inputs, None if here else outputs,
                                   fn=None if here else ui.translate_page, cache_examples=not here, cache_mode="lazy",
                                   preprocess=False, examples_per_page=12, label=f"Examples: {spec.label}")
            examples.dataset.component_props[inputs.index(direction_in)]["choices"] = direction_choices(spec)
            if here:
                examples.load_input_event.then(None, None, None, js=page_script("click_translate"),
                                               api_visibility="private")
            else:
                examples.dataset.click(ui.show_stats, None, stats, api_visibility="private", queue=False)
    finally:
        if previous is None:
            os.environ.pop("GRADIO_EXAMPLES_CACHE")
        else:
            os.environ["GRADIO_EXAMPLES_CACHE"] = previous


def video_tab(ui: Demo) -> None:
    """The Video tab: a clip in, the translated MP4 out, steady or frame by frame; and its events."""
    first = ui.models[0]
    gr.Markdown(f"Upload a short clip (at most {ui.limits.max_video_seconds:g} s and {human_size(ui.limits.max_video_bytes)}; "
                f"frames are resized to {ui.limits.max_side} px on the long side) and get it back translated, with "
                "its sound. *Steady* shares the normalisation statistics between frames and smooths the picture "
                "where nothing moves; without it every frame is translated on its own and the colours flicker.")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            model_in = gr.Dropdown([(s.label, s.key) for s in ui.models], value=first.key, label="Model",
                                   elem_id="video-model")
            direction_in = gr.Radio(direction_choices(first), value=first.default_direction.value, label="Direction",
                                    elem_id="video-direction")
            steady_in = gr.Checkbox(True, label="Steady (shared statistics and smoothing)", elem_id="steady")
            side_in = gr.Checkbox(False, label="Real | generated side by side", elem_id="side-by-side")
            button = gr.Button("Translate video", variant="primary", elem_id="translate-video")
        with gr.Column(scale=1):
            video_in = gr.Video(sources=["upload"], label="Input video", height=260, elem_id="input-video")
    video_out = gr.Video(label="Translated video", interactive=False, height=320, elem_id="output-video")
    status = gr.Markdown(elem_id="video-status")
    # preprocess=False: the handler takes the upload's FileData as it came and opens its path only once confined.
    button.click(ui.translate_video, [video_in, model_in, direction_in, steady_in, side_in], [video_out, status],
                 api_name="translate_video", preprocess=False, show_progress_on=video_out,
                 js=page_script("close_toasts"))
    model_in.change(ui.select_video_model, model_in, direction_in, api_visibility="private", queue=False)


def make_theme() -> gr.themes.Base:
    # System fonts only: the default theme would fetch Google Fonts, which an offline browser cannot.
    return gr.themes.Soft(primary_hue="teal", font=["ui-sans-serif", "system-ui", "sans-serif"],
                          font_mono=["ui-monospace", "monospace"])


def default_threads(concurrency: int) -> int:
    """Torch threads per translation: the cores shared out between the translations that run at once."""
    from .device import cpu_cores
    return max(1, cpu_cores() // max(1, concurrency))


@dataclass
class Built:
    """A demo ready to launch: its Blocks and handlers, and the page's client inference (the models it runs, their
    files)."""
    blocks: gr.Blocks
    ui: Demo
    models: list[ModelSpec]
    browser: dict[str, Path]
    assets: Path | None


def build(models: list[ModelSpec], limits: UploadLimits, *, client_inference: bool, examples_dir: str | Path,
          zoo_dir: str | Path, device: str) -> Built:
    """The demo over ``models``; with ``client_inference``, the files its page needs to translate the small models
    in the browser (exported once per set of weights). ``ValueError`` when there is nothing to show."""
    from .export import app_assets
    browser = web_models(models) if client_inference else {}
    assets = app_assets(browser, limits) if browser else None
    ui = Demo(models, limits=limits, zoo_dir=zoo_dir, device=device, examples_dir=examples_dir)
    return Built(layout(ui, examples_dir, browser), ui, models, browser, assets)


def launch(built: Built, limits: UploadLimits, *, host: str, port: int, share: bool, mcp: bool, concurrency: int,
           queue_size: int, threads: int | None, examples_dir: str | Path) -> None:
    """Serve the demo (Gradio's queue, the isolation middleware and the gate in front of Gradio, the page's script)
    and block until stopped. Call ``uploads.claim_temp_folder`` before Gradio is imported, so that the disk budget
    works in a folder of the app's own."""
    from starlette.middleware import Middleware
    from .gate import Gate
    from .web import WEB_ROUTE, IsolationMiddleware
    limit_malloc_arenas()  # before the server's threads start
    built.ui.sandbox.start()  # the decoding helper, before the first upload waits for it
    torch.set_num_threads(threads or default_threads(concurrency))
    Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS or 0, limits.max_pixels)  # so that ours is the limit that bites
    demo, assets = built.blocks, built.assets
    demo.queue(default_concurrency_limit=concurrency, max_size=queue_size)
    # quiet: Gradio's own banner says to "set `share=True` in `launch()`"; this app's way is --share.
    demo.launch(server_name=host, server_port=port, share=share,
                max_file_size=max(limits.max_bytes, limits.max_video_bytes), theme=make_theme(), css=CSS,
                ssr_mode=False, allowed_paths=[str(Path(examples_dir).resolve())], footer_links=["api", "gradio"],
                quiet=True, prevent_thread_lock=True, mcp_server=mcp,
                # Gradio keeps each session's copy of the page's settings (about 80 kB here), and every call of the
                # API without a session is a new one: the most recent SESSIONS only, not Gradio's 10,000 (800 MB).
                state_session_capacity=SESSIONS,
                # COOP/COEP on every response (the browser's runtime may then use threads) and the page's scripts,
                # runtime and models under /cyclegan-web/HASH/, the current assets alone.
                # The disk budget on every request too: uploads fill Gradio's temp folder without any translation.
                # Inside it, the gate: only the routes the app uses, bodies capped, uploads admitted by the budget.
                app_kwargs={"middleware": [
                    Middleware(IsolationMiddleware, folder=assets, on_request=built.ui.disk.keep_soon),
                    Middleware(Gate, limits=limits, admit=built.ui.disk.admit)]},
                head=None if assets is None else
                f'<script type="module" src="{WEB_ROUTE}{assets.name}/gradio-client.js"></script>')
    if assets is not None:
        print(f"* Client inference: {', '.join(built.browser)} translate in the visitor's browser "
              f"({', '.join(s.key for s in built.models if s.key not in built.browser) or 'no model'} on the server).")
    print(f"* Running on local URL:  {demo.local_url}")
    if demo.share_url:
        print(f"* Running on public URL: {demo.share_url}")
    elif not share:  # (a failed --share has had Gradio's own explanation printed)
        print("* For a public link, restart with --share (python app.py --share).")
    sys.stdout.flush()
    demo.block_thread()
