"""CycleGAN demo: upload a picture and see it translated (real | generated | reconstructed), or a short video and
get it back translated, steady from frame to frame, with its sound.

    python app.py                                   # http://127.0.0.1:7860, no network needed
    python app.py --model user/cyclegan-horse2zebra --port 8000
    python app.py --mcp                             # also an MCP server: the translate tool, for LLM clients
    python app.py --help

Models: every folder in checkpoints/ with G_AB/ and G_BA/, then the Hub repo ids given with --model
(or CYCLEGAN_MODELS), then the reference zoo models (downloaded on first use).
Examples: examples/examples.json, a list of {"file": ..., "model": ..., "direction": "AtoB" | "BtoA"}.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent
MAX_SIDE = 512
MAX_FILE_SIZE = "20mb"
MAX_VIDEO_SIZE = "100mb"
MAX_VIDEO_SECONDS = 20.0
FIRST_MODEL = "monet2photo"  # photo -> Monet: what most visitors come for


def build_parser() -> argparse.ArgumentParser:
    """The CLI. It needs neither torch nor gradio, so that --help and bad arguments answer at once."""
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python app.py", description="CycleGAN Gradio demo.")
    parser.add_argument("--host", default=env("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to serve on (env GRADIO_SERVER_NAME; 0.0.0.0 for the local network)")
    parser.add_argument("--port", type=int, default=int(env("GRADIO_SERVER_PORT", "7860")),
                        help="port (env GRADIO_SERVER_PORT)")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link (needs network)")
    parser.add_argument("--mcp", action="store_true",
                        default=env("GRADIO_MCP_SERVER", "").lower() in ("1", "true"),
                        help="also serve the translation as an MCP tool at /gradio_api/mcp/, for LLM clients that "
                             "speak the Model Context Protocol (env GRADIO_MCP_SERVER=true; needs gradio[mcp])")
    parser.add_argument("--model", action="append", default=[],
                        help="a Hub repo id (or model folder) to list too; repeatable (env CYCLEGAN_MODELS)")
    parser.add_argument("--first-model", default=env("CYCLEGAN_FIRST_MODEL", FIRST_MODEL),
                        help="the model the demo opens on: a folder name in --checkpoints or a --model id "
                             "(env CYCLEGAN_FIRST_MODEL); when it is not listed, the first model listed")
    parser.add_argument("--checkpoints", default=env("CYCLEGAN_CHECKPOINTS", str(ROOT / "checkpoints")),
                        help="folder whose model subfolders are listed (env CYCLEGAN_CHECKPOINTS)")
    parser.add_argument("--examples", default=str(ROOT / "examples"), help="folder with examples.json")
    parser.add_argument("--no-zoo", action="store_true", help="do not list the reference zoo models")
    parser.add_argument("--zoo-dir", default=env("CYCLEGAN_ZOO_DIR", str(Path.home() / ".cache/cyclegan/zoo")),
                        help="where zoo models are downloaded (env CYCLEGAN_ZOO_DIR)")
    parser.add_argument("--max-side", type=int, default=int(env("CYCLEGAN_MAX_SIDE", str(MAX_SIDE))),
                        help="resize the long side of inputs to at most this many pixels, 0 for no limit "
                             "(env CYCLEGAN_MAX_SIDE)")
    parser.add_argument("--max-file-size", default=MAX_FILE_SIZE, help="largest upload, e.g. 20mb")
    parser.add_argument("--max-video-size", default=MAX_VIDEO_SIZE, help="largest video upload, e.g. 100mb")
    parser.add_argument("--max-video-seconds", type=float, default=MAX_VIDEO_SECONDS,
                        help="longest video translated, in seconds (its frames are resized like pictures, to "
                             "--max-side); 0 for no limit")
    parser.add_argument("--max-pixels", type=int, default=Image.MAX_IMAGE_PIXELS,
                        help="largest decoded image in pixels (decompression bomb guard)")
    parser.add_argument("--concurrency", type=int, default=1,
                        help="translations that run at once; the others wait in the queue and see their place in "
                             "it. Keep 1 on a small CPU, where one translation already uses every core and two at "
                             "once only share them; raise it with more cores or a GPU")
    parser.add_argument("--queue-size", type=int, default=64,
                        help="requests that may wait in the queue; beyond that, new ones are turned away at once "
                             "with a 'queue is full' error rather than waiting minutes")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: cores / concurrency)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (CUDA when present)")
    parser.add_argument("--client-inference", choices=("auto", "on", "off"),
                        default=env("CYCLEGAN_CLIENT_INFERENCE", "auto"),
                        help="translate pictures in the visitor's browser (ONNX Runtime Web) for the models small "
                             "enough, falling back to the server when the browser cannot: auto does so unless the "
                             "app runs on a GPU, on always, off never (env CYCLEGAN_CLIENT_INFERENCE)")
    return parser


if __name__ == "__main__":
    # --help and argument errors exit here, at once: importing torch and gradio below takes seconds.
    build_parser().parse_args()

import importlib.util  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from typing import Collection, Iterator  # noqa: E402

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

import gradio as gr  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402
import torch  # noqa: E402

from cyclegan.catalog import (  # noqa: E402
    CatalogError, ModelCache, ModelSpec, direction_choices, discover_models, examples_cache_dir, load_examples,
    model_ids_from_env, model_info, reconstructed_label, zoo_reachable)
from cyclegan.data import DataError  # noqa: E402
from cyclegan.device import cpu_cores, resolve_device  # noqa: E402
from cyclegan.direction import Direction  # noqa: E402
from cyclegan.images import to_tensor, triptych  # noqa: E402
from cyclegan.metrics import psnr  # noqa: E402
from cyclegan.uploads import (  # noqa: E402
    BadImage, decode_upload, fit, fresh_folder, human_size, parse_size, save_png, save_triptych)
from cyclegan.video import BadVideo  # noqa: E402
from cyclegan.web import WEB_ROUTE, IsolationMiddleware, app_assets, web_supported  # noqa: E402

# Small results (a 64 px emoji) are scaled up to fill their box; the server's own buttons are in the page, unseen.
CSS = ".result img { width: 100%; height: 100%; object-fit: contain; } .cg-hidden { display: none !important; }"
# Runs in the browser before a translation: closes the open toasts, then passes the inputs through unchanged.
_CLOSE = "document.querySelectorAll('[data-testid=\"toast-close\"]').forEach((button) => button.click());"
CLOSE_TOASTS = f"(...inputs) => {{ {_CLOSE} return inputs; }}"
# The page's scripts (the browser's side of --client-inference, cyclegan/webapp/gradio-client.js).
CLIENT_TRANSLATE = (f"async (image, model, direction) => {{ {_CLOSE} if (window.cycleganApp) return "
                    "window.cycleganApp.translate(image, model, direction); "
                    "document.querySelector('#translate-server').click(); "
                    "return [null, null, null, null, null, 'Translating on the server…', null, null]; }")
CLICK_SERVER = "() => { document.querySelector('#translate-server').click(); }"
CLICK_TRANSLATE = "() => { setTimeout(() => document.querySelector('#translate').click(), 50); }"
# Download: from the browser's own canvases when it translated (no server work), else the hidden button has the
# server build the triptych, and the next script saves it.
DOWNLOAD_LOCAL = ("(model, direction) => { if (!(window.cycleganApp && window.cycleganApp.downloadLocal(model, "
                  "direction))) document.querySelector('#download-server').click(); }")
DOWNLOAD_FILE = ("(file) => { if (file && file.url) { const a = document.createElement('a'); a.href = file.url; "
                 "a.download = file.orig_name || 'cyclegan.png'; document.body.append(a); a.click(); a.remove(); } }")
STEGANOGRAPHY_NOTE = (
    "**Cycle consistency.** *Reconstructed* is *Generated* translated back; the PSNR (dB) of Reconstructed "
    "against Real scores how well the cycle closes (higher is closer, 100 = identical). A near-perfect "
    "reconstruction is not proof of a faithful translation: CycleGAN can hide the source picture in "
    "imperceptible, low-amplitude detail of the generated image and decode it on the way back "
    "([Chu et al. 2017, \"CycleGAN, a master of steganography\"](https://arxiv.org/abs/1712.02950))."
)


def toast(message: str) -> gr.Error:
    """A one-line reason for the person who sent the file, as the error toast they read. No title=: Gradio 6 heads
    every toast with its type ("Error"), so the message itself says what is wrong."""
    return gr.Error(message[0].upper() + message[1:], print_exception=False)


def read_upload(payload, **limits) -> Image.Image:
    """The image input's raw payload (a FileData dict, a path or a data: URL) as RGB; gr.Error if unusable."""
    try:
        return decode_upload(payload, **limits)
    except BadImage as e:
        raise toast(str(e)) from None


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
    return {s.key: Path(s.source) for s in models if s.kind == "local" and web_supported(s.source)}


