"""Tests for cyclegan.uploads: size limits, decoding and the upload payloads the app's image input sends.

The files the app's API turns away (truncated, not an image, too large, ...) are tested end to end in
test_app.py; these are the unit tests, without gradio.
"""
from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cyclegan.images import triptych
from cyclegan.config import UploadLimits
from cyclegan.uploads import (NOT_AN_UPLOAD, BadImage, DiskBudget, confine, decode_image, decode_upload, disk_bytes,
                              fit, human_size, parse_size, save_triptych)


def noise(w: int, h: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_fit():
    assert fit(Image.new("RGB", (1024, 512)), 512).size == (512, 256)
    assert fit(Image.new("RGB", (300, 200)), 512).size == (300, 200)
    assert fit(Image.new("RGB", (5000, 3)), 512).size == (512, 1)
    assert fit(Image.new("RGB", (5000, 3)), 0).size == (5000, 3)  # 0: no limit


def test_parse_size_and_human_size():
    assert parse_size("20mb") == 20 * 1024**2 and parse_size("200kb") == 204800
    assert parse_size("1.5 MB") == int(1.5 * 1024**2) and parse_size(1000) == 1000
    with pytest.raises(ValueError):
        parse_size("lots")
    assert (human_size(12), human_size(200 * 1024), human_size(3 * 1024**2 // 2)) == ("12 bytes", "200 kB", "1.5 MB")


def test_decode_image_limits():
    with pytest.raises(BadImage, match="file too large"):
        decode_image(png_bytes(noise(8, 8)), max_bytes=10)
    with pytest.raises(BadImage, match="image too large: 20×10 = 200 pixels > limit of 100"):
        decode_image(png_bytes(noise(20, 10)), max_pixels=100)
    with pytest.raises(BadImage, match="empty file: the upload has 0 bytes"):
        decode_image(b"")
    assert decode_image(png_bytes(noise(6, 4))).size == (6, 4)


def test_decode_upload_payloads(tmp_path):
    # a data: URL (as some clients send pasted images) is decoded too
    url = "data:image/png;base64," + base64.b64encode(png_bytes(noise(5, 7))).decode()
    assert decode_upload({"url": url, "path": None}).size == (5, 7)
    with pytest.raises(BadImage, match="the data URL cannot be decoded"):
        decode_upload({"url": "data:image/png;base64", "path": None})
    noise(9, 3).save(tmp_path / "x.png")
    assert decode_upload(str(tmp_path / "x.png")).size == (9, 3)
    # the error names the file as the user called it, not Gradio's temporary copy
    (tmp_path / "upload.bin").write_text("hello")
    with pytest.raises(BadImage, match="not an image: cannot read 'cat.txt' as a picture"):
        decode_upload({"path": str(tmp_path / "upload.bin"), "orig_name": "cat.txt"})
    with pytest.raises(BadImage, match="file too large"):
        decode_upload(str(tmp_path / "x.png"), max_bytes=10)
    for nothing in (None, "", {"path": None, "url": None}):
        with pytest.raises(BadImage, match=r"^No image: upload, paste or take a picture first\.$"):
            decode_upload(nothing)


def test_save_triptych_writes_unique_files_and_prunes_old_ones(tmp_path):
    image = triptych(Image.new("RGB", (8, 6), "red"), Image.new("RGB", (8, 4), "blue"))
    assert image.size == (16, 6)
    old = tmp_path / "stale"
    old.mkdir()
    os.utime(old, (0, 0))  # older than max_age: removed by the next save
    first, second = (save_triptych(image, tmp_path, "cyclegan-x-AtoB") for _ in range(2))
    assert first != second and first.name == second.name == "cyclegan-x-AtoB.png"  # concurrent requests never clash
    assert Image.open(first).size == (16, 6)
    assert not old.exists()


def test_the_pixel_limit_is_the_apps_and_its_message_says_so():
    """A picture decodes to at most UploadLimits.max_pixels (30 MP); the message quotes that, also for a bomb past
    Pillow's own limit (178,956,970 pixels), whose figure the app does not set."""
    limit = UploadLimits().max_pixels
    with pytest.raises(BadImage, match=rf"^image too large: 6000×6000 = 36,000,000 pixels > limit of {limit:,} "):
        decode_image(png_bytes(Image.new("1", (6000, 6000))))
    with pytest.raises(BadImage, match=rf"^image too large: 196,000,000 pixels > limit of {limit:,} pixels"):
        decode_image(png_bytes(Image.new("1", (14000, 14000))))
    with pytest.raises(BadImage, match=r"limit of 100 pixels"):
        decode_image(png_bytes(noise(11, 10)), max_pixels=100)


def test_only_the_named_formats_are_opened(monkeypatch):
    """EPS, PS and PDF never reach a decoder (Ghostscript); nor does any format the app does not name."""
    from PIL import EpsImagePlugin
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *a, **k: pytest.fail("Ghostscript was called"))
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n%%EOF\n"
    for data in (eps, b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", png_bytes(noise(4, 4))[:0] + b"P6 4 4 255\n" + bytes(48)):
        with pytest.raises(BadImage, match=r"^not an image: .*\(PNG, JPEG, WebP, GIF, BMP, TIFF\)"):
            decode_image(data)


def test_a_big_jpeg_decodes_at_a_reduced_scale_and_a_big_picture_is_reduced_before_converting():
    buffer = io.BytesIO()
    noise(160, 120).resize((8000, 6000)).save(buffer, "JPEG", quality=50)  # 48 MP: over the limit at full size
    image = decode_image(buffer.getvalue(), max_side=512)
    assert image.size == (1000, 750)  # decoded at 1/8, still at least 512
    rgba = Image.new("RGBA", (4000, 3000), (255, 0, 0, 0))
    image = decode_image(png_bytes(rgba), max_side=512)
    assert image.size == (1334, 1000) and image.getpixel((0, 0)) == (255, 255, 255)  # reduced by 3, then on white


def test_16_bit_pictures_convert_without_a_wide_copy():
    sixteen = Image.fromarray(np.full((1500, 2000), 40000, np.uint16))
    tracemalloc.start()
    try:
        from cyclegan.images import to_rgb
        rgb = to_rgb(sixteen)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rgb.getpixel((0, 0)) == (156, 156, 156)  # 40000 / 65535 * 255
    assert peak < 3 * 2000 * 1500 + 8_000_000, peak  # the uint16 array and uint8 result, not an 8-byte-a-pixel copy


DECODE_PEAK = """
import ctypes, io
import numpy as np
from PIL import Image
from cyclegan.decode import decode_image
side, mode = 5400, {mode!r}  # 29.2 MP, just under the 30 MP limit
if mode == "P":  # a 3 kB file: a palette picture with transparency
    picture, kw = Image.new("P", (side, side)), dict(format="PNG", transparency=0)
elif mode == "I;16":
    picture, kw = Image.fromarray(np.full((side, side), 30000, np.uint16)), dict(format="PNG")
else:
    picture, kw = Image.fromarray(np.full((side, side), 0.5, np.float32)), dict(format="TIFF", compression="tiff_adobe_deflate")
buffer = io.BytesIO()
picture.save(buffer, **kw)
data = buffer.getvalue()
del picture, buffer
ctypes.CDLL("libc.so.6").malloc_trim(0)
base = int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024
open("/proc/self/clear_refs", "w").write("5")  # VmHWM from here
image = decode_image(data, max_side=512, max_pixels=30_000_000)
peak = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024
print(image.mode, image.size[0], image.size[1], round(peak - base))
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's VmHWM reset")
@pytest.mark.parametrize("mode, bound", [("P", 60), ("I;16", 90), ("F", 150)])
def test_a_picture_near_the_pixel_limit_costs_about_its_decoded_size(mode, bound):
    """A small file of 29 megapixels, in the modes Pillow cannot reduce (palette, 16-bit) and in float: decoded, then
    reduced a strip at a time, never converted whole (a palette one used to cost 600 MB and come back full size)."""
    code = DECODE_PEAK.format(mode=mode)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       cwd=Path(__file__).resolve().parents[1])
    assert r.returncode == 0, r.stderr[-2000:]
    got_mode, width, height, peak = r.stdout.split()
    assert (got_mode, int(width), int(height)) == ("RGB", 1080, 1080)
    assert int(peak) < bound, f"{mode}: {peak} MB over the decoded file's"


def test_confine_opens_only_files_inside_the_roots(tmp_path):
    uploads, elsewhere = tmp_path / "uploads", tmp_path / "elsewhere"
    (uploads / "sub").mkdir(parents=True)
    elsewhere.mkdir()
    inside, outside = uploads / "sub" / "a.png", elsewhere / "b.png"
    for path in (inside, outside):
        noise(4, 4).save(path)
    (uploads / "link.png").symlink_to(outside)
    assert confine(str(inside), [uploads.resolve()]) == inside.resolve()
    for path in (outside, uploads / "link.png", uploads / "missing.png", uploads / "sub", uploads / "sub" / ".." / ".."
                 / "elsewhere" / "b.png", "bad\0path", 42, ["a"]):
        with pytest.raises(BadImage) as e:
            confine(path, [uploads.resolve()])
        assert str(e.value) == NOT_AN_UPLOAD, path
    with pytest.raises(BadImage, match=NOT_AN_UPLOAD):
        decode_upload({"path": str(outside)}, [uploads.resolve()])
    assert decode_upload({"path": str(inside)}, [uploads.resolve()]).size == (4, 4)


def test_the_disk_budget_deletes_the_oldest_files_first_and_never_a_fresh_one(tmp_path):
    files = []
    for i, age in enumerate((5000, 4000, 3000, 2000, 10)):  # seconds old; 1 kB each
        path = tmp_path / f"d{i}" / "f.bin"
        path.parent.mkdir()
        path.write_bytes(bytes(1000))
        os.utime(path, (time.time() - age, time.time() - age))
        files.append(path)
    # Counted as the disk counts them: a 1 kB file takes a block (4 kB here), and each folder one too.
    block = disk_bytes(os.stat(files[0]))
    folders = sum(disk_bytes(os.stat(p.parent)) for p in files)
    assert block >= 1000 and DiskBudget(tmp_path, 1).used() == folders + 5 * block
    budget = DiskBudget(tmp_path, max_bytes=folders + 2.5 * block, min_age=60, every=0)
    assert budget.keep() == 3 * block  # down to two files: the three oldest go
    assert [p.exists() for p in files] == [False, False, False, True, True]
    assert DiskBudget(tmp_path, max_bytes=block, min_age=60, every=0).keep() == block  # the 10 s old one stays
    assert files[-1].exists()


def test_the_disk_budget_removes_the_folders_it_empties(tmp_path):
    """A request's results folder or an upload's folder, emptied by the budget, goes too (nothing piles up, nothing
    reads as a failed request's leftovers); a folder that still holds a file stays, and so does the budget's own."""
    def write(path, age):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(1000))
        os.utime(path, (time.time() - age, time.time() - age))
        return path
    old = [write(tmp_path / "results" / "a1" / "real.png", 900), write(tmp_path / "upload" / "h1" / "x" / "y.png", 800)]
    kept = [write(tmp_path / "results" / "a2" / "real.png", 30), write(tmp_path / "upload" / "h1" / "z.png", 10)]
    block = disk_bytes(os.stat(old[0]))
    assert DiskBudget(tmp_path, max_bytes=1000, min_age=60, every=0).keep() == 2 * block
    assert not any(p.exists() for p in old) and all(p.exists() for p in kept)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_dir()) == [
        "results", "results/a2", "upload", "upload/h1"]
    assert DiskBudget(tmp_path, max_bytes=0.5, min_age=0, every=0).keep() == 2 * block
    assert tmp_path.is_dir() and not any(tmp_path.iterdir())


def test_every_request_keeps_the_disk_budget_without_waiting_for_it(tmp_path):
    """Uploads alone (no translation) fill Gradio's temp folder: the app's middleware runs the budget on every
    request, in the background, at most every ``every`` seconds."""
    import asyncio
    from cyclegan.serve import IsolationMiddleware
    old = tmp_path / "upload" / "old.bin"
    old.parent.mkdir()
    old.write_bytes(bytes(2000))
    os.utime(old, (time.time() - 600, time.time() - 600))
    budget = DiskBudget(tmp_path, max_bytes=1000, min_age=60, every=30)

    async def gradio(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def ignore(message):
        pass
    app = IsolationMiddleware(gradio, on_request=budget.keep_soon)
    asyncio.run(app({"type": "http", "method": "POST", "path": "/gradio_api/upload", "headers": []}, receive, ignore))
    deadline = time.monotonic() + 10
    while old.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not old.exists()
    old.parent.mkdir()  # (gone with the file: the budget removes the folders it empties)
    old.write_bytes(bytes(2000))  # within 30 s of the last look: the next request leaves it to the next look
    os.utime(old, (time.time() - 600, time.time() - 600))
    asyncio.run(app({"type": "http", "method": "GET", "path": "/", "headers": []}, receive, ignore))
    time.sleep(0.3)
    assert old.exists()


def test_an_upload_is_admitted_only_if_the_folder_can_take_it(tmp_path):
    """The gate asks before an upload is written: room is made by deleting old files first; files younger than the
    minimum age are never deleted, so an upload that would pass the budget while they fill it is refused."""
    def write(name, age, size=100_000):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(size))
        os.utime(path, (time.time() - age, time.time() - age))
        return path
    old, young = write("upload/a/old.png", 600), write("upload/b/young.png", 5)
    budget = DiskBudget(tmp_path, max_bytes=DiskBudget(tmp_path, 1).used() + 50_000, min_age=60, every=30)
    assert budget.admit(40_000)  # fits beside both
    assert budget.admit(90_000) and not old.exists() and young.exists()  # the old file made room
    assert not budget.admit(10 ** 6) and young.exists()  # nothing old is left to delete: refused
    assert DiskBudget(tmp_path, 0).admit(10 ** 12)  # 0: no budget


def test_the_app_gets_a_temp_folder_of_its_own(tmp_path, monkeypatch):
    """The disk budget deletes inside the app's own folder only: cyclegan-app-PID inside Gradio's, which may be
    shared (/tmp/gradio). Folders of servers that are gone are removed; a live one's and everything else stay."""
    import subprocess
    from cyclegan.uploads import claim_temp_folder, gradio_temp
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    gone = subprocess.Popen(["true"])
    gone.wait()
    (tmp_path / f"cyclegan-app-{gone.pid}" / "x").mkdir(parents=True)
    (tmp_path / "cyclegan-app-1").mkdir()  # pid 1 is alive
    (tmp_path / "other-app").mkdir()  # another program's
    own = claim_temp_folder()
    assert own == tmp_path / f"cyclegan-app-{os.getpid()}" and own.is_dir() and gradio_temp() == own
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["cyclegan-app-1", "other-app", own.name])
    assert claim_temp_folder() == own  # once is enough
