"""Tests for cyclegan/page.py and cyclegan/demo.py, in-process: the Blocks the app serves, and its handlers called
directly. The served app (its API, launch and command line) is tests/test_app.py's."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
from PIL import Image

import app

from cyclegan.catalog import discover_models, reconstructed_label
from cyclegan.demo import Demo
from cyclegan.guard import as_toast, read_upload
from cyclegan.page import build_demo
from cyclegan.testing import ROOT, encoded, free_port, make_tiny_model, noise

# the picker's order: the first model the demo opens on
SHIPPED_IN_THE_DEMO = ["monet2photo", "horse2zebra", "summer2winter_yosemite"]


def test_build_demo_with_examples(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_EXAMPLES_CACHE", str(tmp_path / "cache"))
    make_tiny_model(tmp_path / "ckpt" / "tiny")
    noise(8, 8).save(tmp_path / "a.png")
    (tmp_path / "examples.json").write_text(json.dumps([{"file": "a.png", "model": "tiny"}]))
    models = discover_models(tmp_path / "ckpt", [], zoo=False)
    demo = build_demo(models, examples_dir=tmp_path)
    assert demo.analytics_enabled is False
    assert any(type(b).__name__ == "Dataset" for b in demo.blocks.values())
    assert build_demo(models, examples_dir=tmp_path / "none")  # no examples: fine


def test_examples_show_each_models_own_direction(tmp_path, monkeypatch):
    """The Direction column of the examples names each row's direction with its own model's domains, and the
    tables follow the picker's order: the first model's (monet2photo here) first."""
    monkeypatch.setenv("GRADIO_EXAMPLES_CACHE", str(tmp_path / "cache"))
    make_tiny_model(tmp_path / "ckpt" / "emoji", "emoji", "Noto emoji", "Twemoji")
    make_tiny_model(tmp_path / "ckpt" / "monet2photo", "monet2photo", "Monet painting", "photo",
                    default_direction="BtoA")
    noise(8, 8).save(tmp_path / "a.png")
    (tmp_path / "examples.json").write_text(json.dumps([
        {"file": "a.png", "model": "emoji", "direction": "AtoB"},
        {"file": "a.png", "model": "monet2photo", "direction": "BtoA"},
        {"file": "a.png", "model": "monet2photo", "direction": "AtoB"}]))
    models = discover_models(tmp_path / "ckpt", [], zoo=False, first="monet2photo")
    demo = build_demo(models, examples_dir=tmp_path)
    shown = []
    for dataset in (b for b in demo.blocks.values() if isinstance(b, gr.Dataset)):
        choices = dict((value, label) for label, value in dataset.component_props[2]["choices"])
        shown.append((dataset.label, [(model, choices[direction]) for _, model, direction in dataset.samples]))
    assert shown == [  # monet2photo first, although emoji comes first in examples.json and in the folder's order
        ("Examples: monet2photo (Monet painting ↔ photo)", [("monet2photo", "photo → Monet painting"),
                                                            ("monet2photo", "Monet painting → photo")]),
        ("Examples: emoji (Noto emoji ↔ Twemoji)", [("emoji", "Noto emoji → Twemoji")])]
    # and the translation defaults to the first model in its own direction
    translate = Demo(models, examples_dir=tmp_path).translate
    out = translate(str(tmp_path / "a.png"), None, None)
    expected = translate(str(tmp_path / "a.png"), "monet2photo", "BtoA")
    pixels = lambda path: np.asarray(Image.open(path))  # noqa: E731  (the results come as PNG files)
    assert np.array_equal(pixels(out[1]), pixels(expected[1]))
    assert not np.array_equal(pixels(out[1]), pixels(translate(str(tmp_path / "a.png"), "monet2photo", "AtoB")[1]))


def test_the_shipped_app_opens_on_photo_to_monet(monkeypatch, tmp_path):
    """`python app.py` as shipped: monet2photo first in the picker, then the others by name, photo -> Monet selected,
    photo examples first; summer2winter_yosemite listed by its domain rate (its KID cannot tell it from the untranslated
    summers); emoji, whose card measures it worse than the untranslated emoji, not listed (--model lists it)."""
    monkeypatch.setenv("GRADIO_EXAMPLES_CACHE", str(tmp_path / "cache"))
    args = app.build_parser().parse_args([])
    left_out: list[str] = []
    models = discover_models(args.checkpoints, [], zoo=False, first=args.first_model, left_out=left_out)
    assert [m.key for m in models] == SHIPPED_IN_THE_DEMO and left_out == ["emoji"]
    assert "checkpoints/emoji" in [m.key for m in discover_models(args.checkpoints, ["checkpoints/emoji"], zoo=False)]
    demo = build_demo(models, examples_dir=args.examples)
    config = demo.get_config_file()
    by_id = {c.get("props", {}).get("elem_id"): c["props"] for c in config["components"]}
    assert by_id["model"]["value"] == "monet2photo"
    assert by_id["direction"]["value"] == "BtoA" and ("photo → Monet painting", "BtoA") in [
        tuple(c) for c in by_id["direction"]["choices"]]
    tables = [b for b in demo.blocks.values() if isinstance(b, gr.Dataset)]
    assert [t.label.split(" (")[0] for t in tables] == ["Examples: monet2photo"]  # (the others have none)
    files = [row[0]["path"] if isinstance(row[0], dict) else row[0] for row in tables[0].samples]
    assert [Path(f).name.split("_")[0] for f in files][:3] == ["photo"] * 3, files


def test_read_upload_turns_bad_images_into_toasts(tmp_path):
    """cyclegan.uploads says what is wrong; the app shows it as a sentence, without a traceback in the log."""
    import base64
    url = "data:image/png;base64," + base64.b64encode(encoded(noise(5, 7))).decode()
    assert read_upload({"url": url, "path": None}).size == (5, 7)
    with pytest.raises(gr.Error) as excinfo:
        read_upload(None)
    assert excinfo.value.message == "No image: upload, paste or take a picture first."
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(gr.Error) as excinfo:
        read_upload(str(tmp_path / "empty.png"))
    assert excinfo.value.message == "Empty file: 'empty.png' has 0 bytes" and excinfo.value.print_exception is False


def test_catalog_errors_become_toasts():
    """A CatalogError reads the same as a toast; only an unexpected failure (chained) keeps its traceback."""
    from cyclegan.catalog import CatalogError
    with pytest.raises(gr.Error, match="Unknown model 'x'") as excinfo:
        with as_toast():
            raise CatalogError("Unknown model 'x'") from None
    assert excinfo.value.print_exception is False and excinfo.value.__cause__ is None
    cause = ValueError("bad bytes")
    with pytest.raises(gr.Error, match="ValueError: bad bytes") as excinfo:
        with as_toast():
            raise CatalogError("Could not load model m: ValueError: bad bytes") from cause
    assert excinfo.value.print_exception is True and excinfo.value.__cause__ is cause


def test_one_direction_model_offers_one_direction_and_says_no_reconstruction(tmp_path, monkeypatch):
    """The reference's style_* models exist photo -> style only: one direction choice, an empty Reconstructed box
    whose label says why, no PSNR, a two-image triptych, and a clear error for the missing direction."""
    import torch
    from cyclegan import Generator
    from cyclegan.model_folder import save_model_folder
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    torch.manual_seed(0)
    save_model_folder(Generator(ngf=8, n_blocks=2), None, tmp_path / "ckpt" / "style", name="style", domain_a="photo",
                 domain_b="painting", train_config={}, model_config={"ngf": 8, "n_blocks": 2})
    make_tiny_model(tmp_path / "ckpt" / "tiny")
    models = discover_models(tmp_path / "ckpt", [], zoo=False)
    style = models[0]
    assert style.directions == ("AtoB",) and style.label == "style (photo → painting)"

    demo = build_demo(models, examples_dir=None)
    ui = Demo(models)  # the handlers, called directly
    rec_box = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "reconstructed")
    assert rec_box.label == reconstructed_label(style)  # the first model is the one-direction one
    upload = tmp_path / "gradio" / "upload" / "x.png"  # where Gradio puts an upload: the only place a path may lead
    upload.parent.mkdir(parents=True)
    noise(20, 12).save(upload)
    real, fake, rec, seconds, score, trip = ui.translate(str(upload), "style", "AtoB")
    assert Image.open(fake).size == (20, 12) and rec is None and score is None
    assert Image.open(trip).size == (40, 12)  # real | generated
    with pytest.raises(gr.Error, match=r"translates photo → painting only.*use direction 'AtoB'"):
        ui.translate(str(upload), "style", "BtoA")

    direction, info, rec_update, psnr_update = ui.select_model("style")
    assert [c[1] for c in direction["choices"]] == ["AtoB"] and direction["value"] == "AtoB"
    assert rec_update["label"].startswith("Reconstructed: none") and psnr_update["visible"] is False
    direction, info, rec_update, psnr_update = ui.select_model("tiny")  # back to a two-way model
    assert [c[1] for c in direction["choices"]] == ["AtoB", "BtoA"] and "value" not in direction
    assert rec_update["label"] == "Reconstructed" and psnr_update["visible"] is True
    with pytest.raises(gr.Error, match="Unknown model 'nope'"):
        ui.select_model("nope")
    real, fake, rec, seconds, score, trip = ui.translate(str(upload), "tiny", "BtoA")
    assert Image.open(rec).size == (20, 12) and 0 < score <= 100


@pytest.fixture
def zero_gpu(tmp_path, monkeypatch):
    """A stand-in for `spaces` on a ZeroGPU Space: (the GPU calls with their durations, the device each model was
    loaded on). The models stay on the CPU."""
    import importlib.util
    import types
    from cyclegan import Translator
    calls = []

    def GPU(task, *, duration):  # noqa: N802 - the stand-in's name is the real one's
        def run(*args, **kwargs):
            calls.append((task.__name__, duration(*args, **kwargs) if callable(duration) else duration))
            return task(*args, **kwargs)
        return run
    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=GPU))
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "spaces" else find_spec(name, *a))
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    placed, original = [], Translator.from_pretrained.__func__
    monkeypatch.setattr(Translator, "from_pretrained", classmethod(
        lambda cls, source, device="cpu", **kw: placed.append(str(device)) or original(cls, source, **kw)))
    return calls, placed


def test_on_zerogpu_the_servers_translations_run_inside_the_decorator(tmp_path, zero_gpu):
    """A stand-in for `spaces` that records each call: pictures (the API, the page's server path) and videos go
    through spaces.GPU with a duration that fits the work, and the local models are placed on CUDA at start."""
    from cyclegan.testing import write_video
    calls, placed = zero_gpu
    make_tiny_model(tmp_path / "ckpt" / "tiny")
    make_tiny_model(tmp_path / "ckpt" / "two", "two")
    ui = Demo(discover_models(tmp_path / "ckpt", [], zoo=False), device="cuda")
    assert placed == ["cuda", "cuda"]  # both models, at start
    upload = tmp_path / "gradio" / "upload" / "x.png"
    upload.parent.mkdir(parents=True)
    noise(20, 12).save(upload)
    clip = write_video(tmp_path / "gradio" / "upload" / "clip.mp4",
                       (np.full((32, 48, 3), 10 * i, np.uint8) for i in range(24)), 12)
    ui.translate(str(upload), "tiny", "AtoB")
    ui.translate_page(str(upload), "two", "BtoA")
    video, status = ui.translate_video(str(clip), "tiny", "AtoB")
    assert status.startswith("24 frames")
    assert [name for name, _ in calls] == ["translate_on_device", "translate_on_device", "clip_on_device"]
    assert calls[0][1] == calls[1][1] == 20 and calls[2][1] >= 30  # a clip asks for longer
    assert Path(video).is_file()


def test_on_zerogpu_every_model_is_loaded_at_start(tmp_path, monkeypatch, zero_gpu, capsys):
    """ZeroGPU's stand-in for CUDA takes weights only in the main thread, at start: a reference (or Hub) model is
    loaded then too, not on its first use in a request's thread, where it would fail; one that cannot be loaded is
    left out, with a line on the console, and is unknown to the API."""
    from cyclegan import zoo
    calls, placed = zero_gpu
    monkeypatch.setattr(zoo, "ZOO_URL", f"http://127.0.0.1:{free_port()}")  # connection refused: it cannot load
    make_tiny_model(tmp_path / "ckpt" / "tiny")
    make_tiny_model(zoo.zoo_folder("horse2zebra", tmp_path / "zoo"), "horse2zebra", "horse", "zebra")
    models = [m for m in discover_models(tmp_path / "ckpt", [], zoo=True, zoo_dir=tmp_path / "zoo", online=True)
              if m.key in ("tiny", "zoo:horse2zebra", "zoo:apple2orange")]
    ui = Demo(models, zoo_dir=tmp_path / "zoo", device="cuda")
    assert placed == ["cuda", "cuda"] and [m.key for m in ui.models] == ["tiny", "zoo:horse2zebra"]
    assert "* Not listed: zoo:apple2orange (on ZeroGPU every model is loaded at start): Could not download" in (
        capsys.readouterr().out)
    upload = tmp_path / "gradio" / "upload" / "x.png"
    upload.parent.mkdir(parents=True)
    noise(20, 12).save(upload)
    real, fake, rec, *_ = ui.translate(str(upload), "zoo:horse2zebra", "BtoA")
    assert Image.open(fake).size == (20, 12) and calls == [("translate_on_device", 20)] and len(placed) == 2
    with pytest.raises(gr.Error, match="Unknown model 'zoo:apple2orange'"):
        ui.translate(str(upload), "zoo:apple2orange", "AtoB")


def test_memory_goes_back_after_a_refused_picture_and_once_the_server_is_idle(tmp_path, monkeypatch):
    """The freed memory of a request goes back to the system after every request, a refused one too (it may have
    been decoded in part), at most every 2 s; a request within those 2 s leaves a trim for later, so that the last
    requests before the server goes idle are handed back as well."""
    from cyclegan import memory
    trims, timers = [], []

    class Timer:  # threading.Timer, started by the test
        def __init__(self, interval, function):
            self.interval, self.function, self.daemon = interval, function, False
            timers.append(self)

        def start(self):
            pass

        def is_alive(self):
            return self in timers
    monkeypatch.setattr(memory, "_malloc_trim", trims.append)
    monkeypatch.setattr(memory.threading, "Timer", Timer)
    clock = [1000.0]  # the demo's clock stands still unless the test moves it: a slow machine changes nothing
    monkeypatch.setattr(memory, "time", SimpleNamespace(monotonic=lambda: clock[0], perf_counter=time.perf_counter))
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    make_tiny_model(tmp_path / "ckpt" / "tiny")
    ui = Demo(discover_models(tmp_path / "ckpt", [], zoo=False))
    upload = tmp_path / "gradio" / "upload" / "x.png"
    upload.parent.mkdir(parents=True)
    (tmp_path / "gradio" / "upload" / "notes.png").write_text("not a picture")
    with pytest.raises(gr.Error, match="Not an image"):
        ui.translate(str(tmp_path / "gradio" / "upload" / "notes.png"), "tiny", "AtoB")
    assert trims == [0] and timers == []
    noise(20, 12).save(upload)
    ui.translate(str(upload), "tiny", "AtoB")
    ui.translate(str(upload), "tiny", "BtoA")  # within 2 s of the first trim: one trim put off, not two
    assert trims == [0] and len(timers) == 1 and 0 < timers[0].interval <= 2
    clock[0] += 2  # its time has come
    timers.pop().function()
    assert trims == [0, 0] and timers == []


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="glibc on Linux")
def test_malloc_arenas_can_be_limited():
    """glibc takes the limit on its malloc arenas at run time (the served app sets it in launch; the soak measures
    what it saves)."""
    from cyclegan.memory import limit_malloc_arenas
    assert limit_malloc_arenas(2) is True


def test_importing_the_demo_turns_gradios_telemetry_off():
    """No server of this app sends Gradio telemetry: importing the demo sets GRADIO_ANALYTICS_ENABLED=False (unless
    set), which Gradio reads whenever it would send, also where no Blocks is at hand (a failed share link)."""
    import subprocess
    code = ("import os; os.environ.pop('GRADIO_ANALYTICS_ENABLED', None); import cyclegan.demo; "
            "from gradio import analytics; print(analytics.analytics_enabled())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0 and r.stdout.split()[-1] == "False", r.stderr[-2000:]


def test_a_demo_no_longer_used_is_not_kept_alive(tmp_path):
    """The registry a ZeroGPU worker finds its demo in holds it weakly: a demo that is gone takes its models along."""
    import gc
    import weakref
    from cyclegan import zerogpu
    make_tiny_model(tmp_path / "ckpt" / "tiny")
    ui = Demo(discover_models(tmp_path / "ckpt", [], zoo=False))
    key, ref = id(ui), weakref.ref(ui)
    assert zerogpu.DEMOS[key] is ui
    del ui
    gc.collect()
    assert ref() is None and key not in zerogpu.DEMOS


def test_a_clips_gpu_duration_fits_the_frames_translated(tmp_path):
    """What ZeroGPU is asked for follows the frames that will be translated: more frames, more seconds; a faster
    clip counts at max_fps; a clip beyond the bounds (refused at once) or not a video asks for the least."""
    from cyclegan.config import UploadLimits
    from cyclegan.zerogpu import MIN_CLIP_GPU_SECONDS, clip_gpu_seconds
    from cyclegan.testing import write_video
    limits = UploadLimits(max_video_seconds=20, max_video_fps=30).video()

    def clip(name, frames, fps):
        return str(write_video(tmp_path / name, (np.full((16, 16, 3), i % 250, np.uint8) for i in range(frames)), fps))

    def seconds(path, **over):
        return clip_gpu_seconds(0, "m", path, "out.mp4", "AtoB", True, False, {**limits, **over})
    short, long = clip("short.mp4", 120, 30), clip("long.mp4", 540, 30)  # 4 s and 18 s at 30 fps
    fast = clip("fast.mp4", 1080, 60)  # 18 s at 60 fps: translated at 30, as many frames as long.mp4
    assert MIN_CLIP_GPU_SECONDS < seconds(short) < seconds(long) == pytest.approx(20 + 54)
    assert seconds(fast) == pytest.approx(seconds(long), abs=1)
    assert seconds(long, max_seconds=10) == seconds(long, max_frames=100) == MIN_CLIP_GPU_SECONDS
    (tmp_path / "notes.mp4").write_text("not a video")
    assert seconds(str(tmp_path / "notes.mp4")) == MIN_CLIP_GPU_SECONDS


def test_off_zerogpu_the_real_spaces_package_changes_nothing(monkeypatch):
    spaces = pytest.importorskip("spaces")
    from cyclegan import zerogpu
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)

    def work(x):
        return x
    assert spaces.GPU(work) is work and spaces.GPU(work, duration=30) is work
    assert not zerogpu.enabled() and not zerogpu.prepare() and zerogpu.gpu(work, 30) is work


def test_the_session_keeps_no_value_a_client_sent(tmp_path, monkeypatch):
    """Gradio copies each input of a call into the session's state (for deep links, which the app refuses): after
    the guard, a call's picture, model and direction are gone from it, whether the call succeeded or was refused.
    Every handler that takes a picture decodes it itself and is queued (the guard refuses any other)."""
    import asyncio
    from gradio.state_holder import SessionState
    from cyclegan.guard import unguarded
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    make_tiny_model(tmp_path / "ckpt" / "tiny")
    demo = build_demo(discover_models(tmp_path / "ckpt", [], zoo=False), browser_models=("tiny",))
    assert unguarded(demo) == []
    fn = next(f for f in demo.fns.values() if f.name == "translate")
    upload = tmp_path / "gradio" / "upload" / "x.png"
    upload.parent.mkdir(parents=True)
    noise(8, 8).save(upload)
    state = SessionState(demo)
    for payload in ({"path": str(upload), "meta": {"_type": "gradio.FileData"}}, {"path": "/etc/passwd"}):
        try:
            asyncio.run(demo.preprocess_data(fn, [payload, "tiny", "AtoB"], state))
        except gr.Error:
            pass
        kept = [state.config_values.get(block._id, {}).get("props", {}).get("value") for block in fn.inputs]
        assert kept == [None, None, None], kept
