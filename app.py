"""CycleGAN demo: upload a picture and see it translated (real | generated | reconstructed).

    python app.py                                   # http://127.0.0.1:7860, no network needed
    python app.py --model user/cyclegan-horse2zebra --port 8000
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

from PIL import Image, UnidentifiedImageError

ROOT = Path(__file__).resolve().parent
DIRECTIONS = ("AtoB", "BtoA")
MAX_SIDE = 512
MAX_FILE_SIZE = "20mb"


def build_parser() -> argparse.ArgumentParser:
    """The CLI. It needs neither torch nor gradio, so that --help and bad arguments answer at once."""
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python app.py", description="CycleGAN Gradio demo.")
    parser.add_argument("--host", default=env("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to serve on (env GRADIO_SERVER_NAME; 0.0.0.0 for the local network)")
    parser.add_argument("--port", type=int, default=int(env("GRADIO_SERVER_PORT", "7860")),
                        help="port (env GRADIO_SERVER_PORT)")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link (needs network)")
    parser.add_argument("--model", action="append", default=[],
                        help="a Hub repo id (or model folder) to list too; repeatable (env CYCLEGAN_MODELS)")
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
    parser.add_argument("--max-pixels", type=int, default=Image.MAX_IMAGE_PIXELS,
                        help="largest decoded image in pixels (decompression bomb guard)")
    parser.add_argument("--concurrency", type=int, default=1,
                        help="translations that run at once; the others wait in the queue and see their place in "
                             "it. On a 2-core CPU keep 1: two at once share the same cores, so each takes about "
                             "twice as long and nobody is served sooner")
    parser.add_argument("--queue-size", type=int, default=64,
                        help="requests that may wait in the queue; beyond that, new ones are turned away at once "
                             "with a 'queue is full' error rather than waiting minutes")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: cores / concurrency)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (CUDA when present)")
    return parser


if __name__ == "__main__":
    # --help and argument errors exit here, within a second: importing torch and gradio below takes ~10 s.
    build_parser().parse_args()

import base64  # noqa: E402
import binascii  # noqa: E402
import hashlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.parse  # noqa: E402
import uuid  # noqa: E402
import warnings  # noqa: E402
from dataclasses import dataclass  # noqa: E402

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from cyclegan import Translator  # noqa: E402
from cyclegan.data import to_rgb  # noqa: E402
from cyclegan.download import DownloadError  # noqa: E402
from cyclegan.hub import GENERATOR_FOLDERS, ModelNotFoundError, read_manifest  # noqa: E402
from cyclegan.translate import triptych  # noqa: E402
from cyclegan.zoo import ZOO, ZOO_URL, fetch as fetch_zoo_model  # noqa: E402

# Small results (a 64 px emoji) are scaled up to fill their box.
CSS = ".result img { width: 100%; height: 100%; object-fit: contain; }"
# Runs in the browser before a translation: closes the open toasts, then passes the inputs through unchanged.
CLOSE_TOASTS = ("(...inputs) => { document.querySelectorAll('[data-testid=\"toast-close\"]')"
                ".forEach((button) => button.click()); return inputs; }")
STEGANOGRAPHY_NOTE = (
    "**Cycle consistency.** *Reconstructed* is *Generated* translated back; the PSNR (dB) of Reconstructed "
    "against Real scores how well the cycle closes (higher is closer, 100 = identical). A near-perfect "
    "reconstruction is not proof of a faithful translation: CycleGAN can hide the source picture in "
    "imperceptible, low-amplitude detail of the generated image and decode it on the way back "
    "([Chu et al. 2017, \"CycleGAN, a master of steganography\"](https://arxiv.org/abs/1712.02950))."
)


# ---------------------------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class ModelSpec:
    """One entry of the model picker. ``key`` is what the API takes as ``model``."""
    key: str
    label: str
    kind: str  # "local" (a model folder), "hub" (a Hub repo id) or "zoo" (a reference model, downloaded)
    source: str  # folder path, repo id or zoo name
    domain_a: str = "A"
    domain_b: str = "B"
    license: str = ""
    summary: str = ""
    # The generators the model has: ("AtoB",) for a one-direction model (no reconstruction), such as the
    # reference's style_* models. A Hub model's are known once it is loaded.
    directions: tuple[str, ...] = DIRECTIONS


def is_model_folder(path: Path) -> bool:
    """Whether ``path`` holds a generator for every direction its manifest lists (both, unless it says otherwise)."""
    directions = read_manifest(path)["directions"] if (path / "G_AB").is_dir() else ["AtoB"]
    return all((path / GENERATOR_FOLDERS.get(d, d)).is_dir() for d in directions)


def arrow(directions: tuple[str, ...]) -> str:
    return "↔" if len(directions) == 2 else "→"


def local_spec(folder: Path, key: str) -> ModelSpec:
    m = read_manifest(folder)
    directions = tuple(d for d in DIRECTIONS if d in m["directions"])
    return ModelSpec(key, f"{m['name']} ({m['domain_a']} {arrow(directions)} {m['domain_b']})", "local", str(folder),
                     m["domain_a"], m["domain_b"], m["license"], m["summary"], directions)


def zoo_downloaded(zoo_dir: str | Path | None, name: str) -> bool:
    """Whether ``cyclegan.zoo.fetch`` has already saved this reference model (so it works offline)."""
    folder = Path(zoo_dir) / f"{name}-reference" if zoo_dir else None
    subs = ("G_AB", "G_BA") if ZOO[name][1] else ("G_AB",)  # one-direction models have G_AB/ only
    return bool(folder) and all((folder / g / "model.safetensors").is_file() for g in subs)


def zoo_reachable(timeout: float = 2.0) -> bool:
    """Whether the reference models' server resolves within ``timeout`` s: a cheap look at being online.

    Run in a thread because a resolver with no network can hang for many seconds before it fails.
    """
    host = urllib.parse.urlsplit(ZOO_URL).hostname or ""
    result: list[bool] = []

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, None)
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=lookup, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def discover_models(checkpoints: str | Path | None, extra: list[str] = (), zoo: bool = True,
                    zoo_dir: str | Path | None = None, online: bool = True) -> list[ModelSpec]:
    """Shipped model folders (sorted), then ``extra`` (Hub repo ids or folders), then the reference zoo.

    Offline, only the reference models already in ``zoo_dir`` are listed: the others could only fail.
    """
    specs: list[ModelSpec] = []
    if checkpoints and Path(checkpoints).is_dir():
        for folder in sorted(p for p in Path(checkpoints).iterdir() if not p.name.startswith(".")):
            if folder.is_dir() and is_model_folder(folder):
                specs.append(local_spec(folder, folder.name))
    for name in extra:
        if any(s.key == name for s in specs):
            continue
        if Path(name).is_dir():
            specs.append(local_spec(Path(name), name))
        else:
            specs.append(ModelSpec(name, f"{name} (Hugging Face Hub)", "hub", name,
                                   summary=f"Hub model `{name}`, fetched on first use (or read from the local cache)."))
    if zoo:
        for name, (_, file_ba, a, b) in ZOO.items():
            here = zoo_downloaded(zoo_dir, name)
            if not (here or online):
                continue
            directions = DIRECTIONS if file_ba else ("AtoB",)
            # "Reference" first, so that it never reads like the shipped model of the same name (monet2photo).
            size = "~90 MB" if file_ba else "~45 MB"
            label = (f"Reference {name} ({a} {arrow(directions)} {b})" if here
                     else f"Reference {name} (download, {size})")
            specs.append(ModelSpec(f"zoo:{name}", label, "zoo", name, a, b,
                                   "bsd-2-clause",
                                   "The reference implementation's published generators "
                                   "(junyanz/pytorch-CycleGAN-and-pix2pix), downloaded on first use.", directions))
    return specs


def model_ids_from_env() -> list[str]:
    return [m for m in re.split(r"[,\s]+", os.environ.get("CYCLEGAN_MODELS", "")) if m]


class ModelCache:
    """Loads each model once, on first use, and keeps it; concurrent first uses of one model load it once."""

    def __init__(self, specs: list[ModelSpec], zoo_dir: str | Path, device: str = "cpu"):
        self.specs = {s.key: s for s in specs}
        self.zoo_dir, self.device = Path(zoo_dir), device
        self._models: dict[str, Translator] = {}
        self._locks = {key: threading.Lock() for key in self.specs}

    def spec(self, key: str) -> ModelSpec:
        """The model with this key (or, for API callers, this label)."""
        spec = self.specs.get(key) or next((s for s in self.specs.values() if s.label == key), None)
        if spec is None:
            raise gr.Error(f"Unknown model {key!r}. Available: {', '.join(self.specs)}", print_exception=False)
        return spec

    def loaded(self, key: str) -> bool:
        return self.spec(key).key in self._models

    def get(self, key: str) -> Translator:
        spec = self.spec(key)
        key = spec.key
        with self._locks[key]:
            if key not in self._models:
                try:
                    source = fetch_zoo_model(spec.source, self.zoo_dir, timeout=10) if spec.kind == "zoo" else spec.source
                    translator = Translator.from_pretrained(source, device=self.device)
                except DownloadError as e:
                    raise gr.Error(download_failure(spec, e), print_exception=False) from None
                except ModelNotFoundError as e:
                    raise gr.Error(f"Could not load model {spec.label}: {e}", print_exception=False) from None
                except Exception as e:  # e.g. a corrupted download: say so rather than a bare "Error"
                    first_line = (str(e).splitlines() or [""])[0]
                    raise gr.Error(f"Could not load model {spec.label}: {type(e).__name__}: {first_line}") from e
                m = translator.manifest
                spec.domain_a, spec.domain_b = m.get("domain_a", "A"), m.get("domain_b", "B")
                spec.directions = tuple(d for d in DIRECTIONS if d in translator.generators)
                spec.license, spec.summary = m.get("license", spec.license), m.get("summary") or spec.summary
                self._models[key] = translator
            return self._models[key]


# What urllib reports when there is no network at all (as opposed to a server that refuses or fails).
OFFLINE_HINTS = ("Name or service not known", "Temporary failure in name resolution", "nodename nor servname",
                 "getaddrinfo failed", "Network is unreachable", "No route to host", "timed out")


def download_failure(spec: ModelSpec, error: Exception) -> str:
    """One line for a model whose download failed, saying plainly when the machine looks offline."""
    reason = str(error)
    if reason.startswith("could not download ") and ": " in reason:  # drop the URL: the user needs the why
        reason = reason.split(": ", 1)[1]
    if any(hint in reason for hint in OFFLINE_HINTS):
        return (f"Could not download the model {spec.source}: this machine looks offline ({reason}). "
                "The models shipped in checkpoints/ work without the network.")
    return f"Could not download the model {spec.source}: {reason}"


def direction_choices(spec: ModelSpec) -> list[tuple[str, str]]:
    """Only the directions the model has: a one-direction model offers just A → B."""
    choices = [(f"{spec.domain_a} → {spec.domain_b}", "AtoB"), (f"{spec.domain_b} → {spec.domain_a}", "BtoA")]
    return [(label, d) for label, d in choices if d in spec.directions]


def model_info(spec: ModelSpec) -> str:
    lic = f" · license: {spec.license}" if spec.license else ""
    one_way = "" if len(spec.directions) == 2 else " · one direction only: no reconstruction"
    return f"**{spec.domain_a} {arrow(spec.directions)} {spec.domain_b}**{lic}{one_way}  \n{spec.summary}"


def reconstructed_label(spec: ModelSpec) -> str:
    """The Reconstructed box's label: it says why the box stays empty for a one-direction model."""
    if len(spec.directions) == 2:
        return "Reconstructed"
    return f"Reconstructed: none (this model has no {spec.domain_b} → {spec.domain_a} generator)"


