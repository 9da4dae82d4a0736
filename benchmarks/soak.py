"""Soak test of the served app under attack: 20 clients for 3 minutes, mixing good pictures, the bad inputs a
public API gets (paths that are not uploads, web addresses, bombs, broken files, odd values, decoders' worst cases,
the page's own handlers called by index, Gradio's routes the app does not use, oversized bodies) and small videos.

    python -m benchmarks.soak                     # 20 clients, 180 s, the shipped models, loopback only
    python -m benchmarks.soak --clients 4 --seconds 30

It starts `python app.py` on 127.0.0.1 (its own temp folder under a small --max-disk, no zoo, the server
translating), warms it up, and reads its resident memory (RSS). Each client then loops until the time is up,
picking a request by weight; a good one must come back with its results, a bad one must be refused with its one
line. At the end it waits for the server to settle and reads RSS again, looks in the temp folder for anything a
failure left behind, and checks that the disk budget held it: what is older than the budget's grace (its minimum
age and its interval) fits the budget. Prints a Markdown table, writes benchmarks/results/soak.json, and deletes
its work folder (the inputs, the temp folder, the clients' downloads).
"""
from __future__ import annotations

import argparse
import collections
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.common import ROOT, describe, hardware, markdown_table, write_results
from benchmarks.load_test import start_app, wait_until_up
from cyclegan.testing import free_port

NOT_AN_UPLOAD = "Not an upload"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def make_inputs(folder: Path) -> dict[str, Path]:
    """The files the clients send: good pictures and clips, and the bad files of the attacks."""
    from cyclegan.testing import write_video
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    files = {"photo": ROOT / "examples" / "photo_coffee.jpg", "small": folder / "small.png"}
    Image.fromarray(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)).save(files["small"])
    files["clip"] = write_video(folder / "clip.mp4", (rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
                                                      for _ in range(12)), 12, tone_hz=440)
    (folder / "notes.png").write_text("not a picture")
    files["notes"] = folder / "notes.png"
    good = files["photo"].read_bytes()
    (folder / "truncated.jpg").write_bytes(good[:len(good) // 3])
    files["truncated"] = folder / "truncated.jpg"
    Image.new("1", (12_000, 12_000)).save(folder / "bomb.png")  # 144 megapixels in a small file
    files["bomb"] = folder / "bomb.png"
    Image.fromarray(np.full((6000, 6000), 30000, np.uint16)).save(folder / "deep.tif",  # 36 MP of 16-bit, 110 kB
                                                                  compression="tiff_adobe_deflate")
    files["deep"] = folder / "deep.tif"
    (folder / "fake.mp4").write_text("not a video")
    files["fake_clip"] = folder / "fake.mp4"
    frame = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    files["fast_clip"] = write_video(folder / "fast.mp4", (frame for _ in range(3000)), 999)  # 3 s at 999 fps
    files["huge_clip"] = huge_clip(folder / "huge.mp4")  # two 144-megapixel frames in a 0.4 MB file
    files["hifi_clip"] = hifi_clip(folder / "hifi.mkv")
    (folder / "drawing.eps").write_text("%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    files["eps"] = folder / "drawing.eps"
    files.update(decoder_attacks(folder, rng))
    return files


def decoder_attacks(folder: Path, rng: np.random.Generator) -> dict[str, Path]:
    """Small files that make the decoders work: metadata that points at itself, a JPEG of a thousand scans, a TIFF
    of many pages, a 40 MP PNG of 50 kB and a PCX for the page's own triptych handler, a clip of 66 streams, a clip of
    1 s with 30 s of sound, a clip that claims 1000 fps."""
    import av
    from cyclegan.testing import exif_bomb, many_streams_clip
    picture = Image.fromarray(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8))
    files = {"exif_bomb": folder / "exif.png", "scans": folder / "scans.jpg", "pages": folder / "pages.tif",
             "pixels_40mp": folder / "40mp.png", "pcx": folder / "x.pcx"}
    picture.save(files["exif_bomb"], exif=exif_bomb())
    progressive = folder / "progressive.jpg"
    Image.open(ROOT / "examples" / "photo_coffee.jpg").resize((640, 480)).save(progressive, progressive=True)
    jpeg = progressive.read_bytes()
    starts = [i for i in range(len(jpeg) - 1) if jpeg[i:i + 2] == b"\xff\xda"] + [len(jpeg) - 2]
    shortest = min((jpeg[a:b] for a, b in zip(starts, starts[1:])), key=len)  # the cheapest scan to repeat
    files["scans"].write_bytes(jpeg[:-2] + shortest * 1000 + b"\xff\xd9")
    pages = [Image.new("RGB", (16, 16), (i % 256, 0, 0)) for i in range(2000)]
    pages[0].save(files["pages"], save_all=True, append_images=pages[1:])
    Image.new("1", (8000, 5000)).save(files["pixels_40mp"])
    picture.save(files["pcx"])
    files["streams_clip"] = many_streams_clip(folder / "streams.ts", 64, 6000)
    files["long_sound_clip"] = folder / "long_sound.mp4"
    with av.open(str(files["long_sound_clip"]), "w") as container:
        video = container.add_stream("libx264", rate=12)
        video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
        sound = container.add_stream("aac", rate=48000, layout="mono")
        for i in range(12):
            container.mux(video.encode(av.VideoFrame.from_ndarray(np.full((32, 32, 3), 20 * i, np.uint8), "rgb24")))
        container.mux(video.encode(None))
        wave = (0.2 * np.sin(np.arange(48000 * 30) / 20)).astype(np.float32)[None]
        for start in range(0, wave.shape[1], 1024):
            chunk = av.AudioFrame.from_ndarray(wave[:, start:start + 1024], format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts = 48000, start
            container.mux(sound.encode(chunk))
        container.mux(sound.encode(None))
    files["claims_1000fps"] = folder / "claims_1000fps.mkv"
    with av.open(str(files["claims_1000fps"]), "w") as container:
        video = container.add_stream("libx264", rate=1000)
        video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
        for i in range(600):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), i % 256, np.uint8), format="rgb24")
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
    return files


