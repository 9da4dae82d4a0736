"""Camera mode speed: translated frames a second in headless Chromium (WASM, 2 threads), for each shipped model at
its native scale and at two other working sizes.

    python -m benchmarks.camera_speed                  # every model in checkpoints/ the page can run
    python -m benchmarks.camera_speed --seconds 10
    python -m benchmarks.camera_speed --model monet2photo     # one model (a checkpoints/ folder's name)
    python -m benchmarks.camera_speed --frame docs/camera_frame.jpg   # also the README's picture of the camera mode

It exports the static site (python -m cyclegan.export --site), serves it on 127.0.0.1 (python -m cyclegan.serve),
and plays a 320x240 clip through Chromium's fake camera at 30 frames a second, faster than any model translates, so
that the figure is the translation's own rate (frames arriving while one is in work are dropped, as on a phone).
Steady is on (shared statistics and smoothing, the default). Prints a Markdown table and writes
benchmarks/results/camera_speed.json. Time it on an idle machine.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, describe, hardware, markdown_table, write_results
from cyclegan.testing import free_port
from cyclegan.testing import blink_scene

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


def sizes_for(native: int | None) -> list[int]:
    """The native scale and two others: about 0.7x and 1.4x of it (128 for a model without one), in the page's
    size choices."""
    from_page = [96, 128, 160, 192, 224, 256, 320, 384]
    n = native or 128
    pick = lambda target: min(from_page, key=lambda s: abs(s - target))  # noqa: E731
    return sorted({pick(0.7 * n), n, pick(1.4 * n)})


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright
    from cyclegan.export import export_site
    from cyclegan.model_folder import is_complete, read_manifest
    from cyclegan.testing import write_y4m
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("--seconds", type=float, default=8, help="measured seconds per model and size (after 3 s warm)")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--model", action="append", help="only this model of checkpoints/ (repeatable; default: all)")
    p.add_argument("--frame", type=Path, help="save the camera panes (camera | translated) of the first model's native "
                   "scale here, as the page shows them")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="cyclegan-camera-"))
    models = [f for f in sorted((ROOT / "checkpoints").iterdir()) if f.is_dir() and is_complete(f)
              and (not args.model or f.name in args.model)]
    if not models:
        p.error(f"no complete model folder in checkpoints/ named {', '.join(args.model or [])}")
    site = export_site(models, work / "site")
    frames, _ = blink_scene(ROOT / "examples" / "photo_coffee.jpg", size=(320, 240), frames=60)  # CC0 photo
    clip = write_y4m(work / "scene.y4m", frames, fps=30)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "cyclegan.serve", str(site), "--port", str(port)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    server.stdout.readline()
    rows = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium,
                                         args=[*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={clip}"])
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function("() => window.cyclegan && window.cyclegan.pageReady && window.cycleganCamera",
                                   timeout=60_000)
            for folder in models:
                m = read_manifest(folder)
                page.select_option("select[aria-label='Camera model']", m["name"])
                page.select_option("select[aria-label='Camera direction']", m.get("default_direction", "AtoB"))
                for size in sizes_for(m.get("native_size")):
                    page.select_option("select[aria-label='Working size']", str(size))
                    if not page.evaluate("window.cycleganCamera.running"):
                        page.locator(".camera-start").click()
                    page.wait_for_function("() => window.cycleganCamera.shown >= 2", timeout=60_000)
                    time.sleep(3)
                    n0, t0 = page.evaluate("window.cycleganCamera.shown"), time.perf_counter()
                    time.sleep(args.seconds)
                    n1, t1 = page.evaluate("window.cycleganCamera.shown"), time.perf_counter()
                    dims = page.evaluate("window.cycleganCamera.dims")
                    rows.append({"model": m["name"], "direction": m.get("default_direction", "AtoB"), "size": size,
                                 "native": size == m.get("native_size"), "working": f"{dims[0]}x{dims[1]}",
                                 "fps": round((n1 - n0) / (t1 - t0), 2),
                                 "threads": page.evaluate("window.cyclegan.ort.env.wasm.numThreads")})
                    print(rows[-1], flush=True)
                    if args.frame and size == m.get("native_size") and not args.frame.exists():
                        from PIL import Image
                        page.locator(".camera-panes").screenshot(path=str(work / "frame.png"))
                        Image.open(work / "frame.png").convert("RGB").save(args.frame, quality=88)
                        print(f"wrote {args.frame}")
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    info = hardware()
    print(f"Hardware: {describe(info)}; headless Chromium, WASM\n")
    print(markdown_table([{**r, "size": f"{r['size']}{' (native)' if r['native'] else ''}"} for r in rows],
                         [("model", "model"), ("direction", "direction"), ("size", "working size"),
                          ("working", "frame (from 320x240)"), ("threads", "threads"), ("fps", "frames/s")]))
    print(f"wrote {write_results('camera_speed', {'rows': rows, 'hardware': info, 'seconds': args.seconds})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
