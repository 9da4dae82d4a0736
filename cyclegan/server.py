"""The server: the demo built over its models (the page, the files its browser side needs) and launched behind the
gate, with the queue, the isolation headers, the disk budget and the memory settings of a public server.

``build`` and ``launch`` are what ``app.py`` calls.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import torch
from PIL import Image

from .catalog import ModelSpec
from .config import UploadLimits
from .demo import Demo
from .memory import limit_malloc_arenas
from .page import CSS, layout, make_theme


def web_models(models: list[ModelSpec]) -> dict[str, Path]:
    """The models the page can run in the browser: local model folders with small generators (key -> folder)."""
    from .export import web_supported
    return {s.key: Path(s.source) for s in models if s.kind == "local" and web_supported(s.source)}


SESSIONS = 1000  # the sessions whose state the server keeps (see launch)


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
    from .serve import WEB_ROUTE, IsolationMiddleware
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
