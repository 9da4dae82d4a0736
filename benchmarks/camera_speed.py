"""Camera mode speed: translated frames a second in headless Chromium (WASM, 2 threads), with where each frame's
time goes, for each shipped model at its native scale, at the camera sizes visitors have, on both pages.

    python -m benchmarks.camera_speed                                  # 640x480, the static site, native scales
    python -m benchmarks.camera_speed --inputs 320x240,640x480,1280x720 --pages site,app
    python -m benchmarks.camera_speed --model monet2photo --sizes all  # the native scale and two others
    python -m benchmarks.camera_speed --record                         # also with Record on
    python -m benchmarks.camera_speed --frame docs/camera_frame.jpg    # the README's picture of the camera mode

The static site is exported (python -m cyclegan.export --site) and served on 127.0.0.1 (python -m cyclegan.serve);
the app is `python app.py` on 127.0.0.1 (its Camera tab). Chromium's fake camera plays a clip of the input size at
30 frames a second, faster than any model translates, so the figure is the translation's own rate (frames that
arrive while one is in work are dropped, as on a phone). Steady is on (the default). Each frame's time is split as
the page measures it (window.cycleganCamera.breakdown): capture (the camera frame drawn at the working size and read
back), tensor (pixels to the model's input), model (the graph; on a frame that measures its own statistics, the
first, and on one that follows the shared ones), draw (the output put on the canvas); "other" is what the frame rate leaves: the
browser's own work between frames (decoding the camera, compositing, the fake camera itself). Prints a Markdown table
and writes benchmarks/results/camera_speed.json. Time it on an idle machine.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, describe, hardware, markdown_table, write_results
from cyclegan.testing import CHROMIUM_ARGS, AppServer, blink_scene, free_port

CAMERA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
PAGE_SIZES = [96, 128, 160, 192, 224, 256, 320, 384]


def sizes_for(native: int | None, every: bool) -> list[int]:
    """The native scale (128 for a model without one); with ``every``, also about 0.7x and 1.4x of it."""
    n = native or 128
    if not every:
        return [n]
    pick = lambda target: min(PAGE_SIZES, key=lambda s: abs(s - target))
    return sorted({pick(0.7 * n), n, pick(1.4 * n)})


def measure(page, seconds: float, record: bool) -> dict:
    """Frames a second over ``seconds`` (after 3 s warm), and the page's breakdown of them in ms a frame."""
    page.wait_for_function("() => window.cycleganCamera.shown >= 2", timeout=90_000)
    if record:
        page.get_by_role("button", name="Record").click()
    time.sleep(3)
    page.evaluate("window.cycleganCamera.resetBreakdown()")
    n0, t0 = page.evaluate("window.cycleganCamera.shown"), time.perf_counter()
    time.sleep(seconds)
    n1, t1 = page.evaluate("window.cycleganCamera.shown"), time.perf_counter()
    b = page.evaluate("window.cycleganCamera.breakdown")
    if record:
        with page.expect_download(timeout=30_000):
            page.get_by_role("button", name="Stop recording").click()
    fps = (n1 - n0) / (t1 - t0)
    frames, measured = max(1, b["frames"]), b["measured"]
    row = {"fps": round(fps, 2), "frame_ms": round((b["until"] - b["since"]) / frames, 1),
           "capture_ms": round(b["capture"] / frames, 1), "tensor_ms": round(b["tensor"] / frames, 1),
           "model_ms": round((b["model_measured"] + b["model_plain"]) / frames, 1),
           "model_measured_ms": round(b["model_measured"] / measured, 1) if measured else None,
           "model_plain_ms": round(b["model_plain"] / (frames - measured), 1) if frames > measured else None,
           "draw_ms": round(b["draw"] / frames, 1), "dims": page.evaluate("window.cycleganCamera.dims")}
    busy = row["capture_ms"] + row["tensor_ms"] + row["model_ms"] + row["draw_ms"]
    row["other_ms"] = round(row["frame_ms"] - busy, 1) if row["frame_ms"] else None
    return row


