"""The static site in Chromium (Playwright, Debian's Chromium): served on 127.0.0.1 by the documented command
`python -m cyclegan.serve SITE`, it translates an example with threads (cross-origin isolated), asks nothing of any
other host, gives the server's messages for bad files, and computes what Python's ONNX Runtime computes; served
by a host without isolation headers, its service worker still gives it threads."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cyclegan.config import UploadLimits
from cyclegan.export import export_site
from cyclegan.testing import CHROMIUM, CHROMIUM_ARGS, ROOT, free_port, make_tiny_model, record_external

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
if not Path(CHROMIUM).is_file():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)", allow_module_level=True)

MONET = ROOT / "checkpoints" / "monet2photo"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("site")
    # A second model from someone else, whose domain names are markup: the page must show them as text.
    hostile = make_tiny_model(tmp / "hostile", "hostile", '<img src=x onerror="window.pwned=1">', "<b>plum</b>")
    # A one-direction model: G_BA alone, as its manifest says (apple <- orange).
    gba = make_tiny_model(tmp / "gba", "gba", "apple", "orange")
    shutil.rmtree(gba / "G_AB")
    manifest = json.loads((gba / "manifest.json").read_text())
    (gba / "manifest.json").write_text(json.dumps({**manifest, "directions": ["BtoA"], "default_direction": "BtoA"}))
    folder = export_site([MONET, hostile, gba], tmp / "site", ROOT / "examples")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cyclegan.serve", str(folder), "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()  # "serving ... on http://127.0.0.1:PORT/"
    assert f"http://127.0.0.1:{port}/" in line, line
    bad = tmp / "bad"
    bad.mkdir()
    (bad / "notes.png").write_text("not an image")
    good = (ROOT / "examples" / "photo_coffee.jpg").read_bytes()
    (bad / "truncated.jpg").write_bytes(good[:len(good) // 3])
    Image.new("1", (20000, 20000)).save(bad / "huge.png")  # 400 megapixels, a small file
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display, as a phone's portrait photo
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (20, 40, 3), dtype=np.uint8)).save(
        bad / "exif_rotated.jpg", exif=exif)
    yield {"url": f"http://127.0.0.1:{port}/", "folder": folder, "bad": bad}
    proc.terminate()
    proc.wait(10)


def open_page(p, url, external):
    browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    record_external(page, external)
    page.goto(url)
    page.wait_for_function("() => window.cyclegan && window.cyclegan.pageReady", timeout=60_000)
    return browser, page


def test_the_static_site_translates_an_example_with_threads_and_no_other_host(site):
    """An example translated in the page, on threads, asking nothing of another host; Download saves the triptych
    the page made."""
    external: list[str] = []
    with sync_api.sync_playwright() as p:
        browser, page = open_page(p, site["url"], external)
        try:
            assert page.evaluate("crossOriginIsolated") is True
            assert page.evaluate("window.cyclegan.ort.env.wasm.numThreads") >= 1
            page.locator(".example").first.click()
            page.wait_for_function("() => !document.getElementById('stats').hidden", timeout=60_000)
            assert "ran in your browser" in page.locator("#where").inner_text()
            sizes = page.evaluate("() => ['real', 'generated', 'reconstructed'].map(id => "
                                  "[document.getElementById(id).naturalWidth, document.getElementById(id).naturalHeight])")
            assert sizes[0] == sizes[1] == sizes[2] and max(sizes[0]) == 512  # the example fitted to 512 px
            assert float(page.locator("#psnr").inner_text()) > 10
            with page.expect_download(timeout=15_000) as download:  # the triptych, made in the page
                page.locator("#download").click()
            download.value.save_as(site["folder"].parent / "triptych.png")
            assert Image.open(site["folder"].parent / "triptych.png").size == (3 * sizes[0][0], sizes[0][1])
        finally:
            browser.close()
    assert external == [], f"the page fetched from outside 127.0.0.1: {external}"


def test_bad_files_get_the_servers_messages_and_the_page_keeps_working(site):
    with sync_api.sync_playwright() as p:
        browser, page = open_page(p, site["url"], [])
        try:
            for name, message in (("notes.png", "Not an image: cannot read 'notes.png' as a picture"),
                                  ("truncated.jpg", "Corrupted or truncated image"),
                                  ("huge.png", "Image too large: 20000×20000 = 400,000,000 pixels > limit of "
                                               f"{UploadLimits().max_pixels:,} pixels (decompression bomb protection)")):
                page.locator("#file").set_input_files(str(site["bad"] / name))
                page.locator("#translate").click()
                page.wait_for_function("() => !document.getElementById('error').hidden", timeout=30_000)
                assert page.locator("#error").inner_text().startswith(message), name
            page.locator("#file").set_input_files(str(site["bad"] / "exif_rotated.jpg"))  # a good file: EXIF applied
            page.locator("#translate").click()
            page.wait_for_function("() => document.getElementById('error').hidden && "
                                   "!document.getElementById('stats').hidden", timeout=60_000)
            assert page.evaluate("[document.getElementById('real').naturalWidth, "
                                 "document.getElementById('real').naturalHeight]") == [20, 40]  # as the server shows it
        finally:
            browser.close()


def test_the_browsers_output_matches_python_onnxruntime(site):
    """The example photos (at 128 px, to keep the test short) through both generators: within 2 levels of 255 of
    Python's ONNX Runtime on the same files on at least 99.9 % of the values."""
    import onnxruntime as ort
    models = site["folder"] / "models" / "monet2photo"
    photos = sorted((ROOT / "examples").glob("photo_*.jpg"))
    with sync_api.sync_playwright() as p:
        browser, page = open_page(p, site["url"], [])
        try:
            for direction, onnx_file in (("BtoA", "G_BA.onnx"), ("AtoB", "G_AB.onnx")):
                session = ort.InferenceSession(str(models / onnx_file), providers=["CPUExecutionProvider"])
                for photo in photos:
                    im = Image.open(photo).convert("RGB").resize((128, 96))
                    x = (np.asarray(im, np.float32).transpose(2, 0, 1) / 127.5 - 1)[None]
                    expected = session.run(None, {"input": x})[0][0]
                    got = np.array(page.evaluate(
                        "async ([d, x]) => Array.from(await window.cyclegan.run('monet2photo', d, "
                        "Float32Array.from(x), 96, 128))", [direction, x.ravel().tolist()]), np.float32)
                    levels = lambda y: np.round((np.clip(y, -1, 1) + 1) * 127.5)  # noqa: E731
                    diff = np.abs(levels(got) - levels(expected.ravel()))
                    assert (diff <= 2).mean() >= 0.999 and diff.max() <= 8, (photo.name, direction, diff.max())
        finally:
            browser.close()


