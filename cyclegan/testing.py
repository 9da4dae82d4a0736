"""Support for the project's tests and benchmarks (not needed to train, translate or serve): tiny models, pictures
and clips made on the spot (noise, scenes that move, hostile files), and the app served on a free port.

Both import it as any module of the package (``from cyclegan.testing import make_tiny_model``), so neither reaches
into the other's folder. Heavy imports (torch, PyAV, Gradio's client) happen inside the functions that need them.
"""
from __future__ import annotations

import functools
import http.server
import io
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]  # the checkout (app.py, examples/, checkpoints/), where there is one
SHARED_DATA = ROOT.parent / "shared" / "data"  # the project machines' real data sets, beside the checkout


def write_images(folder: Path, n: int, color: tuple[int, int, int], size: int = 40, seed: int = 0,
                 ext: str = "png") -> list[Path]:
    """``n`` noisy pictures of about ``color`` in ``folder`` (000.png, 001.png, ...): a domain for a tiny training."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        pixels = np.clip(np.array(color) + rng.normal(0, 25, (size, size, 3)), 0, 255).astype(np.uint8)
        path = folder / f"{i:03d}.{ext}"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB.

    Linux's VmHWM where there is one: ru_maxrss would carry over the parent's peak into a process started with
    fork/vfork + exec, so a child of a big process would report its parent's memory."""
    import re
    import resource
    try:
        status = Path("/proc/self/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024
    except (OSError, AttributeError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def free_port() -> int:
    """A port nothing listens on right now (also good as a 'connection refused' address)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def noise(w: int, h: int, seed: int = 0) -> Image.Image:
    """A w x h picture of uniform noise."""
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def random_batch(h: int = 44, w: int = 60, batch: int = 1, seed: int = 1):
    """A batch x 3 x h x w tensor of uniform noise in [-1, 1]: a generator's input."""
    import torch
    return torch.rand(batch, 3, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def encoded(image: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    """``image`` as the bytes of a ``fmt`` file."""
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


# -- tiny models, a Hub cache, servers ---------------------------------------------------------------------------
def tiny_configs(dataroot: Path, out: Path, **overrides):
    """(TrainConfig, ModelConfig) of a tiny training run on ``dataroot`` (32 px crops, ngf 8, 2 blocks), with
    ``overrides`` of TrainConfig's fields."""
    from .config import ModelConfig, TrainConfig
    cfg = TrainConfig(dataroot=str(dataroot), out=str(out), load_size=36, crop_size=32, epochs=1, decay_epochs=1,
                      workers=0, device="cpu", seed=3, pool_size=4)
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg, ModelConfig(ngf=8, ndf=8, n_blocks=2)


def reference_layout(ngf: int, n_blocks: int, dropout: bool = False) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the reference ResnetGenerator (instance norm, so every conv has a bias)."""
    shapes = {"model.1": (ngf, 3, 7, 7), "model.4": (ngf * 2, ngf, 3, 3), "model.7": (ngf * 4, ngf * 2, 3, 3)}
    second = 6 if dropout else 5
    for b in range(n_blocks):
        shapes[f"model.{10 + b}.conv_block.1"] = (ngf * 4, ngf * 4, 3, 3)
        shapes[f"model.{10 + b}.conv_block.{second}"] = (ngf * 4, ngf * 4, 3, 3)
    up = 10 + n_blocks
    shapes[f"model.{up}"] = (ngf * 4, ngf * 2, 3, 3)  # ConvTranspose2d weights are (in, out, k, k)
    shapes[f"model.{up + 3}"] = (ngf * 2, ngf, 3, 3)
    shapes[f"model.{up + 7}"] = (3, ngf, 7, 7)
    transposed = {f"model.{up}", f"model.{up + 3}"}
    layout = {}
    for k, shape in shapes.items():
        layout[f"{k}.weight"] = shape
        layout[f"{k}.bias"] = (shape[1] if k in transposed else shape[0],)  # one bias per output channel
    return layout


def make_tiny_model(folder: Path, name: str = "tiny", domain_a: str = "apple", domain_b: str = "orange", **kw) -> Path:
    """A tiny untrained model folder; ``kw`` go to ``save_model_folder`` (native_size, default_direction, ...)."""
    import torch
    from .model_folder import save_model_folder
    from .networks import Generator
    torch.manual_seed(0)
    return save_model_folder(Generator(ngf=8, n_blocks=2), Generator(ngf=8, n_blocks=2), folder, name=name,
                        domain_a=domain_a, domain_b=domain_b, train_config={}, model_config={"ngf": 8, "n_blocks": 2},
                        summary=f"A tiny untrained test model ({name}).", **kw)


def prefill_hub_cache(cache: Path, repo_id: str, model_folder: Path, commit: str = "0" * 39 + "1") -> Path:
    """The layout huggingface_hub's cache uses: models--owner--name/{refs/main, snapshots/<commit>/...}."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(model_folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return repo


def make_site(tmp_path: Path) -> Path:
    """A static site of a tiny model with one example picture (and an example of a model it does not hold)."""
    import json
    from .export import export_site
    examples = tmp_path / "examples"
    examples.mkdir()
    noise(60, 40).save(examples / "x.png")
    (examples / "examples.json").write_text(json.dumps([{"file": "x.png", "model": "tiny", "direction": "AtoB"},
                                                        {"file": "x.png", "model": "other", "direction": "AtoB"}]))
    return export_site([make_tiny_model(tmp_path / "tiny")], tmp_path / "site", examples)


class SlowFileServer:
    """Serves a folder on 127.0.0.1 in ``chunk``-byte pieces with a pause after each, so that a download lasts long
    enough (a few seconds) for its progress to be watched. A context manager; ``url`` is its address."""

    def __init__(self, folder: Path, chunk: int = 1 << 20, pause: float = 0.05):
        class Handler(http.server.SimpleHTTPRequestHandler):
            def copyfile(self, source, outputfile):
                while data := source.read(chunk):
                    outputfile.write(data)
                    time.sleep(pause)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     functools.partial(Handler, directory=str(folder)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "SlowFileServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class AppServer:
    """`python app.py ARGS` on a free 127.0.0.1 port, stopped (and its log shown on failure) by ``close``.

    ``timeout`` is generous: importing torch and gradio took 80-90 s on a 2-core machine that other jobs loaded.
    """

    def __init__(self, args: list[str], env: dict[str, str], log: Path, port: int | None = None,
                 port_from_env: bool = False, timeout: float = 240):
        import httpx
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        full_env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1", **env}
        full_env.pop("GRADIO_SERVER_NAME", None)
        if port_from_env:
            full_env["GRADIO_SERVER_PORT"] = str(self.port)
        else:
            args = [*args, "--port", str(self.port)]
        self._log_file = open(log, "w")
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), *args], cwd=ROOT, env=full_env,
                                     stdout=self._log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self.close()
                raise RuntimeError(f"app.py exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.url + "/config", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"app.py did not serve {self.url} within {timeout} s:\n{self.output()}")
            time.sleep(0.3)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()


# -- scenes that move, and clips ------------------------------------------------------------------------------------
def blink_scene(photo: Path, size: tuple[int, int] = (256, 192), frames: int = 48, noise: float = 3.0,
                seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """A still photo with camera noise (gaussian, ``noise`` levels), a light blinking red / green every 4 frames
    and a dark car passing left to right; returns the frames and the static region's mask (away from both)."""
    w, h = size
    base = np.asarray(Image.open(photo).convert("RGB").resize(size, Image.Resampling.LANCZOS), np.float32)
    rng = np.random.default_rng(seed)
    light = (slice(h // 8, h // 8 + h // 10), slice(w // 10, w // 10 + h // 10))
    car_y, car_w = slice(h * 5 // 8, h * 5 // 8 + h // 8), w // 5
    out = []
    for t in range(frames):
        f = base + rng.normal(0, noise, base.shape)
        f[light] = (255, 60, 40) if (t // 4) % 2 else (40, 220, 80)
        x = round(t * (w - car_w) / max(1, frames - 1))
        f[car_y, x:x + car_w] = (40, 40, 60)
        out.append(np.clip(np.round(f), 0, 255).astype(np.uint8))
    moving = np.zeros((h, w), bool)
    pad = 12  # the generator's receptive field spreads a change a few pixels around
    moving[max(0, light[0].start - pad):light[0].stop + pad, max(0, light[1].start - pad):light[1].stop + pad] = True
    moving[max(0, car_y.start - pad):car_y.stop + pad, :] = True
    return out, ~moving


def pan_scene(photo: Path, size: tuple[int, int] = (256, 192), frames: int = 48, noise: float = 3.0,
              seed: int = 0) -> list[np.ndarray]:
    """A slow pan (a pixel every other frame) across a photo, with camera noise."""
    w, h = size
    wide = np.asarray(Image.open(photo).convert("RGB").resize((w + frames // 2 + 1, h), Image.Resampling.LANCZOS),
                      np.float32)
    rng = np.random.default_rng(seed)
    return [np.clip(np.round(wide[:, t // 2:t // 2 + w] + rng.normal(0, noise, (h, w, 3))), 0, 255).astype(np.uint8)
            for t in range(frames)]


def flicker(source: str | Path, translated: str | Path, static: np.ndarray | None = None,
            moving: np.ndarray | None = None, still_levels: float = 2.0) -> dict[str, float]:
    """How much a translated clip changes from frame to frame, where its source stands still and where it moves.

    ``static`` and ``moving`` are HxW boolean masks of the regions (a made-up scene knows them); without them a
    pixel counts as static for a pair of frames where the source's change there, averaged over 5x5 pixels, stays
    under ``still_levels`` of 255 (camera noise cancels out), and as moving elsewhere. Returns the mean absolute
    change per frame (of 255 levels) of the output and of the source in both regions."""
    import torch
    from .metrics import frame_change
    from .steady import local_change
    sums = dict.fromkeys(("static_output", "static_input", "moving_output", "moving_input"), 0.0)
    pairs, previous = 0, None
    for a, b in zip(read_frames(source), read_frames(translated)):
        a, b = torch.from_numpy(a).float(), torch.from_numpy(b).float()
        if b.shape != a.shape:
            raise ValueError(f"the translated clip's frames ({tuple(b.shape)}) differ in size from the source's "
                             f"({tuple(a.shape)})")
        if previous is not None:
            if static is None:
                chw = lambda f: f.permute(2, 0, 1)[None]  # noqa: E731
                still = local_change(chw(previous[0]), chw(a))[0, 0] < still_levels
                regions = (still, ~still)
            else:
                regions = (torch.from_numpy(static), torch.from_numpy(moving if moving is not None else ~static))
            for region, mask in zip(("static", "moving"), regions):
                sums[f"{region}_output"] += frame_change(previous[1], b, mask)
                sums[f"{region}_input"] += frame_change(previous[0], a, mask)
            pairs += 1
        previous = (a, b)
    return {k: v / max(1, pairs) for k, v in sums.items()}


def read_frames(path: str | Path) -> Iterable[np.ndarray]:
    """The frames of a video as HxWx3 uint8 arrays, one at a time."""
    import av
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            yield frame.to_ndarray(format="rgb24")


def write_video(path: str | Path, frames: Iterable[np.ndarray | Image.Image], fps: float | Fraction = 25, *,
                tone_hz: float | None = None, crf: int = 18) -> Path:
    """Write ``frames`` (HxWx3 uint8 arrays or PIL images, of one even size) as an H.264 MP4; with ``tone_hz``
    also an AAC sine tone as long as the video (a clip whose sound can be checked)."""
    import av
    from .video import _Encoder
    path, fps = Path(path), Fraction(fps).limit_denominator(1001)
    frames = iter(frames)
    first = next(frames)
    first = first if isinstance(first, Image.Image) else Image.fromarray(first)
    encoder = _Encoder(path, first.size, fps, crf)
    tone = encoder.container.add_stream("aac", rate=44100, layout="mono") if tone_hz else None
    n = 0
    for image in (first, *(f if isinstance(f, Image.Image) else Image.fromarray(f) for f in frames)):
        encoder.write(image)
        n += 1
    if tone is not None:
        samples = int(44100 * n / fps)
        wave = (0.2 * np.sin(2 * np.pi * tone_hz * np.arange(samples) / 44100)).astype(np.float32)[None]
        for start in range(0, samples, 1024):
            frame = av.AudioFrame.from_ndarray(wave[:, start:start + 1024], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 44100, start
            encoder.container.mux(tone.encode(frame))
        encoder.container.mux(tone.encode(None))
    encoder.close()
    return path


def write_y4m(path: str | Path, frames: Iterable[np.ndarray | Image.Image], fps: int = 10) -> Path:
    """``frames`` (HxWx3 uint8, of one even size) as an uncompressed YUV4MPEG2 clip, 4:2:0 with BT.601 full-range
    colours: what Chromium's fake camera plays (--use-file-for-fake-video-capture), looping."""
    path = Path(path)
    with open(path, "wb") as f:
        for i, frame in enumerate(frames):
            rgb = np.asarray(frame, dtype=np.float32)
            h, w = rgb.shape[:2]
            if i == 0:
                f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg XYSCSS=420JPEG\n".encode())
            r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
            y = 0.299 * r + 0.587 * g + 0.114 * b
            u = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
            v = 0.5 * r - 0.418688 * g - 0.081312 * b + 128
            half = lambda c: c.reshape(h // 2, 2, w // 2, 2).mean((1, 3))  # noqa: E731
            f.write(b"FRAME\n")
            for plane in (y, half(u), half(v)):
                f.write(np.clip(np.rint(plane), 0, 255).astype(np.uint8).tobytes())
    return path


# -- hostile files ----------------------------------------------------------------------------------------------------
def exif_bomb(tags: int = 400, blob: int = 2 * 1024 ** 2, orientation_value: int | None = 6) -> bytes:
    """An EXIF block whose ``tags`` entries all point at the same ``blob`` bytes (a reader that materialises every tag
    holds ``tags`` x ``blob``), with an orientation entry after them."""
    entries = [(0x9000 + i, 7, blob, 0) for i in range(tags)]
    if orientation_value:
        entries.append((0x0112, 3, 1, orientation_value))
    data_at = 8 + 2 + 12 * len(entries) + 4
    ifd = b"".join(struct.pack("<HHII", tag, kind, count, data_at if kind == 7 else value)
                   for tag, kind, count, value in entries)
    return b"II*\x00" + struct.pack("<IH", 8, len(entries)) + ifd + b"\x00" * 4 + bytes(blob)


def many_streams_clip(path: Path, tiny_streams: int, big_side: int, big_streams: int = 2) -> Path:
    """An MPEG-TS of ``tiny_streams`` 16 px streams, then ``big_streams`` H.264 streams of one flat big_side² frame."""
    import av
    with av.open(str(path), "w", format="mpegts") as c:
        streams = []
        for i in range(tiny_streams + big_streams):
            side = 16 if i < tiny_streams else big_side
            s = c.add_stream("mpeg2video" if i < tiny_streams else "libx264", rate=25)
            s.width, s.height, s.pix_fmt = side, side, "yuv420p"
            streams.append(s)
        for s in streams:
            frame = av.VideoFrame.from_ndarray(np.full((s.height, s.width, 3), 90, np.uint8), format="rgb24")
            frame.pts = 0
            for packet in [*s.encode(frame), *s.encode(None)]:
                c.mux(packet)
    return path


# -- the browser tests ------------------------------------------------------------------------------------------------
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")  # Debian's; Playwright never downloads its own
ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR", ROOT / "artifacts"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def record_external(page, external: list[str]) -> None:
    """Collect into ``external`` every request the page makes outside 127.0.0.1 (the app works offline)."""
    page.on("request", lambda r: external.append(r.url)
            if not r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else None)