def huge_clip(path: Path, side: int = 12_000) -> Path:
    """Two frames of side² pixels (216 MB each, decoded) in a small H.264 file, written a frame of one colour at a
    time (write_video's encoder settings would take 4 GB to make it)."""
    import av
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=12, options={"preset": "ultrafast", "tune": "zerolatency"})
        video.width = video.height = side
        video.pix_fmt, video.thread_count = "yuv420p", 1
        frame = av.VideoFrame(side, side, "yuv420p")
        for plane, value in zip(frame.planes, (90, 128, 128)):
            np.frombuffer(plane, np.uint8)[:] = value
        for i in range(2):
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
    return path


def hifi_clip(path: Path) -> Path:
    """A clip whose sound (192 kHz PCM) the AAC encoder cannot take as it is: it must be resampled, not refused."""
    import av
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=12)
        video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
        sound = container.add_stream("pcm_s16le", rate=192000, layout="mono")
        for i in range(12):
            container.mux(video.encode(av.VideoFrame.from_ndarray(np.full((32, 32, 3), 20 * i, np.uint8), "rgb24")))
        wave = (3000 * np.sin(np.arange(192000) / 30)).astype(np.int16)[None]
        for start in range(0, 192000, 4096):
            chunk = av.AudioFrame.from_ndarray(wave[:, start:start + 4096], format="s16", layout="mono")
            chunk.sample_rate, chunk.pts = 192000, start
            container.mux(sound.encode(chunk))
        container.mux(video.encode(None))
        container.mux(sound.encode(None))
    return path


def call_raw(url: str, api: str, data: list) -> tuple[str, str]:
    """A request past gradio_client (a path instead of an upload): (last event, its data)."""
    import httpx
    r = httpx.post(f"{url}/gradio_api/call/{api}", json={"data": data}, timeout=60)
    r.raise_for_status()
    with httpx.stream("GET", f"{url}/gradio_api/call/{api}/{r.json()['event_id']}", timeout=300) as stream:
        lines = [line for line in stream.iter_lines() if line]
    return lines[-2].removeprefix("event: "), lines[-1].removeprefix("data: ")


