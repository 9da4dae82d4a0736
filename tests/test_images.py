"""Tests for cyclegan.images: PIL <-> tensor conversion and triptychs."""
import numpy as np
import torch
from PIL import Image

from cyclegan.images import to_pil, to_tensor, triptych


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
