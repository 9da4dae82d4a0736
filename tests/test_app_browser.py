"""A real-browser test of app.py: Playwright drives Debian's Chromium (no `playwright install`).

It opens the page, uploads an image, picks a direction, clicks Translate, checks that the three output
images and the Real | Generated compare slider appear, clicks an example, and saves a screenshot to
artifacts/app_browser.png. The page must not
request anything outside 127.0.0.1 (the app works offline).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cyclegan.testing import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, AppServer, free_port, make_tiny_model, record_external

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
if not Path(CHROMIUM).is_file():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)", allow_module_level=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("app-browser")
    make_tiny_model(tmp / "checkpoints" / "tiny", "tiny", "apple", "orange")
    make_tiny_model(tmp / "checkpoints" / "x-pear", "x-pear", "pear", "plum")  # listed second
    examples = tmp / "examples"
    examples.mkdir()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)).save(examples / "noise.png")
    (examples / "examples.json").write_text(json.dumps([{"file": "noise.png", "model": "x-pear", "direction": "BtoA"},
                                                        {"file": "noise.png", "model": "tiny", "direction": "BtoA"}]))
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp / "hf-home"), "CYCLEGAN_ZOO_DIR": str(tmp / "zoo"),
           "CYCLEGAN_ZOO_URL": f"http://127.0.0.1:{free_port()}", "GRADIO_EXAMPLES_CACHE": str(tmp / "ex-cache"),
           "GRADIO_TEMP_DIR": str(tmp / "gradio")}
    args = ["--checkpoints", str(tmp / "checkpoints"), "--examples", str(examples), "--max-side", "96",
            "--threads", "1"]
    srv = AppServer(args, env, tmp / "server.log")
    srv.bad = tmp / "bad.png"
    srv.bad.write_bytes(b"not an image")
    srv.upload = tmp / "upload.png"
    Image.fromarray(rng.integers(0, 256, (60, 120, 3), dtype=np.uint8)).save(srv.upload)
    yield srv
    srv.close()


def image_src(page, elem_id: str) -> str | None:
    img = page.locator(f"#{elem_id} img")
    return img.first.get_attribute("src") if img.count() else None


def test_upload_translate_and_example_in_chromium(server):
    external: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            record_external(page, external)
            page.goto(server.url)
            page.locator("#input-image input[type=file]").set_input_files(str(server.upload))
            page.locator("#input-image img").first.wait_for(timeout=15_000)
            page.locator("#direction").get_by_text("orange → apple").click()
            assert page.locator("#direction input[value=BtoA]").is_checked()
            page.locator("#translate").click()
            for elem_id in ("real", "generated", "reconstructed"):
                page.locator(f"#{elem_id} img").first.wait_for(timeout=30_000)
            assert float(page.locator("#psnr input").input_value()) > 0
            seconds = float(page.locator("#seconds input").input_value())
            assert 0 <= seconds < 30
            sizes = page.evaluate("""() => ['real', 'generated', 'reconstructed'].map(id => {
                const img = document.querySelector('#' + id + ' img');
                return [img.naturalWidth, img.naturalHeight]; })""")
            assert sizes == [[96, 48]] * 3  # 120x60 with the long side limited to 96
            # the compare slider beside them: Real and Generated, one over the other, split by a draggable handle
            page.wait_for_function("() => document.querySelectorAll('#compare img').length === 2", timeout=10_000)
            compare = page.evaluate("""() => [...document.querySelectorAll('#compare img')].map(
                img => [img.naturalWidth, img.naturalHeight, img.getAttribute('src')])""")
            assert [size for *size, _ in compare] == [[96, 48]] * 2 and compare[0][2] != compare[1][2]
            assert page.locator("#compare").get_by_text("Real ↔ Generated").is_visible()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = ARTIFACTS / "app_browser.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")

            # an example: its model and direction are set, and its (lazily cached) outputs appear
            before = image_src(page, "generated")
            page.locator("#direction").get_by_text("apple → orange").click()
            page.get_by_role("row").filter(has=page.locator("img")).last.click()
            page.wait_for_function(
                "before => { const img = document.querySelector('#generated img');"
                " return img && img.getAttribute('src') !== before; }", arg=before, timeout=30_000)
            assert page.locator("#direction input[value=BtoA]").is_checked()
            page.wait_for_function("() => document.querySelector('#real img').naturalWidth === 60", timeout=10_000)
            # the slider follows the example's result
            page.wait_for_function("() => [...document.querySelectorAll('#compare img')].every("
                                   "img => img.naturalWidth === 60)", timeout=10_000)
        finally:
            browser.close()
    assert external == [], f"the page fetched from outside 127.0.0.1: {external}"


def test_examples_errors_and_empty_results_in_chromium(server):
    """Each example row names its own model's direction; no 0 s or 0 dB shows before a result; an error shows one
    toast and one badge, and clears the previous result."""
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(server.url)
            rows = page.get_by_role("row").filter(has=page.locator("img"))
            rows.first.wait_for(timeout=15_000)
            texts = rows.all_inner_texts()
            assert len(texts) == 2 and "orange → apple" in texts[0] and "plum → pear" in texts[1], texts
            assert not page.locator("#seconds").is_visible() and not page.locator("#psnr").is_visible()
            page.locator("#input-image input[type=file]").set_input_files(str(server.upload))
            page.locator("#input-image img").first.wait_for(timeout=15_000)
            page.locator("#translate").click()
            page.locator("#seconds input").wait_for(timeout=30_000)  # shown with the first result
            assert page.locator("#real img").count() == 1

            # a failure clears the previous result, so that it does not pass for this attempt's
            page.locator("#input-image input[type=file]").set_input_files(str(server.bad))
            toasts = page.locator('[data-testid="toast-close"]')
            for _ in range(2):  # a second failed attempt replaces the first one's toast
                page.locator("#translate").click()
                page.wait_for_timeout(1500)
                toasts.first.wait_for(timeout=15_000)
            assert toasts.count() == 1
            assert "Not an image" in page.locator(".toast-body").first.inner_text()
            badges = {elem_id: page.locator(f"#{elem_id}").get_by_text("Error", exact=True).count()
                      for elem_id in ("real", "generated", "reconstructed")}
            assert badges == {"real": 0, "generated": 1, "reconstructed": 0}
            assert not page.locator("#seconds").is_visible() and page.locator("#real img").count() == 0
            assert page.locator("#compare img").count() == 0  # the slider is cleared too
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "app_browser_error.png"), full_page=True)
        finally:
            browser.close()


def test_video_tab_translates_a_clip_that_plays_in_chromium(server, tmp_path):
    """The Video tab: upload a generated clip, translate it, and the result is a <video> that the browser can play
    (it reports the clip's duration). A text file named .mp4 gets an error toast (Gradio's own "Video not
    playable", or ours if it reaches the server; test_app.py checks ours), and the next clip still works."""
    from cyclegan.testing import write_video
    rng = np.random.default_rng(2)
    clip = write_video(tmp_path / "clip.mp4", (rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(24)),
                       12, tone_hz=440)
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    external: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            record_external(page, external)
            page.goto(server.url)
            page.locator("#input-image").wait_for(timeout=30_000)  # the page is built
            page.get_by_role("tab", name="Video").click()
            page.locator("#input-video").wait_for(timeout=30_000)
            page.locator("#input-video input[type=file]").set_input_files(str(bad))
            page.locator("#translate-video").click()
            page.locator(".toast-body").first.wait_for(timeout=30_000)
            message = page.locator(".toast-body").first.inner_text()
            assert "Video not playable" in message or "Not a video" in message, message
            page.locator('[data-testid="toast-close"]').first.click()
            clear_input(page, "#input-video")
            page.locator("#input-video input[type=file]").set_input_files(str(clip))
            page.locator("#input-video video").first.wait_for(timeout=15_000)
            page.locator("#translate-video").click()
            page.locator("#output-video video").first.wait_for(timeout=60_000)
            duration = page.wait_for_function(
                "() => { const v = document.querySelector('#output-video video');"
                " return v && isFinite(v.duration) && v.duration > 0 ? v.duration : null; }", timeout=30_000
            ).json_value()
            assert abs(duration - 2.0) < 0.2, duration  # 24 frames at 12 fps
            assert "24 frames at 64×48" in page.locator("#video-status").inner_text()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "app_browser_video.png"), full_page=True)
        finally:
            browser.close()
    assert external == [], f"the page fetched from outside 127.0.0.1: {external}"


