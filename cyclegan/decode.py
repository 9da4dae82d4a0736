"""Decoding a stranger's picture within bounds: only the formats the app names, at most so many pixels (a JPEG
counted at the scale it is decoded at, but a progressive one at its full size), at most so many scans, its EXIF
orientation read a bounded way (``images.orientation``), reduced a strip at a time, as RGB; a one-line
``BadImage`` for anything else. Torch-free, so that ``sandbox`` runs it in a small child process.
"""
from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from .config import IMAGE_FORMATS, UploadLimits
from .errors import BadImage
from .images import reduced, to_rgb

FORMAT_NAMES = [{"WEBP": "WebP"}.get(f, f) for f in IMAGE_FORMATS]


def parse_size(size: str | int) -> int:
    """'20mb', '1.5 MB', '500kb', '1024' or an int -> bytes."""
    if isinstance(size, int):
        return size
    match = re.fullmatch(r"\s*([\d.]+)\s*([kmg]?i?b?)?\s*", size.lower())
    if not match:
        raise ValueError(f"not a file size: {size!r} (try 20mb)")
    unit = (match.group(2) or "b")[0]
    return int(float(match.group(1)) * {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit])


def human_size(n: int) -> str:
    """A byte count as people read it: '1.5 MB', '200 kB', '12 bytes'."""
    return f"{n / 1024**2:.1f} MB" if n >= 1024**2 else f"{n / 1024:.0f} kB" if n >= 1024 else f"{n} bytes"


def too_large(width: int, height: int, limit: int) -> BadImage:
    pixels = width * height
    return BadImage(f"image too large: {width}×{height} = {pixels:,} pixels > limit of {limit:,} pixels "
                    "(decompression bomb protection)")


def decode_image(data: str | Path | bytes, *, max_bytes: int | None = None, max_pixels: int | None = None,
                 max_side: int | None = None, name: str = "the upload") -> Image.Image:
    """An uploaded file (path or bytes) as an RGB PIL image; ``BadImage`` says what is wrong with it.

    Only the formats the app names are opened (``IMAGE_FORMATS``: never EPS or PDF, whose decoder is
    Ghostscript). Any mode is converted (transparency on white, 16-bit, CMYK, palette, EXIF rotation, the first
    frame of an animation). With ``max_side`` a JPEG decodes at a reduced scale, and any picture at least twice
    that size is box-reduced before it is converted, so that memory follows what the app keeps, not the file.
    ``max_pixels`` bounds what is decoded (a JPEG's reduced size); the message quotes it.
    """
    try:
        size = len(data) if isinstance(data, bytes) else os.path.getsize(data)
    except OSError as e:
        raise BadImage(f"cannot read {name}: {e.strerror}") from None
    if size == 0:
        raise BadImage(f"empty file: {name} has 0 bytes")
    if max_bytes is not None and size > max_bytes:
        raise BadImage(f"file too large: {human_size(size)} > limit of {human_size(max_bytes)}")
    limit = max_pixels or UploadLimits.max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked below against our limit
            image = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data, formats=IMAGE_FORMATS)
    except UnidentifiedImageError:
        raise BadImage(f"not an image: cannot read {name} as a picture ({', '.join(FORMAT_NAMES)})") from None
    except Image.DecompressionBombError as e:  # Pillow's own limit, far above ours: say ours
        pixels = re.search(r"\((\d+) pixels\)", str(e))
        raise BadImage(f"image too large: {int(pixels.group(1)) if pixels else 0:,} pixels > limit of {limit:,} "
                       "pixels (decompression bomb protection)") from None
    except Exception as e:  # PIL raises many types for broken headers
        raise BadImage(f"corrupted or truncated image: {e}") from None
    with image:
        width, height = image.size
        if image.format == "JPEG":
            check_jpeg_scans(data, name, width * height, limit)
        if max_side and image.format in ("JPEG", "MPO"):
            image.draft(None, (max_side, max_side))  # decoded at 1/2, 1/4 or 1/8 scale, still at least max_side
        if image.width * image.height > limit:
            raise too_large(width, height, limit)
        try:
            image.load()
            factor = max(image.size) // (2 * max_side) if max_side else 0
            if factor >= 2:
                image = reduced(image, factor)  # a box filter, far lighter than converting the full size first
            return to_rgb(image)
        except MemoryError:  # for the sandbox to report as such
            raise
        except Exception as e:  # OSError "image file is truncated", SyntaxError "broken PNG file", ...
            raise BadImage(f"corrupted or truncated image: {e}") from None


# A JPEG's scans: libjpeg's progressive files have 10, mozjpeg's about a dozen. Each scan is another pass over every
# coefficient of the picture, so a small file that repeats one scan a thousand times costs a thousand passes: at most
# MAX_JPEG_SCANS scans, and at most SCAN_PASSES passes over the pixel limit in all (10 scans of a 30 MP photo fit).
MAX_JPEG_SCANS = 32
SCAN_PASSES = 12


def check_jpeg_scans(data: str | Path | bytes, name: str, pixels: int, limit: int) -> None:
    """``BadImage`` for a JPEG of more than ``MAX_JPEG_SCANS`` scans or ``SCAN_PASSES`` x ``limit`` pixels of scans,
    and for one of several scans (progressive, or baseline with its colours in separate scans) over ``limit`` pixels at
    full size: the decoder then keeps every coefficient of the whole picture, whatever scale it is asked for. Scans
    are counted as start-of-scan markers (FF DA), which the data between markers cannot hold (an FF there is always
    followed by 00 or a restart marker); a thumbnail's scans count too, so the count is never too low."""
    if not isinstance(data, bytes):
        with open(data, "rb") as f:
            data = f.read()
    scans = data.count(b"\xff\xda")
    if 1 < scans <= MAX_JPEG_SCANS and pixels > limit:
        raise BadImage(f"image too large: a progressive JPEG of {pixels:,} pixels > limit of {limit:,} pixels "
                       "(decoded whole, whatever the size it is shown at)")
    if scans > MAX_JPEG_SCANS or (scans > 1 and scans * pixels > SCAN_PASSES * limit):
        raise BadImage(f"too costly to decode: {name} is a JPEG of {scans:,} scans over {pixels:,} pixels (at most "
                       f"{MAX_JPEG_SCANS} scans, and {SCAN_PASSES} x {limit:,} pixels in all; ordinary progressive "
                       "JPEGs have about 10)")
