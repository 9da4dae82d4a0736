"""Tests for app.py, the Gradio demo.

The API tests start `python app.py` in a subprocess on a free 127.0.0.1 port, with a tiny model the test writes,
offline Hub settings (HF_HUB_OFFLINE=1, a pre-filled cache for one repo id, none for another) and an unreachable
zoo mirror, and drive it with gradio_client. The UI is also built in-process; the library helpers behind it are
tested in test_uploads.py and test_catalog.py.
"""
from __future__ import annotations

import importlib.util
import io
import json
import os
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

import app
import gradio as gr

from cyclegan.testing import ROOT, AppServer, SlowFileServer, free_port, make_tiny_model, prefill_hub_cache

MAX_SIDE = 64
MAX_FILE_SIZE = 200 * 1024

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402


# ------------------------------------------------------------------------------------------------------------------
# Test inputs
# ------------------------------------------------------------------------------------------------------------------

def noise(w: int, h: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def make_good_inputs(folder: Path) -> dict[str, tuple[Path, tuple[int, int]]]:
    """name -> (file, expected output size with MAX_SIDE) for every input that must be converted, not refused."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}

    def save(name, image, size, **kw):
        image.save(folder / name, **kw)
        out[name] = (folder / name, size)

    save("rgb.png", noise(100, 50), (64, 32))  # long side 100 > 64: resized, aspect kept
    save("small.jpg", noise(40, 30), (40, 30))  # never enlarged
    rgba = Image.new("RGBA", (30, 20), (255, 0, 0, 0))  # fully transparent red: white after compositing
    rgba.paste((0, 0, 255, 255), (0, 0, 10, 20))
    save("rgba.png", rgba, (30, 20))
    pal = Image.new("P", (24, 16), 0)
    pal.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    pal.paste(1, (0, 0, 12, 16))
    save("palette_transparent.png", pal, (24, 16), transparency=0)
    save("gray.png", noise(20, 20).convert("L"), (20, 20))
    save("gray16.png", Image.fromarray(np.full((16, 24), 65535, np.uint16)), (24, 16))
    save("cmyk.jpg", Image.new("CMYK", (32, 16), (0, 255, 255, 0)), (32, 16))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    save("exif_rotated.jpg", noise(40, 20), (20, 40), exif=exif)
    frames = [Image.new("RGB", (24, 16), c) for c in ("red", "green", "blue")]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    out["animated.gif"] = (folder / "animated.gif", (24, 16))
    save("1x1.png", Image.new("RGB", (1, 1), "purple"), (1, 1))
    save("wide.png", noise(1000, 4), (64, 1))
    save("tall.png", noise(3, 900), (1, 64))
    return out


def make_bad_inputs(folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, the start of the error the client must see)."""
    folder.mkdir(parents=True, exist_ok=True)
    valid = png_bytes(noise(64, 64))
    corrupted = bytearray(valid)
    start = valid.index(b"IDAT") + 40
    corrupted[start:start + 200] = bytes(200)
    files = {
        "text.png": (b"hello, I am not a picture\n", "Not an image"),
        "empty.png": (b"", "Empty file"),
        "truncated.png": (valid[: len(valid) // 2], "Corrupted or truncated image"),
        "corrupted.png": (bytes(corrupted), "Corrupted or truncated image"),
        # 10000 x 10000 = 1e8 pixels > PIL's MAX_IMAGE_PIXELS (89,478,485), in a ~12 kB file
        "bomb.png": (png_bytes(Image.new("1", (10_000, 10_000))), "Image too large"),
    }
    out = {}
    for name, (data, error) in files.items():
        (folder / name).write_bytes(data)
        out[name] = (folder / name, error)
    return out


# ------------------------------------------------------------------------------------------------------------------
# The server
# ------------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("app")
    checkpoints = tmp / "checkpoints"
    make_tiny_model(checkpoints / "tiny")
    (checkpoints / "not-a-model").mkdir()  # no G_AB/ G_BA/: not listed
    prefill_hub_cache(tmp / "hub-cache", "owner/cached",
                      make_tiny_model(tmp / "staging" / "cat2dog", "cat2dog", "cat", "dog"))
    examples = tmp / "examples"
    examples.mkdir()
    noise(48, 32, seed=3).save(examples / "noise.png")
    (examples / "examples.json").write_text(json.dumps([{"file": "noise.png", "model": "tiny", "direction": "BtoA"}]))
    env = {
        "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp / "hf-home"), "HF_HUB_CACHE": str(tmp / "hub-cache"),
        "CYCLEGAN_MODELS": "owner/missing",
        "CYCLEGAN_ZOO_URL": f"http://127.0.0.1:{free_port()}",  # connection refused, as offline
        "CYCLEGAN_ZOO_DIR": str(tmp / "zoo"),
        "GRADIO_EXAMPLES_CACHE": str(tmp / "examples-cache"), "GRADIO_TEMP_DIR": str(tmp / "gradio"),
    }
    args = ["--checkpoints", str(checkpoints), "--examples", str(examples), "--model", "owner/cached",
            "--max-side", str(MAX_SIDE), "--max-file-size", "200kb", "--max-video-size", "150kb",
            "--max-video-seconds", "3", "--max-video-fps", "12", "--threads", "1", "--mcp"]
    srv = AppServer(args, env, tmp / "server.log", port_from_env=True)  # GRADIO_SERVER_PORT picks the port
    srv.inputs, srv.tmp = tmp / "inputs", tmp
    srv.temp = tmp / "gradio" / f"cyclegan-app-{srv.proc.pid}"  # the app's own folder inside Gradio's
    srv.inputs.mkdir()
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def good(server):
    return make_good_inputs(server.inputs / "good")


@pytest.fixture(scope="module")
def bad(server):
    return make_bad_inputs(server.inputs / "bad")


@pytest.fixture(scope="module")
def client(server, tmp_path_factory):
    return Client(server.url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


def translate(client, path, **kw):
    return client.predict(handle_file(str(path)), api_name="/translate", **kw)


def check_result(result, size):
    real, fake, rec, seconds, score, trip = result
    images = [Image.open(p) for p in (real, fake, rec)]
    for p, im in zip((real, fake, rec), images):
        assert p.endswith(".png") and im.format == "PNG"
        assert im.size == size
    assert Image.open(trip).size == (3 * size[0], size[1]) and trip.endswith(".png")
    assert 0 <= seconds < 30
    assert 0 < score <= 100
    return [im.convert("RGB") for im in images]


# ------------------------------------------------------------------------------------------------------------------
# API tests
# ------------------------------------------------------------------------------------------------------------------

def test_translate_defaults_to_first_model_and_AtoB(server, client):
    noise(100, 50).save(server.inputs / "x.png")
    result = translate(client, server.inputs / "x.png")
    real, fake, rec = check_result(result, (64, 32))
    # the defaults are the first model (tiny) and AtoB: the same as asking for them
    same = translate(client, server.inputs / "x.png", model="tiny", direction="AtoB")
    assert np.array_equal(np.asarray(fake), np.asarray(Image.open(same[1]).convert("RGB")))
    other = translate(client, server.inputs / "x.png", model="tiny", direction="BtoA")
    assert not np.array_equal(np.asarray(fake), np.asarray(Image.open(other[1]).convert("RGB")))


def test_api_lists_models_and_directions(client):
    info = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/translate"]
    params = {p["parameter_name"]: p for p in info["parameters"]}
    assert list(params) == ["image", "model", "direction"]
    assert params["model"]["parameter_default"] == "tiny" and params["direction"]["parameter_default"] == "AtoB"
    models = params["model"]["type"]["enum"]
    assert models[:3] == ["tiny", "owner/cached", "owner/missing"]  # shipped, then --model, then CYCLEGAN_MODELS
    assert "not-a-model" not in models and "zoo:horse2zebra" in models
    assert params["direction"]["type"]["enum"] == ["AtoB", "BtoA"]


def test_converted_inputs(client, good):
    for name, (path, size) in good.items():
        real, fake, rec = check_result(translate(client, path), size)
        if name in ("rgba.png", "palette_transparent.png"):  # transparency composited on white
            assert real.getpixel((size[0] - 1, 0)) == (255, 255, 255), name
            assert real.getpixel((0, 0)) in ((0, 0, 255), (0, 255, 0)), name
        if name == "gray16.png":  # 16-bit white stays white (scaled, not clipped)
            assert real.getpixel((0, 0)) == (255, 255, 255)
        if name == "animated.gif":  # the first frame
            assert real.getpixel((5, 5))[0] > 200 and real.getpixel((5, 5))[2] < 50


@pytest.mark.parametrize("name", ["text.png", "empty.png", "truncated.png", "corrupted.png", "bomb.png"])
def test_bad_input_gives_clear_error_and_server_keeps_serving(client, good, bad, name):
    path, error = bad[name]
    with pytest.raises(AppError) as excinfo:
        translate(client, path)
    assert str(excinfo.value).startswith(error), str(excinfo.value)
    check_result(translate(client, good["rgb.png"][0]), (64, 32))


def test_file_over_size_limit(server, client, good):
    big = server.inputs / "big.png"
    noise(300, 300).save(big)  # ~270 kB of incompressible noise > 200 kB
    assert big.stat().st_size > MAX_FILE_SIZE
    # gradio_client checks the limit the app publishes before uploading ...
    with pytest.raises(ValueError, match="exceeds the maximum file size of 204800 bytes"):
        translate(client, big)
    # ... and the server refuses it anyway
    with open(big, "rb") as f:
        r = httpx.post(server.url + "/gradio_api/upload", files={"files": ("big.png", f, "image/png")})
    assert r.status_code == 413 and "File size exceeded maximum allowed size of 204800 bytes" in r.text
    check_result(translate(client, good["rgb.png"][0]), (64, 32))


def test_model_by_label_unknown_model_or_direction(client, good):
    path = good["small.jpg"][0]
    check_result(translate(client, path, model="tiny (apple ↔ orange)"), (40, 30))  # the picker's label works too
    with pytest.raises(AppError, match="Unknown model 'nope'"):
        translate(client, path, model="nope")
    with pytest.raises(AppError, match="Unknown direction 'sideways'"):
        translate(client, path, direction="sideways")


def test_hub_model_from_offline_cache(client, good):
    """HF_HUB_OFFLINE=1 with a pre-filled cache: the Hub model loads and translates."""
    path = good["rgb.png"][0]
    check_result(translate(client, path, model="owner/cached", direction="BtoA"), (64, 32))


def test_hub_model_not_cached_fails_fast_and_clearly(client, good):
    path = good["rgb.png"][0]
    start = time.monotonic()
    with pytest.raises(AppError) as excinfo:
        translate(client, path, model="owner/missing")
    assert time.monotonic() - start < 5
    message = str(excinfo.value)
    assert "Could not load model owner/missing" in message and "not in the local cache" in message, message
    check_result(translate(client, path), (64, 32))  # the shipped model keeps working


def test_zoo_model_offline_fails_fast_and_clearly(client, good):
    path = good["rgb.png"][0]
    start = time.monotonic()
    # (the mirror is a closed local port: the server refused, which is not the same as being offline)
    with pytest.raises(AppError, match=r"Could not download the model horse2zebra: .*refused") as excinfo:
        translate(client, path, model="zoo:horse2zebra")
    assert time.monotonic() - start < 5
    assert "http://" not in str(excinfo.value)  # the reason, without the URL's clutter


def test_concurrent_requests_queue_up(server, client):
    paths = []
    for seed in range(6):  # distinct inputs, so that the client's downloads do not collide
        paths.append(server.inputs / f"concurrent{seed}.png")
        noise(100, 50, seed).save(paths[-1])
    jobs = [client.submit(handle_file(str(p)), api_name="/translate") for p in paths]
    for job in jobs:
        check_result(job.result(timeout=60), (64, 32))


def noise_clip(path: Path, frames: int, size: tuple[int, int] = (96, 64), fps: int = 12) -> Path:
    from cyclegan.testing import write_video
    rng = np.random.default_rng(frames)
    return write_video(path, (rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8) for _ in range(frames)),
                       fps, tone_hz=440)


def translate_video(client, path, **kw):
    return client.predict(handle_file(str(path)), api_name="/translate_video", **kw)


def test_video_api_translates_a_clip_with_its_sound_and_refuses_bad_ones(server, client, good):
    from cyclegan.video import probe
    clip = noise_clip(server.inputs / "clip.mp4", 12, (100, 50))
    video, status = translate_video(client, clip, model="tiny", direction="BtoA", side_by_side=True)
    got = probe(video["video"] if isinstance(video, dict) else video)
    assert (got.width, got.height, got.frames, got.audio) == (128, 32, 12, "aac")  # 2 x 64 px: --max-side 64
    assert status.startswith("12 frames at 128×32, 12 fps, with its sound") and "steady" in status
    outputs = server.temp / "cyclegan-videos"
    before = sorted(outputs.iterdir())
    (server.inputs / "notes.mp4").write_text("not a video\n")
    truncated = server.inputs / "truncated.mp4"
    truncated.write_bytes(clip.read_bytes()[:clip.stat().st_size // 2])
    long = noise_clip(server.inputs / "long.mp4", 60, (32, 32))  # 5 s > 3 s
    big = noise_clip(server.inputs / "big.mp4", 12, (160, 120))  # noise does not compress: over 150 kB
    assert 150 * 1024 < big.stat().st_size < 200 * 1024  # ... and under the upload limit: the app's check answers
    for path, error in ((server.inputs / "notes.mp4", "Not a video: cannot read"), (truncated, "Truncated video"),
                        (long, "Video too long: 5.0 s > limit of 3 s"), (big, "Video too large")):
        with pytest.raises(AppError) as excinfo:
            translate_video(client, path)
        assert str(excinfo.value).startswith(error), str(excinfo.value)
    assert sorted(outputs.iterdir()) == before  # nothing left behind by the failures
    check_result(translate(client, good["rgb.png"][0]), (64, 32))  # the server still answers
    video, status = translate_video(client, clip, steady=False)
    assert probe(video["video"] if isinstance(video, dict) else video).frames == 12 and "frame by frame" in status
    fast = noise_clip(server.inputs / "fast.mp4", 24, (32, 32), fps=24)  # 1 s at 24 fps: thinned to --max-video-fps
    video, status = translate_video(client, fast)
    got = probe(video["video"] if isinstance(video, dict) else video)
    assert (got.frames, got.fps) == (12, 12) and status.startswith("12 frames at 32×32, 12 fps"), status


def call_raw(server, api: str, data: list) -> tuple[str, str]:
    """A request as any client could send it, past gradio_client: POST the payload to /gradio_api/call/API and read
    its event stream. Returns (the last event's name, its data)."""
    r = httpx.post(f"{server.url}/gradio_api/call/{api}", json={"data": data}, timeout=30)
    r.raise_for_status()
    with httpx.stream("GET", f"{server.url}/gradio_api/call/{api}/{r.json()['event_id']}", timeout=120) as stream:
        lines = [line for line in stream.iter_lines() if line]
    return lines[-2].removeprefix("event: "), lines[-1].removeprefix("data: ")


def test_the_api_opens_only_what_was_uploaded(server, client, good, tmp_path):
    """A path a client names, instead of uploading a file, is never opened unless it is an upload of this app or
    one of its examples: a picture elsewhere, a missing file, a folder and a link out of the upload folder all get
    the same answer, so a refusal says nothing of what exists; a web address is never fetched. Every form of payload
    (a bare path, a dict, one that claims to be Gradio's FileData, one that wraps another) gets exactly that line on
    both endpoints, with no traceback in the server's log, and the server answers afterwards."""
    import http.server
    import threading
    fetched = []

    class Recorder(http.server.BaseHTTPRequestHandler):  # a web server that notes any request Gradio would make
        def do_GET(self):
            fetched.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(png_bytes(noise(8, 8)))

        def log_message(self, *args):
            pass

    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    secret = tmp_path / "secret.png"
    noise(16, 16, seed=9).save(secret)
    link = server.temp / "link.png"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(secret)
    refused = ("error", json.dumps({"error": "Not an upload: this app opens only the files sent to it and its own "
                                             "examples", "duration": 10, "visible": True, "title": "Error"}))
    meta = {"_type": "gradio.FileData"}
    base = f"http://127.0.0.1:{web.server_address[1]}"
    urls = [f"{base}/x.png", f"{base}/x.mp4", "https://example.com/x.png", "file:///etc/passwd"]
    paths = [str(secret), str(tmp_path / "missing.png"), str(tmp_path), str(link), "/etc/passwd", "relative.png"]
    payloads = [form for path in paths + urls for form in (
        path, {"path": path}, {"path": path, "meta": meta}, {"path": path, "url": path, "meta": meta},
        {"video": {"path": path, "meta": meta}}, {"path": None, "meta": {"path": path, "meta": meta}})]
    log_before = len(server.output())
    try:
        answers = {payload if isinstance(payload, str) else json.dumps(payload): (
            call_raw(server, "translate", [payload, "tiny", "AtoB"]),
            call_raw(server, "translate_video", [payload, "tiny", "AtoB", True, False])) for payload in payloads}
    finally:
        web.shutdown()
        web.server_close()
    assert {k: v for k, v in answers.items() if v != (refused, refused)} == {}
    assert fetched == []  # no web address was fetched
    assert "Traceback" not in server.output()[log_before:]
    check_result(translate(client, good["rgb.png"][0]), (64, 32))  # and an upload still works ...
    clip = noise_clip(server.inputs / "named.mp4", 6, (32, 32))
    with open(clip, "rb") as f:  # ... also named by its bare path, as a client may send it after uploading it
        uploaded = httpx.post(server.url + "/gradio_api/upload", files={"files": ("named.mp4", f, "video/mp4")}).json()[0]
    event, data = call_raw(server, "translate_video", [uploaded, "tiny", "AtoB", False, False])
    assert event == "complete" and json.loads(data)[1].startswith("6 frames at 32×32"), data


def join_raw(server, fn_name: str | None, data: list, fn_index: int | None = None) -> tuple[int, str]:
    """A call of one of the page's own handlers by its index, as any client can make it: POST queue/join, then read
    the queue's answers. Returns (the join's HTTP status, the last message's text)."""
    if fn_index is None:
        config = httpx.get(server.url + "/config").json()
        fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == fn_name)
    session = f"s{time.monotonic_ns()}"
    r = httpx.post(f"{server.url}/gradio_api/queue/join", json={"data": data, "fn_index": fn_index,
                                                                 "session_hash": session, "event_data": None})
    if r.status_code != 200:
        return r.status_code, r.text
    with httpx.stream("GET", f"{server.url}/gradio_api/queue/data", params={"session_hash": session},
                      timeout=60) as stream:
        messages = [json.loads(line[6:]) for line in stream.iter_lines() if line.startswith("data: ")]
    return r.status_code, json.dumps([m for m in messages if m.get("msg") == "process_completed"][-1],
                                     ensure_ascii=False)


def upload(server, name: str, data: bytes) -> dict:
    """A file uploaded as the page uploads it; its FileData."""
    path = httpx.post(server.url + "/gradio_api/upload", files={"files": (name, data)}).json()[0]
    return {"path": path, "orig_name": name, "meta": {"_type": "gradio.FileData"}}


def test_every_handler_of_the_page_checks_what_it_is_sent(server):
    """The page's own handlers answer anyone who names their index, so each gets the API's checks: the triptych
    download decodes what it is sent as an upload (a PCX is refused by its format, a 50 kB PNG of 40 megapixels by
    the pixel limit, in the sandbox, before a pixel is decoded), a handler that runs only in the page is not run,
    a bad model name gets the usual line; none leaves a traceback in the log, and the server answers after."""
    log_before = len(server.output())
    pcx = io.BytesIO()
    noise(8, 8).save(pcx, "PCX")
    bomb = io.BytesIO()
    Image.new("1", (8000, 5000)).save(bomb, "PNG")
    assert len(bomb.getvalue()) < 60_000
    good = upload(server, "good.png", png_bytes(noise(8, 8)))
    for name, data, error in (("x.pcx", pcx.getvalue(), "Not an image: cannot read 'x.pcx' as a picture"),
                              ("bomb.png", bomb.getvalue(), "Image too large: 8000×5000 = 40,000,000 pixels")):
        status, last = join_raw(server, "make_triptych", [upload(server, name, data), good, None, "tiny", "AtoB"])
        assert status == 200 and error in last, last
    status, last = join_raw(server, "make_triptych", [good, good, None, "tiny", "AtoB"])
    assert '"success": true' in last and "cyclegan-tiny-AtoB.png" in last  # the page's own use still works
    config = httpx.get(server.url + "/config").json()
    page_only = next(d["id"] for d in config["dependencies"] if not d["backend_fn"] and d["inputs"])
    status, last = join_raw(server, None, [good, "tiny", "AtoB"], fn_index=page_only)
    assert "Not an endpoint of this app" in last, last
    status, last = join_raw(server, "select_model", ["x" * 10_000])
    assert "Unknown model" in last and len(last) < 1000, last
    status, last = join_raw(server, "select_model", ["no such model"])
    assert "Unknown model" in last, last
    assert "Traceback" not in server.output()[log_before:]
    assert "compare" not in [d.get("api_name") for d in config["dependencies"]]  # the slider comes with the result


def test_routes_the_app_does_not_use_are_refused_and_bodies_are_capped(server):
    """Gradio's relay of web addresses, its screen recorder's transcode and the rest of what the app does not use
    answer 404 without doing anything; a JSON body over a megabyte (a data: URL inside a call) is refused before it
    is read; the server answers afterwards."""
    import http.server
    import threading
    fetched = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            fetched.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        for path in (f"/gradio_api/file=http://127.0.0.1:{web.server_address[1]}/big.bin", "/monitoring",
                     f"/gradio_api/proxy=http://127.0.0.1:{web.server_address[1]}/x", "/gradio_api/deep_link"):
            assert httpx.get(server.url + path).status_code == 404, path
        assert httpx.post(server.url + "/gradio_api/process_recording", files={"video": ("a.mp4", b"x")}
                          ).status_code == 404
        assert httpx.get(server.url + "/gradio_api/file=" + "a" * 300).status_code == 414
    finally:
        web.shutdown()
        web.server_close()
    assert fetched == []
    data_url = "data:image/png;base64," + "A" * (2 * 1024 ** 2)
    status, text = join_raw(server, "translate", [{"url": data_url, "meta": {"_type": "gradio.FileData"}}, "tiny",
                                                  "AtoB"])
    assert status == 413 and "Request too large" in text
    assert httpx.get(server.url + "/config").status_code == 200


@pytest.mark.parametrize("model", [["tiny"], {"key": "tiny"}, 3])
def test_a_model_or_direction_of_the_wrong_type_gets_the_usual_line(server, client, good, model):
    with pytest.raises(AppError, match="Unknown model"):
        translate(client, good["rgb.png"][0], model=model)
    with pytest.raises(AppError, match="Unknown direction"):
        translate(client, good["rgb.png"][0], model="tiny", direction=["AtoB"])


def test_no_analytics_and_queue_settings(server):
    config = httpx.get(server.url + "/config").json()
    assert config["analytics_enabled"] is False
    translate_dep = next(d for d in config["dependencies"] if d.get("api_name") == "translate")
    assert translate_dep["queue"] is not False
    # Queued requests see their place in the queue (Gradio's progress display, on the Generated image only).
    generated = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "generated")
    assert translate_dep["show_progress"] == "full" and translate_dep["show_progress_on"] == [generated]
    assert "Running on local URL:  http://127.0.0.1:" in server.output()  # the default host


def test_mcp_lists_the_translate_tool_with_its_input_schema(server):
    """--mcp: the translation is an MCP tool, listed with its inputs (Gradio's schema endpoint, and the protocol)."""
    tools = {t["name"]: t for t in httpx.get(server.url + "/gradio_api/mcp/schema").json()}
    assert list(tools) == ["translate", "translate_video"]  # the UI's private events are no tools
    schema = tools["translate"]["inputSchema"]
    assert schema["required"] == ["image"] and list(schema["properties"]) == ["image", "model", "direction"]
    image, model, direction = (schema["properties"][k] for k in ("image", "model", "direction"))
    assert image["type"] == "string" and "picture to translate" in image["description"]
    assert model["enum"][:3] == ["tiny", "owner/cached", "owner/missing"] and model["default"] == "tiny"
    assert direction["enum"] == ["AtoB", "BtoA"] and "'BtoA'" in direction["description"]
    assert tools["translate"]["description"].startswith("Translate a picture with a CycleGAN model")


def test_mcp_client_lists_and_calls_the_tool(server):
    """An MCP client (the `mcp` SDK that gradio[mcp] installs) lists the tool and translates a picture with it."""
    import asyncio
    import base64
    mcp = pytest.importorskip("mcp", reason='needs gradio[mcp] (pip install "gradio[mcp]")')
    from mcp.client.streamable_http import streamablehttp_client

    async def session():
        async with streamablehttp_client(server.url + "/gradio_api/mcp/") as (read, write, _):
            async with mcp.ClientSession(read, write) as s:
                await s.initialize()
                listed = await s.list_tools()
                url = "data:image/png;base64," + base64.b64encode(png_bytes(noise(40, 20))).decode()
                web = await s.call_tool("translate", {"image": "https://example.com/x.png"})  # never fetched
                return listed, await s.call_tool("translate", {"image": url, "direction": "BtoA"}), web

    listed, result, web = asyncio.run(session())
    assert web.isError and "Not an upload" in " ".join(c.text for c in web.content if c.type == "text")
    assert [t.name for t in listed.tools] == ["translate", "translate_video"]
    assert listed.tools[0].inputSchema["properties"]["direction"]["enum"] == ["AtoB", "BtoA"]
    assert not result.isError
    assert "cyclegan-tiny-BtoA.png" in " ".join(c.text for c in result.content if c.type == "text")


def test_reference_model_download_shows_progress(tmp_path):
    """The first use of a reference model downloads it, here from a slow server on 127.0.0.1: the download's
    progress (bytes of the .pth file) reaches the client, as it reaches the browser's progress bar on Generated."""
    import torch
    from cyclegan.testing import reference_layout
    www = tmp_path / "www"
    www.mkdir()
    torch.manual_seed(0)
    torch.save({k: torch.randn(s) * 0.02 for k, s in reference_layout(64, 9).items()}, www / "style_cezanne.pth")
    size = (www / "style_cezanne.pth").stat().st_size
    make_tiny_model(tmp_path / "checkpoints" / "tiny")
    noise(60, 30).save(tmp_path / "x.png")
    seen = []
    with SlowFileServer(www) as zoo:
        env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home"), "CYCLEGAN_ZOO_URL": zoo.url,
               "CYCLEGAN_ZOO_DIR": str(tmp_path / "zoo"), "GRADIO_TEMP_DIR": str(tmp_path / "gradio")}
        srv = AppServer(["--checkpoints", str(tmp_path / "checkpoints"), "--examples", str(tmp_path / "none"),
                         "--max-side", str(MAX_SIDE), "--threads", "1"], env, tmp_path / "server.log")
        try:
            client = Client(srv.url, verbose=False, download_files=str(tmp_path / "downloads"))
            job = client.submit(handle_file(str(tmp_path / "x.png")), model="zoo:style_cezanne", api_name="/translate")
            while not job.done():
                seen += job.status().progress_data or []
                time.sleep(0.05)
            real, fake, rec, seconds, score, trip = job.result()
        finally:
            srv.close()
    assert Image.open(fake).size == (60, 30) and rec is None  # photo -> Cézanne only: no reconstruction
    downloads = [unit for unit in seen if unit.desc == "style_cezanne.pth"]
    assert downloads, f"no download progress among {seen}"
    assert {(unit.unit, unit.length) for unit in downloads} == {("B", size)}
    assert any(0 < unit.index < size for unit in downloads)  # seen part-way, not only at the end


def test_mcp_flag_and_env(tmp_path, monkeypatch, capsys):
    """--mcp (or GRADIO_MCP_SERVER=true, Gradio's own variable) turns the MCP server on; it is off by default.
    Without the MCP package it stops at once with a one-line error."""
    import torch
    make_tiny_model(tmp_path / "ckpt" / "tiny")
    launched = {}
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kw: launched.update(kw))
    monkeypatch.delenv("GRADIO_MCP_SERVER", raising=False)
    args = ["--checkpoints", str(tmp_path / "ckpt"), "--no-zoo", "--threads", str(torch.get_num_threads()),
            "--examples", str(tmp_path / "none")]
    assert app.main(args) == 0 and launched["mcp_server"] is False
    assert app.main([*args, "--mcp"]) == 0 and launched["mcp_server"] is True
    monkeypatch.setenv("GRADIO_MCP_SERVER", "true")
    assert app.main(args) == 0 and launched["mcp_server"] is True
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mcp" else find_spec(name, *a))
    launched.clear()
    assert app.main([*args, "--mcp"]) == 2 and not launched
    assert capsys.readouterr().err == 'error: --mcp needs the MCP extra of Gradio: pip install "gradio[mcp]"\n'


def test_on_zerogpu_the_zoo_offers_what_is_on_disk(tmp_path, monkeypatch, capsys):
    """On ZeroGPU every model is loaded at start, so the app lists only the reference models already downloaded
    (the whole zoo would be downloaded at every start) and says so; elsewhere it lists the zoo as usual."""
    import types
    import torch
    from cyclegan import zoo
    make_tiny_model(tmp_path / "ckpt" / "tiny")
    make_tiny_model(zoo.zoo_folder("horse2zebra", tmp_path / "zoo"), "horse2zebra", "horse", "zebra")
    launched = {}
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kw: launched.update(demo=self))
    monkeypatch.setattr("cyclegan.catalog.zoo_reachable", lambda timeout=2.0: True)  # as if online
    args = ["--checkpoints", str(tmp_path / "ckpt"), "--zoo-dir", str(tmp_path / "zoo"), "--device", "cpu",
            "--client-inference", "off", "--threads", str(torch.get_num_threads()), "--examples", str(tmp_path / "none")]

    def listed():
        dropdown = next(b for b in launched["demo"].blocks.values() if isinstance(b, gr.Dropdown))
        return [key for _, key in dropdown.choices]
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    assert app.main(args) == 0 and len(listed()) == 1 + len(zoo.ZOO)
    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=lambda fn, duration: fn))
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "spaces" else find_spec(name, *a))
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    capsys.readouterr()
    assert app.main(args) == 0 and listed() == ["tiny", "zoo:horse2zebra"]
    assert f"* ZeroGPU: only the reference models already downloaded to {tmp_path / 'zoo'} are listed" in (
        capsys.readouterr().out)


