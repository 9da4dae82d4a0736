"""Tests for cyclegan.uploads: size limits, decoding and the upload payloads the app's image input sends.

The files the app's API turns away (truncated, not an image, too large, ...) are tested end to end in
test_app.py; these are the unit tests, without gradio.
"""
from __future__ import annotations

import base64
import io
import os

import numpy as np
import pytest
from PIL import Image

from cyclegan.images import triptych
from cyclegan.uploads import BadImage, decode_image, decode_upload, fit, human_size, parse_size, save_triptych


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
