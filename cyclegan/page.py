"""The demo's page: the Image, Video and Camera tabs laid out top to bottom, their events wired to ``Demo``'s
handlers (``cyclegan.demo``), the examples, the theme; every input guarded (``guard.guard_inputs``). The page's
scripts live in ``webapp/`` (``events/*.js`` for the buttons, ``gradio-client.js`` for translating in the browser,
``camera.js`` for the camera).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Collection

import gradio as gr

from .catalog import (ModelSpec, direction_choices, examples_cache_dir, load_examples, model_info,
                      reconstructed_label)
from .config import UploadLimits
from .demo import Demo
from .guard import guard_inputs
from .uploads import human_size
from .runtime import WEBAPP

# Small results (a 64 px emoji) are scaled up to fill their box; the server's own buttons are in the page, unseen.
CSS = ".result img { width: 100%; height: 100%; object-fit: contain; } .cg-hidden { display: none !important; }"
STEGANOGRAPHY_NOTE = (
    "**Cycle consistency.** *Reconstructed* is *Generated* translated back; the PSNR (dB) of Reconstructed "
    "against Real scores how well the cycle closes (higher is closer, 100 = identical). A near-perfect "
    "reconstruction is not proof of a faithful translation: CycleGAN can hide the source picture in "
    "imperceptible, low-amplitude detail of the generated image and decode it on the way back "
    "([Chu et al. 2017, \"CycleGAN, a master of steganography\"](https://arxiv.org/abs/1712.02950))."
)


def page_script(name: str) -> str:
    """``webapp/events/NAME.js``, one JavaScript function for an event's ``js=`` (its comment lines left out)."""
    text = (WEBAPP / "events" / f"{name}.js").read_text()
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))


def build_demo(models: list[ModelSpec], *, limits: UploadLimits = UploadLimits(),
               examples_dir: str | Path | None = None, zoo_dir: str | Path | None = None, device: str = "cpu",
               browser_models: Collection[str] = ()) -> gr.Blocks:
    """The Gradio Blocks UI over ``models`` (see ``catalog.discover_models``); call ``.queue()`` and ``.launch()``.

    ``browser_models``: the keys of the models (``web_models``) whose pictures the page translates in the browser
    (``cyclegan/webapp/gradio-client.js``), sending the rest to the server; none: the server translates all. The
    launch then needs ``serve.IsolationMiddleware`` and the script in the page's head, as ``launch`` gives them."""
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