def check_direction(spec: ModelSpec, direction: str) -> None:
    if direction not in spec.directions:
        raise gr.Error(f"{spec.label} translates {spec.domain_a} → {spec.domain_b} only (a one-direction model): "
                       "use direction 'AtoB'.", print_exception=False)


# ---------------------------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------------------------

class BadImage(ValueError):
    """An upload that cannot be used, with what is wrong in one line."""


def parse_size(size: str | int) -> int:
    """'20mb', '1.5 MB', '500kb', '1024' or an int -> bytes."""
    if isinstance(size, int):
        return size
    match = re.fullmatch(r"\s*([\d.]+)\s*([kmg]?i?b?)?\s*", size.lower())
    if not match:
        raise ValueError(f"not a file size: {size!r} (try 20mb)")
    unit = (match.group(2) or "b")[0]
    return int(float(match.group(1)) * {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit])


def human_size(n: int) -> str:
    return f"{n / 1024**2:.1f} MB" if n >= 1024**2 else f"{n / 1024:.0f} kB" if n >= 1024 else f"{n} bytes"


def decode_image(data: str | Path | bytes, *, max_bytes: int | None = None, max_pixels: int | None = None,
                 max_side: int | None = None, name: str = "the upload") -> Image.Image:
    """An uploaded file (path or bytes) as an RGB PIL image; ``BadImage`` says what is wrong with it.

    Any mode is converted (transparency on white, 16-bit, CMYK, palette, EXIF rotation, first frame of an
    animation). ``max_side`` lets JPEG decode at a reduced scale that is still at least that big.
    """
    try:
        size = len(data) if isinstance(data, bytes) else os.path.getsize(data)
    except OSError as e:
        raise BadImage(f"cannot read {name}: {e.strerror}") from None
    if size == 0:
        raise BadImage(f"empty file: {name} has 0 bytes")
    if max_bytes is not None and size > max_bytes:
        raise BadImage(f"file too large: {human_size(size)} > limit of {human_size(max_bytes)}")
    limit = max_pixels or Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked below against our limit
            image = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
    except UnidentifiedImageError:
        raise BadImage(f"not an image: cannot read {name} as a picture "
                       "(PNG, JPEG, WebP, GIF, BMP, TIFF, ...)") from None
    except Image.DecompressionBombError as e:
        raise BadImage(f"image too large: {e}".split(", could be")[0]) from None
    except Exception as e:  # PIL raises many types for broken headers
        raise BadImage(f"corrupted or truncated image: {e}") from None
    with image:
        pixels = image.width * image.height
        if limit and pixels > limit:
            raise BadImage(f"image too large: {image.width}×{image.height} = {pixels:,} pixels > limit of "
                           f"{limit:,} pixels (decompression bomb protection)")
        try:
            if max_side and image.format == "JPEG":
                image.draft(None, (max_side, max_side))
            image.load()
            return to_rgb(image)
        except Exception as e:  # OSError "image file is truncated", SyntaxError "broken PNG file", ...
            raise BadImage(f"corrupted or truncated image: {e}") from None