def clear_input(page, component: str) -> None:
    """Empty a file input that holds a refused file, acting only on what the page shows: the file may still sit
    in it (a Clear button, sometimes two while its player is being built: the one that works depends on the
    moment) or already be dropped (an empty upload field)."""
    upload, clear = f"{component} input[type=file]", f"{component} button[aria-label='Clear']"
    for attempt in range(4):
        page.wait_for_function(f"() => document.querySelector({upload!r}) || document.querySelector({clear!r})",
                               timeout=30_000)
        if page.locator(upload).count():
            return
        buttons = page.locator(clear)
        buttons.nth(attempt % buttons.count()).click()
        try:
            page.locator(upload).wait_for(state="attached", timeout=5_000)
            return
        except sync_api.TimeoutError:
            continue
    raise AssertionError(f"{component} still holds the refused file after 4 clicks on Clear")


def translate_upload(page, path):
    page.locator("#input-image input[type=file]").set_input_files(str(path))
    page.locator("#input-image img").first.wait_for(timeout=15_000)
    page.locator("#translate").click()
    for elem_id in ("real", "generated", "reconstructed"):
        page.locator(f"#{elem_id} img").first.wait_for(timeout=60_000)
    page.wait_for_function("() => (document.querySelector('#where') || {}).innerText?.startsWith('Translated')",
                           timeout=60_000)