def test_a_models_names_are_shown_as_text_never_run(site):
    with sync_api.sync_playwright() as p:
        browser, page = open_page(p, site["url"], [])
        try:
            page.locator("#model").select_option("hostile")
            labels = page.locator("#direction label").all_inner_texts()
            assert labels[0].strip() == '<img src=x onerror="window.pwned=1"> → <b>plum</b>', labels
            assert page.locator("#direction img, #direction b, #model img").count() == 0
            assert page.evaluate("window.pwned") is None
        finally:
            browser.close()


def test_a_one_direction_model_reads_the_way_it_translates(site):
    """A model with G_BA alone: the picture's and the camera's model lists say orange → apple (never ↔), each
    offers that one direction, and a picture translated with it has no reconstruction."""
    with sync_api.sync_playwright() as p:
        browser, page = open_page(p, site["url"], [])
        try:
            assert page.locator("#model option[value=gba]").inner_text() == "gba (orange → apple)"
            assert "monet2photo (Monet painting ↔ photo)" == page.locator("#model option").first.inner_text()
            page.locator("#model").select_option("gba")
            assert [t.strip() for t in page.locator("#direction label").all_inner_texts()] == ["orange → apple"]
            assert page.locator("#rec-label").inner_text() == "Reconstructed (none: one direction)"
            camera = "select[aria-label='Camera model']"
            assert page.locator(f"{camera} option[value=gba]").inner_text() == "gba (orange → apple)"
            page.locator(camera).select_option("gba")
            assert page.locator("select[aria-label='Camera direction'] option").all_inner_texts() == ["orange → apple"]
            page.locator("#file").set_input_files(str(site["bad"] / "exif_rotated.jpg"))
            page.locator("#translate").click()
            page.wait_for_function("() => !document.getElementById('stats').hidden", timeout=60_000)
            assert page.locator("#psnr").inner_text() == "–"
            assert page.evaluate("document.getElementById('reconstructed').getAttribute('src')") == ""
        finally:
            browser.close()


