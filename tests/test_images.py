"""Tests for cyclegan.images: any picture as RGB, PIL <-> tensor conversion and triptychs."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from cyclegan.images import load_image, to_pil, to_rgb, to_tensor, triptych


def test_tensor_round_trip_is_exact_and_in_model_range():
    pixels = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    x = to_tensor(Image.fromarray(pixels))
    assert x.shape == (1, 3, 5, 7) and x.min() >= -1 and x.max() <= 1
    assert np.array_equal(np.asarray(to_pil(x)), pixels)
    assert np.asarray(to_pil(torch.full((1, 3, 2, 2), 3.0)))[0, 0].tolist() == [255, 255, 255]  # clamped


def test_triptych_puts_images_side_by_side_on_white():
    image = triptych(Image.new("RGB", (4, 6), "red"), Image.new("RGB", (3, 2), "blue"))
    assert image.size == (7, 6)
    assert image.getpixel((0, 5)) == (255, 0, 0) and image.getpixel((4, 0)) == (0, 0, 255)
    assert image.getpixel((4, 5)) == (255, 255, 255)  # below the shorter image


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "L", "1", "CMYK", "I;16", "I", "F"])
def test_any_mode_becomes_rgb(mode):
    assert to_rgb(Image.new(mode, (5, 3))).mode == "RGB"


def test_transparency_goes_on_white_and_16_bit_scales():
    rgba = Image.new("RGBA", (2, 2), (255, 0, 0, 0))
    assert to_rgb(rgba).getpixel((0, 0)) == (255, 255, 255)
    sixteen = Image.fromarray(np.full((2, 2), 65535, np.uint16))
    assert to_rgb(sixteen).getpixel((0, 0)) == (255, 255, 255)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (8, 4), (255, 0, 0))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    image.save(tmp_path / "r.jpg", exif=exif)
    assert load_image(tmp_path / "r.jpg").size == (4, 8)


def test_an_upright_rgb_picture_is_converted_once():
    """The app decodes an upload to RGB and Translator converts again: the second time costs nothing."""
    image = Image.new("RGB", (4, 3), (1, 2, 3))
    assert to_rgb(image) is image
    exif = image.getexif()
    exif[0x0112] = 6  # but one that is to be turned is turned
    buf = io.BytesIO()
    image.save(buf, "JPEG", exif=exif)
    assert to_rgb(Image.open(buf)).size == (3, 4)


@pytest.mark.parametrize("mode,peak", [("I;16", 65535), ("I", 65535), ("F", 65535.0), ("F", 255.0)])
def test_deep_grayscale_scales_to_8_bits(mode, peak):
    array = np.array([[0, peak * 128 / 255, peak]], dtype={"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode])
    image = Image.fromarray(array, mode) if mode != "I;16" else Image.fromarray(array)
    assert [to_rgb(image).getpixel((x, 0))[0] for x in range(3)] == [0, 128, 255]


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "F", "P", "PT", "1", "I;16"])
def test_reduced_is_the_box_reduce_of_what_to_rgb_would_make(mode):
    """Strip by strip, and for the modes Pillow cannot reduce after the conversion to_rgb would make: the same
    pixels as reducing the whole converted picture (odd sizes: the last strip and block are partial)."""
    from cyclegan.images import reduced
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (1037, 1501, 3), dtype=np.uint8), "RGB")
    if mode == "RGBA":
        image = Image.fromarray(rng.integers(0, 256, (1037, 1501, 4), dtype=np.uint8), "RGBA")
    elif mode in ("P", "PT"):
        image = rgb.quantize(64)
        if mode == "PT":
            image.info["transparency"] = 3
    elif mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65536, (1037, 1501), dtype=np.uint16))
    else:
        image = rgb.convert(mode)
    image.info["comment"] = b"kept"
    out = reduced(image, 3)
    expected = {"PT": lambda: image.convert("RGBA").reduce(3),  # transparency: reduced, then on white (as RGBA is)
                "P": lambda: to_rgb(image).reduce(3), "I;16": lambda: to_rgb(image).reduce(3),
                "1": lambda: image.convert("L").reduce(3)}.get(mode, lambda: image.reduce(3))()
    assert out.size == (501, 346) and out.info.get("comment") == b"kept"
    assert np.array_equal(np.asarray(to_rgb(out)), np.asarray(to_rgb(expected))), mode