def fit(image: Image.Image, max_side: int | None) -> Image.Image:
    """Shrink so that the long side is at most ``max_side``, keeping the aspect ratio (never enlarges)."""
    if not max_side or max(image.size) <= max_side:
        return image
    scale = max_side / max(image.size)
    size = (max(1, min(max_side, round(image.width * scale))), max(1, min(max_side, round(image.height * scale))))
    return image.resize(size, Image.Resampling.LANCZOS)


def psnr(a: Image.Image, b: Image.Image, cap: float = 100.0) -> float:
    """PSNR in dB of two same-size 8-bit images; identical images give ``cap``."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    mse = float(np.mean((x - y) ** 2))
    return cap if mse == 0 else min(cap, 10 * math.log10(255.0**2 / mse))


def read_upload(payload, **limits) -> Image.Image:
    """The image input's raw payload (a FileData dict, a path or a data: URL) as RGB; gr.Error if unusable."""
    if isinstance(payload, dict):
        url, path, name = payload.get("url"), payload.get("path"), payload.get("orig_name")
    else:
        url, path, name = None, payload, None
    try:
        if isinstance(url, str) and url.startswith("data:") and not path:
            try:
                data = base64.b64decode(url.split(",", 1)[1], validate=False)
            except (IndexError, binascii.Error):
                raise BadImage("not an image: the data URL cannot be decoded") from None
            return decode_image(data, name=name or "the pasted image", **limits)
        if not path:
            raise gr.Error("No image: upload, paste or take a picture first.", print_exception=False)
        return decode_image(path, name=repr(name or Path(path).name), **limits)
    except BadImage as e:
        message = str(e)
        # No title=: Gradio 6 heads every toast with its type ("Error"), so the message itself says what is wrong.
        raise gr.Error(message[0].upper() + message[1:], print_exception=False) from None


