"""Pictures: the image files of a folder, files and PIL images as 8-bit RGB, PIL RGB <-> 1x3xHxW tensors in
[-1, 1], and triptychs.

Imports no torch (the two tensor functions do, when called): the server decodes a stranger's picture in a child
process (``cyclegan.sandbox``) that has only Pillow and NumPy.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from .errors import DataError

if TYPE_CHECKING:
    import torch

ORIENTATION = 0x0112  # the EXIF tag that says how a photo is to be turned for display
# The turn for each orientation value (as ImageOps.exif_transpose has it); 1 is upright.
TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
             5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
             8: Image.Transpose.ROTATE_90}

# The reference's extensions (.jpg .jpeg .png .ppm .bmp .tif .tiff, any case), plus .webp.
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".ppm", ".tif", ".tiff"}
# Named like a video: the translate command sends these to translate_video (here, not in cyclegan.video, so that
# telling them apart needs no PyAV).
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".mpg", ".mpeg", ".ogv", ".3gp")


def is_video(path: str | Path) -> bool:
    """Whether ``path`` is named like a video file."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def list_images(folder: str | Path, skipped: list[tuple[Path, str]] | None = None) -> list[Path]:
    """The image files in ``folder`` and its subfolders, sorted by path; a clear error if there are none.

    Like the reference's ``make_dataset`` this walks subfolders (without following symlinked folders, so
    a link loop cannot hang it), but hidden files and folders (``.name``) are skipped: they are tool
    debris such as macOS ``._photo.jpg`` resource forks or ``.ipynb_checkpoints/``, not training data.
    Pass a list as ``skipped`` to have every entry passed over appended to it as (path, why), for telling
    the user what was left out.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"folder not found: {folder}")
    files, left_out = [], []
    for root, dirs, names in os.walk(folder):
        left_out += [(Path(root) / d, "hidden folder, not searched") for d in sorted(dirs) if d.startswith(".")]
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # pruned in place: os.walk does not descend
        for name in sorted(names):
            path = Path(root) / name
            if name.startswith("."):
                left_out.append((path, "hidden file"))
            elif not path.is_file():  # dangling links and odd entries
                left_out.append((path, "not a file"))
            elif path.suffix.lower() not in IMAGE_EXTENSIONS:
                left_out.append((path, f"not an image type ({path.suffix or 'no extension'}; "
                                       f"reads {', '.join(sorted(IMAGE_EXTENSIONS))})"))
            else:
                files.append(path)
    files.sort()
    if skipped is not None:
        skipped += left_out
    if not files:
        raise DataError(f"no images in {folder} or its subfolders "
                        f"(looked for {', '.join(sorted(IMAGE_EXTENSIONS))})")
    return files


def orientation(image: Image.Image) -> int:
    """The EXIF orientation of ``image`` (1 to 8; 1, upright, when it has none), read from the first directory of its
    EXIF block alone, an entry at a time, so that the work is bounded by that directory's entry count whatever the
    rest of the block holds (Pillow's ``getexif`` materialises every tag: a 2 MB PNG of 400 tags that each point at
    the same 2 MB cost 800 MB). A TIFF's orientation is one of its own tags, which Pillow read when it opened it."""
    if image.format == "TIFF":
        value = getattr(image, "tag_v2", {}).get(ORIENTATION, 1)
        return value if isinstance(value, int) and value in range(1, 9) else 1
    raw = image.info.get("exif")
    if not isinstance(raw, bytes):
        return 1
    if raw.startswith(b"Exif\x00\x00"):
        raw = raw[6:]
    order = {b"II": "<", b"MM": ">"}.get(raw[:2])
    if order is None or len(raw) < 8:
        return 1
    (ifd,) = struct.unpack_from(order + "I", raw, 4)
    if ifd + 2 > len(raw):
        return 1
    (entries,) = struct.unpack_from(order + "H", raw, ifd)
    for i in range(min(entries, (len(raw) - ifd - 2) // 12)):
        tag, kind, count = struct.unpack_from(order + "HHI", raw, ifd + 2 + 12 * i)
        if tag == ORIENTATION:
            if kind != 3 or count != 1:  # a SHORT, as the standard has it; anything else is not a turn we know
                return 1
            (value,) = struct.unpack_from(order + "H", raw, ifd + 2 + 12 * i + 8)
            return value if value in range(1, 9) else 1
    return 1


def to_rgb(image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Any PIL image as 8-bit RGB: EXIF orientation applied (``orientation``), transparency composited on white.

    16-bit, float, CMYK, palette and grayscale modes are converted; an animated image gives the frame it is on (the
    first, when just opened: nothing walks its other frames). An upright RGB image is returned as it is, so
    converting twice costs nothing.
    """
    image.load()  # first: Pillow turns a TIFF upright as it loads it, and drops its orientation tag then
    turn = TRANSPOSE.get(orientation(image))
    if image.mode == "RGB" and turn is None:
        return image
    if turn is not None:
        image = image.transpose(turn)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        image = Image.fromarray(deep_gray_to_8_bits(np.asarray(image)), "L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, background + (255,))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")


def deep_gray_to_8_bits(array: np.ndarray, pixels: int = 1 << 16, peak: int | None = None) -> np.ndarray:
    """16/32-bit or float grayscale scaled to uint8 (PIL's convert("L") clips instead of scaling): 65535 (or 255,
    for data that never exceeds it) becomes 255, rounded; ``peak`` says which, for a strip of a bigger picture. Done a
    strip of about ``pixels`` at a time, in place, so that the wider temporaries cost a strip, not a second copy of a
    big picture."""
    peak = peak or (65535 if array.max() > 255 else 255)
    out = np.empty(array.shape, np.uint8)
    rows = max(1, pixels // max(1, array.shape[1]))
    for top in range(0, array.shape[0], rows):
        if array.dtype.kind in "ui":
            strip = array[top:top + rows].astype(np.int64)
            strip *= 255
            strip += peak // 2
            strip //= peak
        else:
            strip = array[top:top + rows].astype(np.float32)
            strip *= np.float32(255 / peak)
            np.rint(strip, out=strip)
        np.clip(strip, 0, 255, out=strip)
        out[top:top + rows] = strip
    return out


def reduced(image: Image.Image, factor: int) -> Image.Image:
    """``image`` box-reduced by ``factor``, a strip at a time, so that nothing the size of the picture is made beside
    it (Pillow's reduce premultiplies a whole RGBA copy). The modes it cannot reduce (palette, 1-bit, 16-bit) are
    converted strip by strip as ``to_rgb`` would convert them; the result keeps the picture's metadata (its EXIF
    orientation, for ``to_rgb``)."""
    convert = None
    if image.mode.startswith("I;16") or image.mode == "I":
        peak = 65535 if image.getextrema()[1] > 255 else 255
        convert = lambda strip: Image.fromarray(deep_gray_to_8_bits(np.asarray(strip), peak=peak), "L")  # noqa: E731
    elif image.mode in ("P", "PA", "1"):
        mode = "RGBA" if "transparency" in image.info or image.mode == "PA" else "L" if image.mode == "1" else "RGB"
        convert = lambda strip: strip.convert(mode)  # noqa: E731
    rows = factor * max(1, (1 << 20) // max(1, image.width * factor))  # about a megapixel a strip
    out = None
    for top in range(0, image.height, rows):
        part = image.crop((0, top, image.width, min(image.height, top + rows)))
        part = (convert(part) if convert else part).reduce(factor)
        if out is None:
            out = Image.new(part.mode, (-(-image.width // factor), -(-image.height // factor)))
        out.paste(part, (0, top // factor))
    out.info = {k: v for k, v in image.info.items() if k != "transparency"}
    return out


def load_image(path: str | Path) -> Image.Image:
    """Open an image file as RGB (see ``to_rgb``); raises ``OSError`` for unreadable files."""
    with Image.open(path) as image:
        image.load()
        return to_rgb(image)


def to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL RGB -> 1x3xHxW in [-1, 1]."""
    import torch
    array = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy())
    return array.permute(2, 0, 1).unsqueeze(0).float().div(127.5).sub(1)


def to_pil(x: torch.Tensor) -> Image.Image:
    """1x3xHxW in [-1, 1] -> PIL RGB."""
    import torch
    array = x[0].float().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8).permute(1, 2, 0)
    return Image.fromarray(array.cpu().numpy(), "RGB")


def triptych(*images: Image.Image) -> Image.Image:
    """Images side by side (real | generated | reconstructed) on one canvas."""
    canvas = Image.new("RGB", (sum(im.width for im in images), max(im.height for im in images)), "white")
    x = 0
    for im in images:
        canvas.paste(im, (x, 0))
        x += im.width
    return canvas