def translation_fns(url: str) -> set[int]:
    """The ids of the app's server-side translations: the /translate API and the page's server path."""
    import httpx
    config = httpx.get(url + "/config").json()
    buttons = {c["id"] for c in config["components"]
               if c.get("props", {}).get("elem_id") in ("translate-server", "translate-api")}
    return {d["id"] for d in config["dependencies"]
            if d.get("api_name") == "translate" or any(t[0] in buttons for t in d.get("targets", []))}


def test_client_inference_translates_in_the_browser_and_never_calls_the_server(server, tmp_path):
    """--client-inference auto (the default, on a CPU): the page is cross-origin isolated, the browser translates
    (an upload and an example), no server translation runs, and Download builds the triptych in the page."""
    translations = translation_fns(server.url)
    calls: list[int] = []

    def on_request(r):
        if "/queue/join" in r.url:
            calls.append(json.loads(r.post_data or "{}").get("fn_index"))
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
            page.goto(server.url)
            page.wait_for_function("() => window.cycleganApp !== undefined", timeout=30_000)
            assert page.evaluate("crossOriginIsolated") is True
            page.on("request", on_request)
            translate_upload(page, server.upload)
            assert page.locator("#where").inner_text().startswith("Translated in your browser")
            assert float(page.locator("#psnr input").input_value()) > 0
            page.wait_for_function("() => [...document.querySelectorAll('#compare img')].length === 2 && "
                                   "[...document.querySelectorAll('#compare img')].every(i => i.naturalWidth === 96)",
                                   timeout=10_000)
            with page.expect_download(timeout=15_000) as download:
                page.locator("#download").click()
            saved = tmp_path / "triptych.png"
            download.value.save_as(saved)
            assert Image.open(saved).size == (3 * 96, 48)
            assert calls == [] and page.evaluate("window.cycleganApp.serverRuns") == 0  # not even a queue call
            # an example: its inputs come from the server (Gradio's example loader), the translation from the page
            page.get_by_role("row").filter(has=page.locator("img")).last.click()
            page.wait_for_function("() => document.querySelector('#real img')?.naturalWidth === 60", timeout=30_000)
            page.wait_for_function("() => document.querySelector('#where')?.innerText.startsWith('Translated in your')",
                                   timeout=30_000)
            assert translations and not translations & set(calls), (translations, calls)
            assert page.evaluate("window.cycleganApp.serverRuns") == 0
        finally:
            browser.close()