# ---------------------------------------------------------------------------------------------------------------
# The app
# ---------------------------------------------------------------------------------------------------------------

def load_examples(folder: str | Path | None, keys: list[str]) -> list[list[str]]:
    """Rows [file, model, direction] from ``folder/examples.json``; entries with a missing file or model are skipped."""
    if not folder or not (Path(folder) / "examples.json").is_file():
        return []
    folder = Path(folder)
    try:
        entries = json.loads((folder / "examples.json").read_text())
    except (OSError, ValueError) as e:
        warnings.warn(f"ignoring {folder / 'examples.json'}: {e}")
        return []
    rows = []
    for entry in entries if isinstance(entries, list) else []:
        try:
            file, model, direction = folder / entry["file"], entry["model"], entry.get("direction", "AtoB")
        except (TypeError, KeyError):
            warnings.warn(f"ignoring example {entry!r}: needs 'file' and 'model'")
            continue
        if not file.is_file() or model not in keys or direction not in DIRECTIONS:
            warnings.warn(f"ignoring example {entry!r}: file missing, model not listed or bad direction")
            continue
        rows.append([str(file), model, direction])
    return rows


def examples_cache_dir(rows: list[list[str]], specs: list[ModelSpec], max_side: int) -> Path:
    """A cache folder per (examples, model weights, max_side), so a retrained model never shows stale outputs."""
    h = hashlib.sha256(json.dumps([rows, max_side]).encode())
    for spec in specs:
        h.update(spec.key.encode())
        for sub in ("G_AB", "G_BA") if spec.kind == "local" else ():
            for f in sorted((Path(spec.source) / sub).glob("*")):
                st = f.stat()
                h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    root = Path(os.environ.get("GRADIO_EXAMPLES_CACHE", ".gradio/cached_examples"))
    return root / f"cyclegan-{h.hexdigest()[:16]}"


