"""Tests for cyclegan.sandbox and the decoder bounds of cyclegan.uploads: a stranger's picture is decoded in a child
process that is killed past its memory or time, and the costs that can be named (metadata, scans, pages) are
refused or read a bounded way before that."""
from __future__ import annotations

import io
import struct
import tracemalloc

import pytest
from PIL import Image, TiffImagePlugin

from cyclegan.errors import BadImage
from cyclegan.images import orientation, to_rgb
from cyclegan.decode import MAX_JPEG_SCANS, decode_image
from cyclegan.sandbox import Sandbox
from cyclegan.testing import encoded, exif_bomb, noise


@pytest.fixture(scope="module")
def sandbox():
    box = Sandbox(memory_bytes=256 * 1024 ** 2, seconds=5)
    yield box
    box.close()


def test_the_orientation_is_read_from_bounded_metadata():
    """A 2 MB PNG whose EXIF holds 400 tags that each point at the same 2 MB: Pillow's getexif would hold 800 MB; the
    orientation is read entry by entry from the first directory (here the last entry: turned 90°) with next to no
    memory."""
    data = encoded(noise(40, 20), "PNG", exif=exif_bomb())
    assert 2 * 1024 ** 2 < len(data) < 3 * 1024 ** 2
    image = Image.open(io.BytesIO(data))
    tracemalloc.start()
    try:
        assert orientation(image) == 6
        rgb = to_rgb(image)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rgb.size == (20, 40) and peak < 20 * 1024 ** 2, peak  # turned upright; the blob never copied 400 times


@pytest.mark.parametrize("raw", [b"", b"Exif\x00\x00", b"II*\x00\xff\xff\xff\xff", b"MM\x00*\x00\x00\x00\x08\xff\xff",
                                 b"II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x04\x00\x01\x00\x00\x00\x06\x00\x00\x00"])
def test_broken_or_odd_exif_reads_as_upright(raw):
    image = Image.new("RGB", (4, 2))
    image.info["exif"] = raw
    assert orientation(image) == 1


def test_a_jpeg_of_many_scans_is_refused_before_it_is_decoded():
    """A 1000-scan progressive JPEG (its last scan repeated) costs a pass over every coefficient per scan: refused
    by its scan count, in a few milliseconds, where decoding it takes seconds."""
    jpeg = encoded(noise(256, 256), "JPEG", progressive=True, quality=80)
    last = jpeg.rfind(b"\xff\xda")
    many = jpeg[:-2] + jpeg[last:-2] * 1000 + b"\xff\xd9"
    with pytest.raises(BadImage, match=r"too costly to decode: .* JPEG of 1,010 scans .*at most 32 scans"):
        decode_image(many, max_side=512)
    assert decode_image(jpeg, max_side=512).size == (256, 256)  # an ordinary progressive JPEG: 10 scans
    assert jpeg.count(b"\xff\xda") < MAX_JPEG_SCANS


def test_a_progressive_jpeg_counts_its_full_size_whatever_scale_it_is_drawn_at():
    """Baseline JPEGs decode at 1/8 scale for a small output; a progressive one keeps every coefficient of the whole
    picture first, so its pixel limit applies to its full size (a 13000² header: refused, never decoded)."""
    jpeg = bytearray(encoded(noise(64, 64), "JPEG", progressive=True))
    sof = jpeg.find(b"\xff\xc2")
    jpeg[sof + 5:sof + 9] = struct.pack(">HH", 13000, 13000)  # height, width
    with pytest.raises(BadImage, match="image too large: a progressive JPEG of 169,000,000 pixels"):
        decode_image(bytes(jpeg), max_side=512, max_pixels=30_000_000)


def test_a_tiff_of_many_pages_is_not_walked(monkeypatch):
    """Only the first page is read: nothing counts the pages (Pillow walks every directory to count them)."""
    pages = [Image.new("RGB", (8, 8), (i, 0, 0)) for i in range(50)]
    data = encoded(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    seeks = []
    original = TiffImagePlugin.TiffImageFile._seek
    monkeypatch.setattr(TiffImagePlugin.TiffImageFile, "_seek", lambda self, frame: seeks.append(frame) or
                        original(self, frame))
    assert decode_image(data, max_side=512).getpixel((0, 0)) == (0, 0, 0)
    assert max(seeks, default=0) == 0


def test_the_sandbox_decodes_as_decode_image_does(sandbox, tmp_path):
    picture = noise(300, 200, seed=1)
    path = tmp_path / "a picture.png"
    picture.save(path)
    for source in (path, path.read_bytes()):
        out = sandbox.decode(source, max_side=128, name="'a picture.png'")
        assert out.tobytes() == decode_image(source, max_side=128).tobytes()
    with pytest.raises(BadImage, match="not an image: cannot read 'notes.png'"):
        sandbox.decode(b"plain text", name="'notes.png'")
    pcx = encoded(noise(8, 8), "PCX")
    with pytest.raises(BadImage, match="not an image"):
        sandbox.decode(pcx)


def test_the_sandbox_kills_a_decode_past_its_memory_or_time(tmp_path):
    """Whatever a decoder does, the child is stopped at the bounds, with a line that says which; the next picture is
    decoded as usual."""
    big = encoded(Image.new("RGB", (6000, 5000), "white"), "PNG")  # 30 MP: ~90 MB decoded, 1 s or so
    small = Sandbox(memory_bytes=32 * 1024 ** 2, seconds=20)
    with pytest.raises(BadImage, match=r"too costly to decode: the upload needs more than 32.0 MB of memory"):
        small.decode(big, max_pixels=40_000_000)
    assert small.decode(encoded(noise(8, 8), "PNG")).size == (8, 8)
    small.close()
    quick = Sandbox(memory_bytes=512 * 1024 ** 2, seconds=0.05)
    with pytest.raises(BadImage, match=r"too costly to decode: the upload takes more than 0.05 s to decode"):
        quick.decode(big, max_pixels=40_000_000)
    quick.close()


def test_a_helper_that_dies_is_replaced(sandbox):
    from cyclegan.sandbox import HELPER
    sandbox.decode(encoded(noise(8, 8), "PNG"))
    HELPER.process.kill()
    HELPER.process.wait()
    assert sandbox.decode(encoded(noise(8, 8), "PNG")).size == (8, 8)