def test_a_host_without_isolation_headers_still_gives_the_page_threads(site):
    """`python -m http.server` sends no COOP/COEP: the page's service worker adds them and reloads once, and the
    page is cross-origin isolated, translates on 2 threads, and asks no host but 127.0.0.1."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "--directory", str(site["folder"])], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    external: list[str] = []
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                record_external(page, external)
                for _ in range(50):  # the server answers once it has started
                    try:
                        page.goto(f"http://127.0.0.1:{port}/")
                        break
                    except sync_api.Error:
                        time.sleep(0.2)
                page.wait_for_function("() => crossOriginIsolated && window.cyclegan && window.cyclegan.pageReady",
                                       timeout=60_000)
                assert page.evaluate("navigator.serviceWorker.controller !== null")
                threads = page.evaluate("window.cyclegan.ort.env.wasm.numThreads")
                assert threads == min(4, page.evaluate("navigator.hardwareConcurrency")) >= 2  # 2 on this machine
                assert page.locator("#status").inner_text() == f"Ready: {threads} threads."
                page.locator(".example").first.click()
                page.wait_for_function("() => !document.getElementById('stats').hidden", timeout=60_000)
                assert f"ran in your browser ({threads} threads)" in page.locator("#where").inner_text()
            finally:
                browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
    assert external == [], f"the page fetched from outside 127.0.0.1: {external}"


def test_inside_a_frame_of_a_page_that_is_not_isolated_it_runs_on_one_thread_and_says_so(site):
    """No service worker can isolate a frame whose parent is not isolated: the page reloads at most once, then
    runs on one thread, says so, and still translates."""
    port = free_port()
    (site["folder"] / "parent.html").write_text('<!doctype html><title>a page that embeds the site</title>'
                                                '<iframe id="site" src="index.html" width="1200" height="850"></iframe>')
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "--directory", str(site["folder"])], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                loads: list[str] = []
                page.on("request", lambda r: loads.append(r.url) if r.url.endswith("/index.html") else None)
                for _ in range(50):  # the server answers once it has started
                    try:
                        page.goto(f"http://127.0.0.1:{port}/parent.html")
                        break
                    except sync_api.Error:
                        time.sleep(0.2)
                frame = page.frame_locator("#site")
                frame.locator("#status").filter(has_text="Ready").wait_for(timeout=60_000)
                inner = next(f for f in page.frames if f.url.endswith("/index.html"))
                assert inner.evaluate("crossOriginIsolated") is False
                assert inner.evaluate("window.cyclegan.ort.env.wasm.numThreads") == 1
                assert frame.locator("#status").inner_text() == ("Ready: 1 thread (the page is not cross-origin "
                                                                "isolated here, so it runs on one thread).")
                assert 1 <= len(loads) <= 2, loads  # the first load, and at most the one reload
                frame.locator(".example").first.click()
                inner.wait_for_function("() => !document.getElementById('stats').hidden", timeout=60_000)
                assert "ran in your browser (1 thread)" in frame.locator("#where").inner_text()
            finally:
                browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
        (site["folder"] / "parent.html").unlink()