BREAKAGES = {  # how the page's runtime is kept from working, and what the page then says of it
    "no WebAssembly": (lambda page: page.add_init_script("delete window.WebAssembly"),
                       "could not translate this picture (this browser has no WebAssembly)"),
    "a runtime that never arrives": (lambda page: page.route("**/*.wasm", lambda route: None),  # never answered
                                     "no answer within 8 s"),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_when_the_browser_cannot_the_server_answers_and_the_page_says_why(server, breakage):
    """No WebAssembly, or a runtime held back for longer than the page waits (8 s): the server translates."""
    prepare, note = BREAKAGES[breakage]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            prepare(page)
            page.goto(server.url)
            page.wait_for_function("() => window.cycleganApp !== undefined", timeout=30_000)
            translate_upload(page, server.upload)
            assert page.locator("#where").inner_text() == "Translated on the server."
            assert note in page.locator("#client-note").inner_text()
            assert page.evaluate("window.cycleganApp.serverRuns") == 1
            assert float(page.locator("#psnr input").input_value()) > 0
        finally:
            browser.close()


def test_client_inference_off_translates_on_the_server(tmp_path):
    make_tiny_model(tmp_path / "checkpoints" / "tiny", "tiny", "apple", "orange")
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home"), "GRADIO_TEMP_DIR": str(tmp_path / "gradio"),
           "CYCLEGAN_ZOO_DIR": str(tmp_path / "zoo"), "CYCLEGAN_ZOO_URL": f"http://127.0.0.1:{free_port()}"}
    srv = AppServer(["--checkpoints", str(tmp_path / "checkpoints"), "--examples", str(tmp_path / "none"),
                     "--max-side", "96", "--threads", "1", "--client-inference", "off", "--no-zoo"], env,
                    tmp_path / "server.log")
    upload = tmp_path / "upload.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (60, 120, 3), dtype=np.uint8)).save(upload)
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
                page.goto(srv.url)
                translate_upload(page, upload)
                assert page.locator("#where").inner_text() == "Translated on the server."
                assert page.evaluate("window.cycleganApp === undefined")  # the page's script is not even loaded
                with page.expect_download(timeout=15_000) as download:
                    page.locator("#download").click()  # the server builds the triptych now
                saved = tmp_path / "triptych.png"
                download.value.save_as(saved)
                assert Image.open(saved).size == (3 * 96, 48)
            finally:
                browser.close()
    finally:
        srv.close()


def test_the_camera_tab_translates_the_camera_on_the_device(server, tmp_path):
    """The app's Camera tab: the page's script builds the camera there, and a fake camera's frames are translated
    in the browser (tests/test_camera_browser.py checks the camera itself, on the static site)."""
    from cyclegan.testing import write_y4m
    rng = np.random.default_rng(3)
    clip = write_y4m(tmp_path / "cam.y4m", (rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(10)))
    external: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            *CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={clip}"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            record_external(page, external)
            page.goto(server.url)
            page.locator("#input-image").wait_for(timeout=30_000)
            page.get_by_role("tab", name="Camera").click()
            page.locator("#cyclegan-camera .camera-start").wait_for(timeout=30_000)
            page.locator("#cyclegan-camera .camera-start").click()
            page.wait_for_function("() => window.cycleganCamera && window.cycleganCamera.shown >= 3", timeout=60_000)
            assert "frames/s" in page.locator("#cyclegan-camera .camera-fps").inner_text()
            assert page.locator("#cyclegan-camera .camera-status").inner_text().startswith("Live, on your device")
        finally:
            browser.close()
    assert external == [], f"the page fetched from outside 127.0.0.1: {external}"