def requests(files: dict[str, Path], secret: Path, link: Path) -> list[tuple[str, float, object]]:
    """(kind, weight, what to send): good requests return results; bad ones name the line they must get. A "raw"
    request is posted as any client could, past gradio_client (a path or a web address instead of an upload, as a
    bare string, a dict, or one that claims to be Gradio's FileData)."""
    from gradio_client import handle_file
    good = lambda f, **kw: ("translate", (handle_file(str(f)),), kw)  # noqa: E731
    clip = lambda f, **kw: ("translate_video", (handle_file(str(f)),), kw)  # noqa: E731
    meta = {"_type": "gradio.FileData"}
    web = "https://example.com/photo.png"
    return [
        ("good picture", 40, ("good", *good(files["photo"], model="monet2photo", direction="BtoA"))),
        ("good small picture", 15, ("good", *good(files["small"]))),
        ("good video", 8, ("good", *clip(files["clip"], model="monet2photo"))),
        ("video with 192 kHz sound (resampled)", 2, ("good", *clip(files["hifi_clip"]))),
        ("fast video (999 fps)", 3, ("Video has too many frames", *clip(files["fast_clip"]))),
        ("video of 12000² frames", 2, ("Video frames too large", *clip(files["huge_clip"]))),
        ("path, not an upload", 6, (NOT_AN_UPLOAD, "raw", ("translate", [{"path": str(secret)}, None, None]), {})),
        ("folder, not an upload", 3, (NOT_AN_UPLOAD, "raw", ("translate", [{"path": str(secret.parent)}, None, None]),
                                      {})),
        ("missing, not an upload", 3, (NOT_AN_UPLOAD, "raw", ("translate", [{"path": str(secret) + ".x"}, None, None]),
                                       {})),
        ("link out of the uploads", 3, (NOT_AN_UPLOAD, "raw", ("translate", [{"path": str(link)}, None, None]), {})),
        ("web address as FileData", 3, (NOT_AN_UPLOAD, "raw", ("translate", [{"path": web, "meta": meta}, None, None]),
                                        {})),
        ("path out as FileData", 3, (NOT_AN_UPLOAD, "raw", ("translate", [{"path": str(secret), "meta": meta}, None,
                                                                           None]), {})),
        ("video path as FileData", 2, (NOT_AN_UPLOAD, "raw", ("translate_video", [{"path": str(secret), "meta": meta},
                                                                                  None, None, True, False]), {})),
        ("video as a bare path", 2, (NOT_AN_UPLOAD, "raw", ("translate_video", [str(secret), None, None, True, False]),
                                     {})),
        ("video link out of the uploads", 2, (NOT_AN_UPLOAD, "raw", ("translate_video", [
            {"path": str(link), "meta": meta}, None, None, True, False]), {})),
        ("video path, not an upload", 3, (NOT_AN_UPLOAD, "raw", ("translate_video", [{"video": {"path": str(secret)}},
                                                                                     None, None, True, False]), {})),
        ("video web address", 2, (NOT_AN_UPLOAD, "raw", ("translate_video", [{"path": web, "meta": meta}, None, None,
                                                                             True, False]), {})),
        ("EPS (never Ghostscript)", 3, ("Not an image", *good(files["eps"]))),
        ("not a picture", 4, ("Not an image", *good(files["notes"]))),
        ("truncated picture", 4, ("Corrupted or truncated image", *good(files["truncated"]))),
        ("decompression bomb", 4, ("Image too large", *good(files["bomb"]))),
        ("36 MP 16-bit TIFF", 3, ("Image too large", *good(files["deep"]))),
        ("not a video", 3, ("Not a video", *clip(files["fake_clip"]))),
        ("model as a list", 2, ("Unknown model", *good(files["small"], model=["monet2photo"]))),
        ("model as a dict", 2, ("Unknown model", *good(files["small"], model={"a": 1}))),
        # The decoders' worst cases, each bounded: read a bounded way, refused by a named bound, or thinned.
        ("EXIF of 400 tags x 2 MB (orientation read bounded)", 2, ("good", *good(files["exif_bomb"]))),
        ("JPEG of 1,000 scans", 2, ("Too costly to decode", *good(files["scans"]))),
        ("TIFF of 2,000 pages (the first read)", 2, ("good", *good(files["pages"]))),
        ("clip of 66 streams", 2, ("Too many streams", *clip(files["streams_clip"]))),
        ("clip of 1 s with 30 s of sound (cut)", 2, ("good", *clip(files["long_sound_clip"]))),
        ("clip that claims 1000 fps (thinned)", 2, ("good", *clip(files["claims_1000fps"]))),
        # The page's own handlers, called by index as anyone can.
        ("triptych handler: a PCX", 2, ("Not an image", "join", ("make_triptych", ["pcx", "small", None,
                                                                               "monet2photo", "BtoA"]), {})),
        ("triptych handler: 40 MP in 50 kB", 2, ("Image too large", "join", ("make_triptych", [
            "pixels_40mp", "small", None, "monet2photo", "BtoA"]), {})),
        ("a handler of the page alone", 1, ("Not an endpoint", "join", (None, ["small", "monet2photo", "BtoA"]), {})),
        ("bad model to a hidden handler", 2, ("Unknown model", "join", ("select_model", ["x" * 5000]), {})),
        # Routes and bodies.
        ("2 MB data: URL in a call", 2, ("413", "http", ("POST", "/gradio_api/queue/join", {
            "data": [{"url": "data:image/png;base64," + "A" * (2 * 1024 ** 2)}, None, None], "fn_index": 0,
            "session_hash": "soak"}), {})),
        ("relay of a web address", 2, ("404", "http", ("GET", "/gradio_api/file=https://example.com/big.bin", None),
                                       {})),
        ("screen-recording transcode", 1, ("404", "http", ("POST", "/gradio_api/process_recording", None), {})),
        ("path component over 255 bytes", 1, ("414", "http", ("GET", "/gradio_api/file=" + "a" * 300, None), {})),
    ]