def build_demo(models: list[ModelSpec], *, max_side: int = MAX_SIDE, max_file_size: str | int = MAX_FILE_SIZE,
               max_pixels: int | None = None, examples_dir: str | Path | None = ROOT / "examples",
               zoo_dir: str | Path | None = None, device: str = "cpu") -> gr.Blocks:
    """The Gradio Blocks UI over ``models`` (see ``discover_models``); call ``.queue()`` and ``.launch()`` on it."""
    if not models:
        raise ValueError("no models: put a model folder in checkpoints/ or pass --model")
    cache = ModelCache(models, zoo_dir or Path.home() / ".cache" / "cyclegan" / "zoo", device)
    limits = dict(max_bytes=parse_size(max_file_size), max_pixels=max_pixels, max_side=max_side)
    # Gradio's temp dir (GRADIO_TEMP_DIR) holds the triptychs for the download button; save_triptych prunes it.
    downloads = Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio") / "cyclegan-triptychs"

    def translate(image, model, direction):
        """Translate an image: real, generated and reconstructed PNGs, seconds taken, PSNR (dB), triptych PNG."""
        start = time.perf_counter()
        model = model or models[0].key
        direction = direction or "AtoB"
        if direction not in DIRECTIONS:
            raise gr.Error(f"Unknown direction {direction!r}: use 'AtoB' or 'BtoA'.", print_exception=False)
        spec = cache.spec(model)
        check_direction(spec, direction)  # before any download, where the directions are known
        picture = fit(read_upload(image, **limits), max_side)
        translator = cache.get(spec.key)
        check_direction(spec, direction)  # a Hub model's directions are known only now
        with torch.inference_mode():
            real, fake, rec = translator(picture, direction)
        # A one-direction model has no reconstruction (rec is None): no PSNR either, and a two-image triptych.
        score = None if rec is None else round(psnr(real, rec), 2)
        images = [im for im in (real, fake, rec) if im is not None]
        path = save_triptych(triptych(*images), downloads, f"cyclegan-{Path(spec.source).name}-{direction}")
        return real, fake, rec, round(time.perf_counter() - start, 3), score, str(path)

    def show_stats() -> gr.Row:
        return gr.Row(visible=True)

    def clear_results() -> tuple[None, None, gr.Row]:
        return None, None, gr.Row(visible=False)

    def select_model(model):
        """Direction choices, model info, and the Reconstructed and PSNR boxes as fit the model (a one-direction
        model has neither a B → A choice nor a reconstruction)."""
        spec = cache.spec(model)
        if spec.kind == "hub" and not cache.loaded(model):
            try:
                cache.get(model)  # fetches now, so the domain names are known and a failure shows at once
            except gr.Error as e:
                gr.Warning(e.message, duration=15)
                return (gr.update(choices=direction_choices(spec)), f"⚠️ {e.message}", gr.update(),
                        gr.update())
        one_way = len(spec.directions) == 1
        direction = gr.update(choices=direction_choices(spec), **({"value": spec.directions[0]} if one_way else {}))
        return (direction, model_info(spec), gr.update(label=reconstructed_label(spec)),
                gr.update(visible=not one_way))

    first = models[0]
    with gr.Blocks(title="CycleGAN", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown("# CycleGAN: unpaired image-to-image translation\n"
                    "Upload a picture, pick a model and a direction, and see it translated and translated back.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=1):
                model_in = gr.Dropdown([(s.label, s.key) for s in models], value=first.key, label="Model",
                                       elem_id="model")
                info = gr.Markdown(model_info(first), elem_id="model-info")
                direction_in = gr.Radio(direction_choices(first), value="AtoB", label="Direction", elem_id="direction")
                button = gr.Button("Translate", variant="primary", elem_id="translate")
            with gr.Column(scale=1):
                image_in = gr.Image(type="filepath", sources=["upload", "clipboard", "webcam"], image_mode=None,
                                    label="Input image", height=260, elem_id="input-image")
        with gr.Row():
            real_out, fake_out, rec_out = (
                gr.Image(type="pil", format="png", label=label, interactive=False, height=300,
                         elem_id=label.lower(), elem_classes="result")
                for label in ("Real", "Generated", "Reconstructed"))
            rec_out.label = reconstructed_label(first)  # after the loop: elem_id stays "reconstructed"
        # Hidden until a first result: Gradio's Number shows 0 when it has no value, which reads as a result.
        with gr.Row(equal_height=True, visible=False, elem_id="result-stats") as stats:
            seconds_out = gr.Number(label="Seconds", precision=2, interactive=False, elem_id="seconds")
            psnr_out = gr.Number(label="Cycle consistency: PSNR of Reconstructed vs Real (dB)", precision=1,
                                 interactive=False, elem_id="psnr", visible=len(first.directions) == 2)
            download = gr.DownloadButton("Download triptych (PNG)", variant="secondary", elem_id="download",
                                         size="md")
        gr.Markdown(STEGANOGRAPHY_NOTE + f"\n\nThe long side of the input is resized to at most {max_side} px.")
        inputs = [image_in, model_in, direction_in]
        outputs = [real_out, fake_out, rec_out, seconds_out, psnr_out, download]
        # preprocess=False: the upload reaches `translate` undecoded, so every bad file gets our own clear error.
        # show_progress_on: the queue position, the timer and an error badge show on Generated alone, not on all
        # six outputs (an error otherwise badges every box and hides the PSNR label; the toast says what is wrong).
        # js: a new attempt first closes the toasts of earlier ones, so that errors do not pile up ("Error (3)").
        # After a failure the previous result is cleared away, so that it does not pass for this attempt's.
        event = button.click(translate, inputs, outputs, api_name="translate", preprocess=False,
                             show_progress_on=fake_out, js=CLOSE_TOASTS)
        event.success(show_stats, None, stats, api_visibility="private", queue=False)
        event.failure(clear_results, None, [real_out, rec_out, stats], api_visibility="private", queue=False,
                      show_progress="hidden")
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
                # the first model's domain names.
                for spec in (m for m in models if any(row[1] == m.key for row in rows)):
                    examples = gr.Examples([row for row in rows if row[1] == spec.key], inputs, outputs,
                                           fn=translate, cache_examples=True, cache_mode="lazy", preprocess=False,
                                           examples_per_page=12, label=f"Examples: {spec.label}")
                    examples.dataset.component_props[inputs.index(direction_in)]["choices"] = direction_choices(spec)
                    examples.dataset.click(show_stats, None, stats, api_visibility="private", queue=False)
            finally:
                if previous is None:
                    os.environ.pop("GRADIO_EXAMPLES_CACHE")
                else:
                    os.environ["GRADIO_EXAMPLES_CACHE"] = previous
    return demo


def make_theme() -> gr.themes.Base:
    # System fonts only: the default theme would fetch Google Fonts, which an offline browser cannot.
    return gr.themes.Soft(primary_hue="teal", font=["ui-sans-serif", "system-ui", "sans-serif"],
                          font_mono=["ui-monospace", "monospace"])


def save_triptych(image: Image.Image, folder: Path, stem: str, max_age: float = 3600) -> Path:
    """Write the PNG for the download button in a fresh subfolder; subfolders older than ``max_age`` s go."""
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


def default_threads(concurrency: int) -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, concurrency))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    device = args.device if args.device != "auto" else "cuda" if torch.cuda.is_available() else "cpu"

    online = not args.no_zoo and zoo_reachable()
    if not args.no_zoo and not online:
        print("* Offline (the reference models' server cannot be resolved): only the reference models already "
              f"downloaded to {args.zoo_dir} are listed.")
    models = discover_models(args.checkpoints, args.model + model_ids_from_env(), zoo=not args.no_zoo,
                             zoo_dir=args.zoo_dir, online=online)
    try:
        demo = build_demo(models, max_side=args.max_side, max_file_size=args.max_file_size,
                          max_pixels=args.max_pixels, examples_dir=args.examples, zoo_dir=args.zoo_dir,
                          device=device)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads or default_threads(args.concurrency))
    Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS or 0, args.max_pixels)  # so that ours is the limit that bites
    demo.queue(default_concurrency_limit=args.concurrency, max_size=args.queue_size)
    # quiet: Gradio's own banner says to "set `share=True` in `launch()`"; this app's way is --share.
    demo.launch(server_name=args.host, server_port=args.port, share=args.share,
                max_file_size=parse_size(args.max_file_size), theme=make_theme(), css=CSS, ssr_mode=False,
                allowed_paths=[str(Path(args.examples).resolve())], footer_links=["api", "gradio"],
                quiet=True, prevent_thread_lock=True)
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