# ------------------------------------------------------------------------------------------------------------------
# Helpers, in-process
# ------------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("script", ["app.py", "train.py"])
def test_help_answers_without_loading_torch_or_gradio(script):
    """--help and argument errors must answer at once: torch and gradio take ~10 s to import on a small CPU."""
    import subprocess
    for args, code in ((["--help"], 0), (["--no-such-flag"], 2)):
        r = subprocess.run([sys.executable, "-X", "importtime", str(ROOT / script), *args], capture_output=True,
                           text=True, cwd=ROOT, timeout=60)
        assert r.returncode == code, r.stderr[-2000:]
        imported = {line.split("|")[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
        assert not imported & {"torch", "gradio", "numpy"}, sorted(imported & {"torch", "gradio", "numpy"})
    assert "usage:" in r.stderr and "--no-such-flag" in r.stderr


def disk_budget(launched: dict) -> tuple[Path, int]:
    """(folder, bytes) of the disk budget that the app's middleware keeps on every request, and that the gate asks
    before it lets an upload in."""
    from cyclegan.gate import Gate
    from cyclegan.serve import IsolationMiddleware
    isolation, gate = launched["app_kwargs"]["middleware"]
    assert isolation.cls is IsolationMiddleware and gate.cls is Gate
    budget = isolation.kwargs["on_request"].__self__
    assert gate.kwargs["admit"].__self__ is budget
    return budget.folder, budget.max_bytes


def test_main_configures_queue_and_launch(tmp_path, monkeypatch):
    """main() without serving: defaults (127.0.0.1:7860, analytics off), env overrides, the queue for a 2-core CPU,
    the disk budget of Gradio's temp folder (--max-disk) in the middleware that sees every request, and malloc's
    arenas limited (so that RSS does not keep each thread's high-water mark)."""
    import torch
    from cyclegan.uploads import gradio_temp
    make_tiny_model(tmp_path / "ckpt" / "tiny")
    launched, arenas = {}, []
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kw: launched.update(demo=self, **kw))
    monkeypatch.setattr("cyclegan.server.limit_malloc_arenas", lambda n=2: arenas.append(n) or True)
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))  # main() points it at a folder of the app's own
    threads = torch.get_num_threads()
    try:
        assert app.main(["--checkpoints", str(tmp_path / "ckpt"), "--no-zoo", "--threads", "1"]) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    assert (launched["server_name"], launched["server_port"], launched["share"]) == ("127.0.0.1", 7860, False)
    assert launched["max_file_size"] == 100 * 1024**2  # the upload limit: the larger of pictures' and videos'
    # on every request, uploads alone included, in a folder of the app's own inside Gradio's
    assert gradio_temp() == tmp_path / "gradio" / f"cyclegan-app-{os.getpid()}"
    assert disk_budget(launched) == (gradio_temp(), 2 * 1024**3)
    assert arenas == [2]  # glibc's malloc arenas limited before the server's threads start
    assert launched["state_session_capacity"] == 1000  # each session's state costs ~80 kB: not Gradio's 10,000
    demo = launched["demo"]
    assert demo.analytics_enabled is False
    assert demo._queue.default_concurrency_limit == 1 and demo._queue.max_size == 64
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7999")
    monkeypatch.setenv("CYCLEGAN_MODELS", "a/b, c/d")
    assert app.main(["--checkpoints", str(tmp_path / "ckpt"), "--no-zoo", "--threads", str(threads),
                     "--model", "e/f", "--share", "--max-file-size", "5mb", "--max-video-size", "4mb",
                     "--max-disk", "300mb"]) == 0
    assert (launched["server_name"], launched["server_port"], launched["share"]) == ("0.0.0.0", 7999, True)
    assert launched["max_file_size"] == 5 * 1024**2 and disk_budget(launched) == (gradio_temp(), 300 * 1024**2)
    dropdown = next(b for b in launched["demo"].blocks.values() if isinstance(b, gr.Dropdown))
    assert [key for _, key in dropdown.choices] == ["tiny", "e/f", "a/b", "c/d"]


def test_main_without_models_fails_cleanly(tmp_path, capsys):
    assert app.main(["--checkpoints", str(tmp_path), "--no-zoo"]) == 2
    assert "no models" in capsys.readouterr().err