def build_demo(models: list[ModelSpec], *, max_side: int = MAX_SIDE, max_file_size: str | int = MAX_FILE_SIZE,
               max_pixels: int | None = None, examples_dir: str | Path | None = ROOT / "examples",
               zoo_dir: str | Path | None = None, device: str = "cpu", max_video_size: str | int = MAX_VIDEO_SIZE,
               max_video_seconds: float = MAX_VIDEO_SECONDS, browser_models: Collection[str] = ()) -> gr.Blocks:
    """The Gradio Blocks UI over ``models`` (see ``discover_models``); call ``.queue()`` and ``.launch()`` on it.

    ``browser_models``: the keys of the models (``web_models``) whose pictures the page translates in the browser
    (``cyclegan/webapp/gradio-client.js``), sending the rest to the server; none: the server translates all. The
    launch then needs ``IsolationMiddleware`` and the script in the page's head, as ``main`` gives them."""
    client_inference = bool(browser_models)
    if not models:
        raise ValueError("no models: put a model folder in checkpoints/ or pass --model")
    cache = ModelCache(models, zoo_dir or Path.home() / ".cache" / "cyclegan" / "zoo", device)
    limits = dict(max_bytes=parse_size(max_file_size), max_pixels=max_pixels, max_side=max_side)
    # Gradio's temp dir (GRADIO_TEMP_DIR) holds the triptychs for the download button; save_triptych prunes it.
    temp = Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")
    downloads, videos, results = temp / "cyclegan-triptychs", temp / "cyclegan-videos", temp / "cyclegan-results"
    max_video_bytes = parse_size(max_video_size)

    def resolve(model, direction) -> tuple[ModelSpec, Direction]:
        """The request's model (default: the first listed) and its one direction check (default: the model's)."""
        with as_toast():
            spec = cache.spec(model or models[0].key)
        try:
            return spec, Direction.parse(direction or spec.default_direction)
        except ValueError as e:
            raise gr.Error(str(e), print_exception=False) from None

    def translate(image, model, direction, progress=gr.Progress(track_tqdm=True), with_triptych=True):
        """Translate a picture with a CycleGAN model, and translate the result back (cycle consistency).

        Args:
            image: the picture to translate (any image file; the long side is resized to the app's limit).
            model: the model, by its key or label; default: the first one listed.
            direction: 'AtoB' (domain A to domain B, as the model's name says) or 'BtoA'; default: the model's
                own (photo -> Monet, BtoA, for monet2photo).
        Returns:
            real, generated and reconstructed PNGs, seconds taken, PSNR (dB) of reconstructed vs real, triptych PNG.
        """
        # The PNGs are written here, fast (zlib level 1), rather than by Gradio at its default level: on a 2-core
        # server the encoding of four 512 px PNGs cost as much as the translation.
        # progress: a reference model's first use downloads it; Gradio shows the download's tqdm bar.
        start = time.perf_counter()
        spec, direction = resolve(model, direction)
        with as_toast():
            picture = fit(read_upload(image, **limits), max_side)
            translator = cache.get(spec.key, direction)  # CatalogError if the model lacks this direction
        with torch.inference_mode():
            real, fake, rec = translator(picture, direction)
        # A one-direction model has no reconstruction (rec is None): no PSNR either, and a two-image triptych.
        score = None if rec is None else round(psnr(to_tensor(real), to_tensor(rec), data_range=2.0), 2)
        folder = fresh_folder(results)
        paths = [None if im is None else str(save_png(im, folder / f"{name}.png"))
                 for name, im in (("real", real), ("generated", fake), ("reconstructed", rec))]
        trip = None
        if with_triptych:
            images = [im for im in (real, fake, rec) if im is not None]
            trip = str(save_triptych(triptych(*images), downloads, f"cyclegan-{Path(spec.source).name}-{direction}"))
        return (*paths, round(time.perf_counter() - start, 3), score, trip)

    def translate_page(image, model, direction, progress=gr.Progress(track_tqdm=True)):
        """The page's server path: translate() without the triptych (built when Download is clicked), and where it
        ran."""
        real, fake, rec, seconds, score, _ = translate(image, model, direction, progress, with_triptych=False)
        return real, fake, rec, seconds, score, "Translated on the server."

    def make_triptych(real, fake, rec, model, direction):
        """Download triptych: the three images of the page side by side, built now (None: nothing to build)."""
        images = [im for im in (real, fake, rec) if im is not None]
        if len(images) < 2:
            return None
        name = Path(cache.spec(model).source).name if model else "cyclegan"
        return str(save_triptych(triptych(*images), downloads, f"cyclegan-{name}-{direction}"))

    def translate_video(video, model, direction, steady=True, side_by_side=False,
                        progress=gr.Progress(track_tqdm=True)):
        """Translate a short video with a CycleGAN model, steady from frame to frame, keeping its sound.

        Args:
            video: the video file (MP4, WebM, MOV, ...; frames are resized like pictures, to the app's limit).
            model: the model, by its key or label; default: the first one listed.
            direction: 'AtoB' or 'BtoA'; default: the model's own.
            steady: share the normalisation statistics between frames and smooth where nothing moves (default);
                False translates each frame on its own, which flickers.
            side_by_side: the input and the translation side by side in one video.
        Returns:
            the translated H.264 MP4, and a line saying what was done.
        """
        start = time.perf_counter()
        spec, direction = resolve(model, direction)
        path = Path(video) if video else None  # the Video input hands over the upload's path
        if path is None or not path.is_file():
            raise gr.Error("No video: upload a clip first.", print_exception=False)
        if path.stat().st_size > max_video_bytes:
            raise gr.Error(f"Video too large: {human_size(path.stat().st_size)} > limit of "
                           f"{human_size(max_video_bytes)}", print_exception=False)
        with as_toast():
            translator = cache.get(spec.key, direction)
        folder = fresh_folder(videos)
        out = folder / f"cyclegan-{Path(spec.source).name}-{direction}.mp4"
        try:
            info = translator.translate_video(path, out, direction, steady=bool(steady),
                                              side_by_side=bool(side_by_side), max_seconds=max_video_seconds,
                                              max_side=max_side)
        except BaseException as e:
            shutil.rmtree(folder, ignore_errors=True)  # nothing half-written stays behind
            if isinstance(e, BadVideo):
                raise toast(str(e)) from None
            raise
        seconds = time.perf_counter() - start
        return str(out), (f"{info.frames} frames at {info.width}×{info.height}, {float(info.fps):g} fps"
                          f"{', with its sound' if info.audio else ''}; translated in {seconds:.1f} s "
                          f"({info.frames / seconds:.1f} frames/s), {'steady' if steady else 'frame by frame'}.")

    def compare(real, fake):
        """Real against Generated in the compare slider (none while either is missing)."""
        return None if real is None or fake is None else (real, fake)

    def show_stats() -> gr.Row:
        return gr.Row(visible=True)

    def clear_results() -> tuple[None, None, None, gr.Row]:
        return None, None, None, gr.Row(visible=False)

    def select_model(model):
        """Direction choices, model info, and the Reconstructed and PSNR boxes as fit the model (a one-direction
        model has neither a B → A choice nor a reconstruction)."""
        with as_toast():
            spec = cache.spec(model)
        if spec.kind == "hub" and not cache.loaded(model):
            try:
                cache.get(model)  # fetches now, so the domain names are known and a failure shows at once
            except CatalogError as e:
                gr.Warning(str(e), duration=15)
                return (gr.update(choices=direction_choices(spec)), f"⚠️ {e}", gr.update(),
                        gr.update())
        one_way = len(spec.directions) == 1
        only = {"value": Direction(spec.directions[0]).value} if one_way else {}
        direction = gr.update(choices=direction_choices(spec), **only)
        return (direction, model_info(spec), gr.update(label=reconstructed_label(spec)),
                gr.update(visible=not one_way))

    first = models[0]
    with gr.Blocks(title="CycleGAN", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown("# CycleGAN: unpaired image-to-image translation\n"
                    "Upload a picture, pick a model and a direction, and see it translated and translated back; or "
                    "translate a short video in the *Video* tab.")
        with gr.Tab("Image", id="image-tab"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=1):
                    model_in = gr.Dropdown([(s.label, s.key) for s in models], value=first.key, label="Model",
                                           elem_id="model")
                    info = gr.Markdown(model_info(first), elem_id="model-info")
                    direction_in = gr.Radio(direction_choices(first), value=first.default_direction.value,
                                            label="Direction", elem_id="direction")
                    button = gr.Button("Translate", variant="primary", elem_id="translate")
                    # The server's own buttons, hidden by CSS (a hidden Gradio component is not in the page at all,
                    # and the page's script clicks the first): the page's server path, and the public /translate.
                    server_button = gr.Button("Translate on the server", elem_id="translate-server",
                                              elem_classes="cg-hidden")
                    api_button = gr.Button("API", elem_id="translate-api", elem_classes="cg-hidden")
                with gr.Column(scale=1):
                    image_in = gr.Image(type="filepath", sources=["upload", "clipboard", "webcam"], image_mode=None,
                                        label="Input image", height=260, elem_id="input-image")
            with gr.Row():
                real_out, fake_out, rec_out = (
                    gr.Image(type="pil", format="png", label=label, interactive=False, height=300,
                             elem_id=label.lower(), elem_classes="result")
                    for label in ("Real", "Generated", "Reconstructed"))
                rec_out.label = reconstructed_label(first)  # after the loop: elem_id stays "reconstructed"
                compare_out = gr.ImageSlider(type="pil", format="png", label="Real ↔ Generated",
                                             interactive=False, max_height=300, elem_id="compare",
                                             elem_classes="result")
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
            gr.Markdown(STEGANOGRAPHY_NOTE + f"\n\nThe long side of the input is resized to at most {max_side} px.")
            inputs = [image_in, model_in, direction_in]
            api_outputs = [real_out, fake_out, rec_out, seconds_out, psnr_out, triptych_file]
            outputs = [real_out, fake_out, rec_out, seconds_out, psnr_out, where_out]
            # preprocess=False: the upload reaches `translate` undecoded, so every bad file gets our own clear error.
            # show_progress_on: the queue position, the timer and an error badge show on Generated alone, not on all
            # six outputs (an error otherwise badges every box and hides the PSNR label; the toast says what is wrong).
            # js: a new attempt first closes the toasts of earlier ones, so that errors do not pile up ("Error (3)").
            # After a failure the previous result is cleared away, so that it does not pass for this attempt's.
            api_button.click(translate, inputs, api_outputs, api_name="translate", preprocess=False,
                             show_progress_on=fake_out, js=CLOSE_TOASTS)
            server = server_button.click(translate_page, inputs, outputs, api_visibility="private", preprocess=False,
                                         show_progress_on=fake_out, js=CLOSE_TOASTS)
            shown = [server]
            if client_inference:  # the browser translates (the slider too), and clicks server_button when it cannot
                shown.append(button.click(None, inputs, outputs + [compare_out, note_out], js=CLIENT_TRANSLATE,
                                          api_visibility="private"))
                server.success(compare, [real_out, fake_out], compare_out, api_visibility="private", queue=False,
                               show_progress="hidden")
            else:
                button.click(None, None, None, js=CLICK_SERVER, api_visibility="private")
                # On every new Generated image, from a translation or an example; not part of the API.
                fake_out.change(compare, [real_out, fake_out], compare_out, api_visibility="private", queue=False,
                                show_progress="hidden")
            for event in shown:
                event.success(lambda: gr.Row(visible=True), None, stats, js=True, api_visibility="private")
            server.failure(clear_results, None, [real_out, rec_out, compare_out, stats], api_visibility="private",
                           queue=False, show_progress="hidden")
            download.click(None, [model_in, direction_in], None, js=DOWNLOAD_LOCAL, api_visibility="private")
            download_server.click(make_triptych, [real_out, fake_out, rec_out, model_in, direction_in], triptych_file,
                                  api_visibility="private").then(None, triptych_file, None, js=DOWNLOAD_FILE,
                                                                 api_visibility="private")
            model_in.change(select_model, model_in, [direction_in, info, rec_out, psnr_out], api_visibility="private")
            if first.kind == "hub":  # its domain names are known only once it is fetched
                demo.load(select_model, model_in, [direction_in, info, rec_out, psnr_out], api_visibility="private")
            rows = load_examples(examples_dir, [s.key for s in models])
            if rows:
                previous = os.environ.get("GRADIO_EXAMPLES_CACHE")
                os.environ["GRADIO_EXAMPLES_CACHE"] = str(examples_cache_dir(rows, models, max_side))
                try:
                    # One table per model: the Direction column names a direction with the Radio's choices, which are
                    # those of the model picked when the table was built, so a shared table would show every row with
                    # the first model's domain names. With client inference an example fills the inputs and
                    # translates like the button, in the browser; otherwise its results are cached on the server.
                    for spec in (m for m in models if any(row[1] == m.key for row in rows)):
                        here = spec.key in browser_models
                        examples = gr.Examples([row for row in rows if row[1] == spec.key], inputs,
                                               None if here else outputs, fn=None if here else translate_page,
                                               cache_examples=not here, cache_mode="lazy", preprocess=False,
                                               examples_per_page=12, label=f"Examples: {spec.label}")
                        examples.dataset.component_props[inputs.index(direction_in)]["choices"] = direction_choices(spec)
                        if here:
                            examples.load_input_event.then(None, None, None, js=CLICK_TRANSLATE,
                                                           api_visibility="private")
                        else:
                            examples.dataset.click(show_stats, None, stats, api_visibility="private", queue=False)
                finally:
                    if previous is None:
                        os.environ.pop("GRADIO_EXAMPLES_CACHE")
                    else:
                        os.environ["GRADIO_EXAMPLES_CACHE"] = previous

        with gr.Tab("Video", id="video-tab"):
            gr.Markdown(f"Upload a short clip (at most {max_video_seconds:g} s and {human_size(max_video_bytes)}; "
                        f"frames are resized to {max_side} px on the long side) and get it back translated, with "
                        "its sound. *Steady* shares the normalisation statistics between frames and smooths the "
                        "picture where nothing moves; without it every frame is translated on its own and the "
                        "colours flicker.")
            with gr.Row(equal_height=False):
                with gr.Column(scale=1):
                    video_model_in = gr.Dropdown([(s.label, s.key) for s in models], value=first.key, label="Model",
                                                 elem_id="video-model")
                    video_direction_in = gr.Radio(direction_choices(first), value=first.default_direction.value,
                                                  label="Direction", elem_id="video-direction")
                    steady_in = gr.Checkbox(True, label="Steady (shared statistics and smoothing)", elem_id="steady")
                    side_in = gr.Checkbox(False, label="Real | generated side by side", elem_id="side-by-side")
                    video_button = gr.Button("Translate video", variant="primary", elem_id="translate-video")
                with gr.Column(scale=1):
                    video_in = gr.Video(sources=["upload"], label="Input video", height=260, elem_id="input-video")
            video_out = gr.Video(label="Translated video", interactive=False, height=320, elem_id="output-video")
            video_status = gr.Markdown(elem_id="video-status")
        video_button.click(translate_video, [video_in, video_model_in, video_direction_in, steady_in, side_in],
                           [video_out, video_status], api_name="translate_video", show_progress_on=video_out,
                           js=CLOSE_TOASTS)
        video_model_in.change(lambda m: gr.update(choices=direction_choices(cache.spec(m)),
                                                  value=cache.spec(m).default_direction.value),
                              video_model_in, video_direction_in, api_visibility="private", queue=False)
    return demo


def make_theme() -> gr.themes.Base:
    # System fonts only: the default theme would fetch Google Fonts, which an offline browser cannot.
    return gr.themes.Soft(primary_hue="teal", font=["ui-sans-serif", "system-ui", "sans-serif"],
                          font_mono=["ui-monospace", "monospace"])


def default_threads(concurrency: int) -> int:
    """Torch threads per translation: the cores shared out between the translations that run at once."""
    return max(1, cpu_cores() // max(1, concurrency))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.mcp and importlib.util.find_spec("mcp") is None:
        print('error: --mcp needs the MCP extra of Gradio: pip install "gradio[mcp]"', file=sys.stderr)
        return 2
    try:
        device = resolve_device(args.device)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    online = not args.no_zoo and zoo_reachable()
    if not args.no_zoo and not online:
        print("* Offline (the reference models' server cannot be resolved): only the reference models already "
              f"downloaded to {args.zoo_dir} are listed.")
    models = discover_models(args.checkpoints, args.model + model_ids_from_env(), zoo=not args.no_zoo,
                             zoo_dir=args.zoo_dir, online=online, first=args.first_model)
    # A GPU server translates faster than a visitor's CPU: auto leaves the work there.
    client = args.client_inference == "on" or (args.client_inference == "auto" and device.type != "cuda")
    browser = web_models(models) if client else {}
    try:
        limits = {"maxSide": args.max_side, "maxBytes": parse_size(args.max_file_size), "maxPixels": args.max_pixels}
        assets = app_assets(browser, limits) if browser else None
        demo = build_demo(models, max_side=args.max_side, max_file_size=args.max_file_size,
                          max_pixels=args.max_pixels, examples_dir=args.examples, zoo_dir=args.zoo_dir,
                          device=str(device), max_video_size=args.max_video_size,
                          max_video_seconds=args.max_video_seconds, browser_models=browser)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads or default_threads(args.concurrency))
    Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS or 0, args.max_pixels)  # so that ours is the limit that bites
    demo.queue(default_concurrency_limit=args.concurrency, max_size=args.queue_size)
    # quiet: Gradio's own banner says to "set `share=True` in `launch()`"; this app's way is --share.
    demo.launch(server_name=args.host, server_port=args.port, share=args.share,
                max_file_size=max(parse_size(args.max_file_size), parse_size(args.max_video_size)),
                theme=make_theme(), css=CSS, ssr_mode=False,
                allowed_paths=[str(Path(args.examples).resolve())], footer_links=["api", "gradio"],
                quiet=True, prevent_thread_lock=True, mcp_server=args.mcp,
                # COOP/COEP on every response (the browser's runtime may then use threads) and the page's scripts,
                # runtime and models under /cyclegan-web/, gzipped and cached for a year.
                app_kwargs={"middleware": [Middleware(IsolationMiddleware, folder=None if assets is None
                                                      else assets.parent)]},
                head=None if assets is None else
                f'<script type="module" src="{WEB_ROUTE}{assets.name}/gradio-client.js"></script>')
    if assets is not None:
        print(f"* Client inference: {', '.join(browser)} translate in the visitor's browser "
              f"({', '.join(s.key for s in models if s.key not in browser) or 'no model'} on the server).")
    print(f"* Running on local URL:  {demo.local_url}")
    if demo.share_url:
        print(f"* Running on public URL: {demo.share_url}")
    elif not args.share:  # (a failed --share has had Gradio's own explanation printed)
        print("* For a public link, restart with --share (python app.py --share).")
    sys.stdout.flush()
    demo.block_thread()
    return 0


if __name__ == "__main__":
    sys.exit(main())