def join_raw(url: str, fn_name: str | None, data: list, files: dict[str, Path]) -> tuple[bool, str]:
    """A call of one of the page's own handlers by its index (``fn_name``; None: the first that runs only in the
    page), its files uploaded first (a name of ``files`` in ``data``): (whether it succeeded, its last message)."""
    import json
    import httpx
    config = httpx.get(f"{url}/config", timeout=30).json()
    index = next(d["id"] for d in config["dependencies"] if (
        d.get("api_name") == fn_name if fn_name else not d["backend_fn"] and d["inputs"]))
    sent = []
    for value in data:
        if value in files:
            with open(files[value], "rb") as f:
                path = httpx.post(f"{url}/gradio_api/upload", files={"files": (files[value].name, f)},
                                  timeout=60).json()[0]
            value = {"path": path, "orig_name": files[value].name, "meta": {"_type": "gradio.FileData"}}
        sent.append(value)
    session = f"soak{time.monotonic_ns()}{random.random()}"
    r = httpx.post(f"{url}/gradio_api/queue/join", json={"data": sent, "fn_index": index, "session_hash": session},
                   timeout=60)
    r.raise_for_status()
    with httpx.stream("GET", f"{url}/gradio_api/queue/data", params={"session_hash": session}, timeout=300) as stream:
        done = [json.loads(line[6:]) for line in stream.iter_lines() if line.startswith("data: ")
                and "process_completed" in line]
    if not done:
        return False, "no answer"
    output = done[-1].get("output") or {}
    return bool(done[-1].get("success")), str(output.get("error") or json.dumps(output, ensure_ascii=False))


def send(client, url: str, kind: str, spec: tuple, files: dict[str, Path]) -> dict:
    """One request of the plan; whether it was answered as expected (a good one with its results, a bad one
    refused with its line, or its HTTP status)."""
    import httpx
    expected, api, args, kwargs = spec
    start = time.perf_counter()
    try:
        if api == "raw":
            event, data = call_raw(url, *args)
            ok, message = event == "complete", data
        elif api == "join":
            ok, message = join_raw(url, *args, files)
        elif api == "http":
            method, path, body = args
            r = httpx.request(method, url + path, json=body, timeout=60)
            ok, message = r.status_code < 400, f"{r.status_code} {r.text[:150]}"
        else:
            result = client.predict(*args, api_name=f"/{api}", **kwargs)
            ok, message = True, str(result)[:80]
    except Exception as e:  # gradio_client raises AppError with the server's line
        ok, message = False, str(e).splitlines()[0] if str(e) else type(e).__name__
    passed = ok if expected == "good" else not ok and expected in message
    # The disk budget's own refusal: an upload that would pass --max-disk while the folder holds only files younger
    # than the budget's grace. The bound working, not a failure of the request; counted on its own.
    budget = not ok and ("Insufficient Storage" in message or message.startswith("507"))
    return {"kind": kind, "good": expected == "good", "passed": passed, "budget": budget,
            "seconds": time.perf_counter() - start, "message": message[:200]}


def client_loop(url: str, plan: list, until: float, seed: int, outcomes: list, lock: threading.Lock,
                downloads: Path, files: dict[str, Path]) -> None:
    from gradio_client import Client
    client = Client(url, verbose=False, download_files=str(downloads / f"client-{seed}"))
    rng = random.Random(seed)
    kinds, weights = [p[0] for p in plan], [p[1] for p in plan]
    specs = {p[0]: p[2] for p in plan}
    while time.monotonic() < until:
        kind = rng.choices(kinds, weights)[0]
        outcome = send(client, url, kind, specs[kind], files)
        with lock:
            outcomes.append(outcome)


