"""The visitor's browser translates: how fast, what a visit downloads, and what the server is spared.

    python -m benchmarks.web_speed             # table + benchmarks/results/web_speed.json (headless Chromium)

- Round trip (translate + translate back, the app's triptych) in the browser at 256 and 512 px, 1 and 2 threads,
  on the static site of the shipped monet2photo (`python -m cyclegan.export --site`, served by
  `python -m cyclegan.serve`), median of 5 after a first run.
- First visit (an empty cache: bytes over the network, seconds until the first translation is shown) and second
  visit (the same browser profile: what still comes over the network).
- Server CPU seconds per page translation of the app (`python app.py`), with client inference on and off: the
  app process's CPU time over 5 translations from Chromium, divided by 5.

The API under load (20 clients x 5 requests) is benchmarks/load_test.py.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, describe, hardware, markdown_table, write_results

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHOTO = ROOT / "examples" / "photo_coffee.jpg"


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_site(folder: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cyclegan.serve", str(folder), "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    proc.stdout.readline()
    return proc, f"http://127.0.0.1:{port}/"


def round_trips(p, url: str, tmp: Path) -> list[dict]:
    from PIL import Image
    rows = []
    for side in (256, 512):
        picture = tmp / f"photo_{side}.png"
        Image.open(PHOTO).convert("RGB").resize((side, side), Image.Resampling.LANCZOS).save(picture)
        for threads in (1, 2):
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"{url}?threads={threads}")
            page.wait_for_function("() => window.cyclegan && window.cyclegan.pageReady", timeout=60_000)
            data = list(picture.read_bytes())
            seconds = page.evaluate("""async ([bytes, n]) => {
                const file = new File([new Uint8Array(bytes)], 'photo.png', {type: 'image/png'});
                const out = [];
                for (let i = 0; i <= n; i++) {
                    const t = performance.now();
                    await window.cyclegan.translate(file, 'monet2photo', 'BtoA');
                    out.push((performance.now() - t) / 1000);
                }
                return out; }""", [data, 5])
            rows.append({"size": f"{side}x{side}", "threads": page.evaluate("window.cyclegan.ort.env.wasm.numThreads"),
                         "first_s": round(seconds[0], 2), "median_s": round(statistics.median(seconds[1:]), 2)})
            browser.close()
    return rows


def visits(p, url: str, profile: Path) -> list[dict]:
    rows = []
    for visit in ("first", "second"):
        context = p.chromium.launch_persistent_context(str(profile), executable_path="/usr/bin/chromium",
                                                       args=CHROMIUM_ARGS)
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        received = {"bytes": 0, "requests": 0, "cached": 0}

        def done(event):
            received["bytes"] += event.get("encodedDataLength", 0)
            received["requests"] += 1

        def response(event):
            if event["response"].get("fromDiskCache") or event["response"].get("fromMemoryCache"):
                received["cached"] += 1
        cdp.on("Network.loadingFinished", done)
        cdp.on("Network.responseReceived", response)
        cdp.on("Network.requestServedFromCache", lambda e: received.__setitem__("cached", received["cached"] + 1))
        t0 = time.perf_counter()
        page.goto(url)
        page.wait_for_function("() => window.cyclegan && window.cyclegan.pageReady", timeout=60_000)
        page.locator(".example").first.click()
        page.wait_for_function("() => !document.getElementById('stats').hidden", timeout=60_000)
        rows.append({"visit": visit, "network_kb": round(received["bytes"] / 1024), "requests": received["requests"],
                     "from_cache": received["cached"], "seconds_to_first_translation": round(time.perf_counter() - t0, 2)})
        context.close()
    return rows


def cpu_seconds(pid: int) -> float:
    import os
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu(p, mode: str, tmp: Path, n: int = 5) -> dict:
    import httpx
    port = free_port()
    env = {**__import__("os").environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
           "CYCLEGAN_WEB_CACHE": str(tmp / "web-cache")}
    app = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port), "--no-zoo",
                            "--client-inference", mode], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(600):
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(url)
        page.locator("#input-image").wait_for(timeout=60_000)
        times = []
        photos = sorted((ROOT / "examples").glob("photo_*.jpg"))
        for i in range(n + 1):  # the first one warms up (ONNX export on the server, runtime in the browser)
            before_src = page.evaluate("() => document.querySelector('#generated img')?.getAttribute('src') || ''")
            before = cpu_seconds(app.pid)
            page.locator("#input-image input[type=file]").set_input_files(str(photos[i % len(photos)]))
            page.wait_for_timeout(500)
            page.locator("#translate").click()
            page.wait_for_function(
                "(b) => { const s = document.querySelector('#generated img')?.getAttribute('src') || '';"
                " return s && s !== b && document.querySelector('#where')?.innerText.startsWith('Translated'); }",
                arg=before_src, timeout=60_000)
            page.wait_for_timeout(300)  # let the server finish what the result triggered
            if i:
                times.append(cpu_seconds(app.pid) - before)
        where = page.locator("#where").inner_text()
        browser.close()
    finally:
        app.terminate()
        app.wait(10)
    return {"client_inference": mode, "where": where, "server_cpu_s_per_translation": round(statistics.mean(times), 3)}


def main() -> int:
    from playwright.sync_api import sync_playwright
    from cyclegan.export import export_site
    tmp = Path(tempfile.mkdtemp(prefix="web-speed-"))
    site = export_site([ROOT / "checkpoints" / "monet2photo"], tmp / "site", ROOT / "examples")
    proc, url = serve_site(site)
    try:
        with sync_playwright() as p:
            trips = round_trips(p, url, tmp)
            visit_rows = visits(p, url, tmp / "profile")
            cpu = [server_cpu(p, mode, tmp) for mode in ("on", "off")]
    finally:
        proc.terminate()
    payload = {"hardware": hardware("cpu"), "command": "python -m benchmarks.web_speed",
               "time": time.strftime("%Y-%m-%d %H:%M"), "round_trips": trips, "visits": visit_rows, "server_cpu": cpu}
    print(f"# The browser's translation on {describe(payload['hardware'])}, headless Chromium\n")
    print(markdown_table(trips, [("size", "picture"), ("threads", "threads"), ("first_s", "first (s)"),
                                 ("median_s", "round trip, median of 5 (s)")]))
    print()
    print(markdown_table(visit_rows, [("visit", "visit"), ("network_kb", "over the network (kB)"),
                                      ("requests", "requests"), ("from_cache", "from the cache"),
                                      ("seconds_to_first_translation", "seconds to the first translation")]))
    print()
    print(markdown_table(cpu, [("client_inference", "--client-inference"), ("where", "the page says"),
                               ("server_cpu_s_per_translation", "server CPU s per translation")]))
    print(f"\nwrote {write_results('web_speed', payload, None)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