def run_pages(models: list[Path], graph: str, inputs: list[tuple[int, int]], pages: list[str], work: Path,
              args) -> list[dict]:
    """Every row of one graph (the camera's own, or the picture model's) on the pages asked for."""
    from playwright.sync_api import sync_playwright

    from cyclegan.export import export_site
    from cyclegan.model_folder import read_manifest
    from cyclegan.testing import write_y4m
    work.mkdir(parents=True)
    rows = []
    servers: dict[str, str] = {}
    site_server = app = None
    try:
        if "site" in pages:
            site = export_site(models, work / "site")
            port = free_port()
            site_server = subprocess.Popen([sys.executable, "-m", "cyclegan.serve", str(site), "--port", str(port)],
                                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            site_server.stdout.readline()
            servers["site"] = f"http://127.0.0.1:{port}/"
        if "app" in pages:
            folder = work / "checkpoints"
            folder.mkdir()
            for m in models:
                os.symlink(m, folder / m.name)
            app = AppServer(["--checkpoints", str(folder), "--no-zoo", "--examples", str(work / "none")], {},
                            work / "app.log")
            servers["app"] = app.url
        with sync_playwright() as pw:
            for size in inputs:
                frames, _ = blink_scene(ROOT / "examples" / "photo_coffee.jpg", size=size, frames=60)  # CC0 photo
                clip = write_y4m(work / f"scene-{size[0]}x{size[1]}.y4m", frames, fps=30)
                browser = pw.chromium.launch(executable_path=args.chromium, args=[
                    *CHROMIUM_ARGS, *CAMERA_ARGS, f"--use-file-for-fake-video-capture={clip}"])
                try:
                    for name, url in servers.items():
                        page = browser.new_page(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
                        page.goto(url)
                        if name == "app":
                            page.locator("#input-image").wait_for(timeout=60_000)
                            page.get_by_role("tab", name="Camera").click()
                            page.locator("#cyclegan-camera .camera-start").wait_for(timeout=60_000)
                        else:
                            page.wait_for_function("() => window.cyclegan && window.cyclegan.pageReady", timeout=60_000)
                        page.wait_for_function("() => window.cycleganCamera", timeout=60_000)
                        offered = page.eval_on_selector_all("select[aria-label='Camera model'] option",
                                                            "options => options.map(o => o.value)")
                        for folder in models:
                            m = read_manifest(folder)
                            if m["name"] not in offered:  # the app lists only models that beat doing nothing
                                print(f"{name}: {m['name']} is not offered", flush=True)
                                continue
                            page.select_option("select[aria-label='Camera model']", m["name"])
                            page.select_option("select[aria-label='Camera direction']",
                                               m.get("default_direction", "AtoB"))
                            for working in sizes_for(m.get("native_size"), args.sizes == "all"):
                                page.select_option("select[aria-label='Working size']", str(working))
                                if not page.evaluate("window.cycleganCamera.running"):
                                    page.locator(".camera-start").click()
                                for record in ([False, True] if args.record else [False]):
                                    row = {"page": name, "graph": graph, "input": f"{size[0]}x{size[1]}", "model": m["name"],
                                           "direction": m.get("default_direction", "AtoB"), "size": working,
                                           "native": working == m.get("native_size"), "record": record,
                                           **measure(page, args.seconds, record)}
                                    row["working"] = "x".join(map(str, row.pop("dims")))
                                    rows.append(row)
                                    print(row, flush=True)
                                if args.frame and working == m.get("native_size") and not args.frame.exists():
                                    from PIL import Image
                                    page.locator(".camera-panes").screenshot(path=str(work / "frame.png"))
                                    Image.open(work / "frame.png").convert("RGB").save(args.frame, quality=88)
                                    print(f"wrote {args.frame}")
                        page.close()
                finally:
                    browser.close()
    finally:
        if site_server:
            site_server.terminate()
            site_server.wait(10)
        if app:
            app.close()
    return rows


def graph_models(models: list[Path], graph: str, work: Path) -> list[Path]:
    """The models as the camera runs them: ``camera`` as shipped (a model's camera/ student where it has one),
    ``picture`` copies without it, so that the camera runs the picture model's graph."""
    if graph == "camera":
        return models
    import shutil

    from cyclegan.model_folder import set_camera
    copies = []
    for m in models:
        copy = shutil.copytree(m, work / "models" / m.name, ignore=shutil.ignore_patterns("camera"))
        set_camera(copy, None)
        copies.append(copy)
    return copies


def main(argv: list[str] | None = None) -> int:
    from cyclegan.model_folder import is_complete
    p = argparse.ArgumentParser(prog="python -m benchmarks.camera_speed", description=__doc__.strip().split("\n")[0])
    p.add_argument("--seconds", type=float, default=8, help="measured seconds per row (after 3 s warm)")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--model", action="append", help="only this model of checkpoints/ (repeatable; default: all)")
    p.add_argument("--inputs", default="640x480", help="camera sizes, comma-separated WxH")
    p.add_argument("--pages", default="site", help="site, app or both (comma-separated)")
    p.add_argument("--sizes", choices=("native", "all"), default="native",
                   help="working sizes: the model's native scale, or also about 0.7x and 1.4x of it")
    p.add_argument("--graphs", default="camera", help="camera (each model's camera graph: its distilled student where "
                   "it ships one), picture (the picture model's), or both (comma-separated)")
    p.add_argument("--record", action="store_true", help="also measure each row with Record on")
    p.add_argument("--frame", type=Path, help="save the camera panes (camera | translated) of the first model's native "
                   "scale here, as the page shows them")
    p.add_argument("--out", help="JSON path (default benchmarks/results/camera_speed.json)")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="cyclegan-camera-"))
    models = [f for f in sorted((ROOT / "checkpoints").iterdir()) if f.is_dir() and is_complete(f)
              and (not args.model or f.name in args.model)]
    if not models:
        p.error(f"no complete model folder in checkpoints/ named {', '.join(args.model or [])}")
    inputs = [tuple(int(v) for v in s.split("x")) for s in args.inputs.split(",")]
    pages = args.pages.split(",")
    rows = []
    for graph in args.graphs.split(","):
        rows += run_pages(graph_models(models, graph, work / graph), graph, inputs, pages,
                          work / graph / "run", args)
    info = hardware()
    print(f"Hardware: {describe(info)}; headless Chromium, WASM\n")
    print(markdown_table([{**r, "size": f"{r['size']}{' (native)' if r['native'] else ''}",
                           "record": "on" if r["record"] else "off"} for r in rows],
                         [("page", "page"), ("graph", "graph"), ("input", "camera"), ("model", "model"), ("size", "working size"),
                          ("working", "frame"), ("record", "record"), ("fps", "frames/s"), ("frame_ms", "ms a frame"),
                          ("capture_ms", "capture"), ("tensor_ms", "tensor"), ("model_plain_ms", "model"),
                          ("model_measured_ms", "model, measuring"), ("draw_ms", "draw"), ("other_ms", "other")]))
    print(f"wrote {write_results('camera_speed', {'rows': rows, 'hardware': info, 'seconds': args.seconds}, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