def warm_up(url: str, plan: list, downloads: Path, files: dict[str, Path]) -> list[dict]:
    """Every kind of request once, then 20 s of good ones: what a server does once (load the models, open a codec,
    take an error path for the first time) is done before its memory is read, so the soak measures what grows."""
    from gradio_client import Client
    client = Client(url, verbose=False, download_files=str(downloads / "client-0"))
    done = [send(client, url, kind, spec, files) for kind, _, spec in plan]
    client_loop(url, plan[:3], time.monotonic() + 20, 0, done, threading.Lock(), downloads, files)
    return done


def sample_rss(pid: int, until: float, samples: list) -> None:
    """The server's RSS every 10 s while the clients run: (seconds since the start, MB)."""
    start = time.monotonic()
    while time.monotonic() < until:
        samples.append((round(time.monotonic() - start), round(rss_mb(pid))))
        time.sleep(10)


def folder_size(folder: Path) -> tuple[int, int]:
    """(files, bytes on disk) under ``folder``, folders included, as the disk budget counts them."""
    from cyclegan.uploads import DiskBudget
    return sum(1 for p in folder.rglob("*") if p.is_file()), DiskBudget(folder, 1).used()


def over_budget(temp: Path, max_bytes: int, grace: float) -> int:
    """Bytes on disk in ``temp`` beyond ``max_bytes`` among the files older than ``grace`` seconds: 0 when the disk
    budget holds it. The budget never deletes a file younger than its minimum age and looks at most once an
    interval; ``grace`` is the two together, so what is older must fit (``temp`` had a request within the
    interval). Uploads are refused before they would pass it, whatever their age."""
    from cyclegan.uploads import disk_bytes
    now, old = time.time(), 0
    for p in temp.rglob("*"):
        try:
            st = p.lstat()
        except OSError:  # gone meanwhile
            continue
        if p.is_file() and now - st.st_mtime > grace:
            old += disk_bytes(st)
    return max(0, old - max_bytes)


def leftovers(temp: Path) -> list[str]:
    """What a failure would leave: partial videos and frames' files anywhere in the temp folder, empty result
    folders."""
    bad = [str(p) for pattern in ("*.part.mp4", "*.part*", "*.tmp") for p in temp.rglob(pattern)]
    for name in ("cyclegan-videos", "cyclegan-results", "cyclegan-triptychs"):
        folder = temp / name
        if folder.is_dir():
            bad += [str(p) for p in folder.iterdir() if p.is_dir() and not any(p.iterdir())]
    return bad


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--seconds", type=float, default=180)
    p.add_argument("--max-disk", default="300mb", help="the app's --max-disk: small, so that the budget works (20 "
                   "clients' results, kept an hour, fill 100 MB in about two minutes; uploads are then refused)")
    p.add_argument("--out", type=Path, default=None, help="the JSON's path (default benchmarks/results/soak.json)")
    args = p.parse_args(argv)
    from cyclegan.uploads import DiskBudget, parse_size
    max_disk = parse_size(args.max_disk)
    budget = DiskBudget(Path("."), max_disk)
    grace = budget.min_age + budget.every
    work = Path(tempfile.mkdtemp(prefix="cyclegan-soak-"))
    app = None
    try:
        files = make_inputs(work / "inputs")
        secret = work / "secret" / "photo.png"
        secret.parent.mkdir()
        Image.open(files["photo"]).save(secret)
        gradio = work / "gradio"
        gradio.mkdir()
        downloads = work / "downloads"
        os.environ["GRADIO_TEMP_DIR"] = str(gradio)  # start_app passes the environment on
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        app = start_app(port, work / "app.log", ["--client-inference", "off", "--examples", str(work / "none"),
                                                  "--max-disk", str(max_disk)])
        temp = gradio / f"cyclegan-app-{app.pid}"  # the app's own folder inside Gradio's
        wait_until_up(url + "/config", app, time.monotonic() + 300)
        link = temp / "link.png"  # inside the app's upload folder, leading out of it
        link.symlink_to(secret)
        # The disk budget reads a file's time through a link: the secret's, set a day ahead, keeps the link from
        # being deleted with the old files, so that it is there to be refused all along.
        os.utime(secret, (time.time() + 86400,) * 2)
        plan = requests(files, secret, link)
        warm = warm_up(url, plan, downloads, files)
        time.sleep(3)
        rss_start = rss_mb(app.pid)
        outcomes: list = []
        samples: list = []
        lock = threading.Lock()
        until = time.monotonic() + args.seconds
        threads = [threading.Thread(target=client_loop, args=(url, plan, until, i + 1, outcomes, lock, downloads,
                                                              files)) for i in range(args.clients)]
        threads.append(threading.Thread(target=sample_rss, args=(app.pid, until, samples), daemon=True))
        for t in threads:
            t.start()
        for t in threads:
            t.join(args.seconds + 600)
        time.sleep(10)  # the last responses written, the server idle
        rss_end = rss_mb(app.pid)
        still_up = app.poll() is None
        import httpx
        httpx.get(url + "/config", timeout=30)  # a request: the budget looks if its interval has passed
        time.sleep(2)
        temp_files, temp_bytes = folder_size(temp)
        beyond = over_budget(temp, max_disk, grace)
        left = leftovers(temp)
    finally:
        if app is not None:
            app.terminate()
            app.wait(30)
        shutil.rmtree(work, ignore_errors=True)  # the inputs, Gradio's temp folder, the clients' downloads
    by_kind = collections.defaultdict(list)
    for o in outcomes:
        by_kind[o["kind"]].append(o)
    rows = [{"kind": kind, "requests": len(os_), "passed": sum(o["passed"] for o in os_),
             "median_s": round(statistics.median(o["seconds"] for o in os_), 2),
             "line": next((o["message"] for o in os_ if not o["good"] and o["passed"]), "-")[:70]}
            for kind, os_ in sorted(by_kind.items(), key=lambda kv: (not kv[1][0]["good"], kv[0]))]
    good = [o for o in outcomes if o["good"]]
    bad = [o for o in outcomes if not o["good"]]
    summary = {"clients": args.clients, "seconds": args.seconds, "requests": len(outcomes),
               "max_disk_mb": round(max_disk / 1024 ** 2), "temp_files": temp_files,
               "temp_mb": round(temp_bytes / 1024 ** 2, 1), "temp_old_beyond_budget_mb": round(beyond / 1024 ** 2, 1),
               "good_failed": sum(not o["passed"] and not o["budget"] for o in good), "bad_not_refused_as_expected":
               sum(not o["passed"] and not o["budget"] for o in bad),
               "refused_by_the_disk_budget": sum(o["budget"] for o in outcomes),
               "rss_start_mb": round(rss_start, 1), "rss_end_mb": round(rss_end, 1),
               "rss_change": round(rss_end / rss_start - 1, 3), "rss_samples_mb": samples,
               "warm_up_failed": [o for o in warm if not o["passed"]], "leftovers": left, "server_still_up": still_up,
               "failures": [o for o in outcomes if not o["passed"]][:20], "rows": rows, "hardware": hardware()}
    print(f"Hardware: {describe(summary['hardware'])}\n")
    print(markdown_table(rows, [("kind", "request"), ("requests", "sent"), ("passed", "answered as expected"),
                                ("median_s", "median s"), ("line", "the line a refused one got")]))
    print(f"\n{len(outcomes)} requests from {args.clients} clients in {args.seconds:g} s: {summary['good_failed']} good "
          f"ones failed, {summary['bad_not_refused_as_expected']} bad ones not refused with their line, "
          f"{summary['refused_by_the_disk_budget']} uploads refused by the disk budget (507); server RSS "
          f"{rss_start:.0f} MB -> {rss_end:.0f} MB ({100 * summary['rss_change']:+.1f} %; at most "
          f"{max((mb for _, mb in samples), default=rss_start):.0f} MB while loaded); leftovers: {len(left)}; "
          f"Gradio's temp folder at the end: {temp_files} files, {summary['temp_mb']} MB (the budget: "
          f"{summary['max_disk_mb']} MB; older than {grace:g} s and beyond it: {summary['temp_old_beyond_budget_mb']} "
          f"MB); server up: {still_up}")
    print(f"wrote {write_results('soak', summary, args.out)}")
    return 0 if (summary["good_failed"] == 0 and summary["bad_not_refused_as_expected"] == 0 and not left
                 and beyond == 0 and abs(summary["rss_change"]) <= 0.10 and still_up) else 1


if __name__ == "__main__":
    sys.exit(main())
