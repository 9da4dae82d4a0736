"""The app's files: uploaded pictures in (size limits, decoding any image file into RGB, a clear one-line reason
when that fails), and the results offered for download out (a temp-file store that prunes itself, for triptychs,
images and videos).

The app's image input sends its raw payload (a FileData dict, a path or a data: URL); ``decode_upload`` turns
it into a PIL image or raises ``BadImage``, whose message is meant for the person who uploaded the file.
``save_triptych`` writes a result where the download button can serve it.
"""
from __future__ import annotations

import base64
import binascii
import io
import os
import re
import shutil
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from .errors import BadImage
from .images import to_rgb


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


def decode_image(data: str | Path | bytes, *, max_bytes: int | None = None, max_pixels: int | None = None,
                 max_side: int | None = None, name: str = "the upload") -> Image.Image:
    """An uploaded file (path or bytes) as an RGB PIL image; ``BadImage`` says what is wrong with it.

    Any mode is converted (transparency on white, 16-bit, CMYK, palette, EXIF rotation, first frame of an
    animation). ``max_side`` lets JPEG decode at a reduced scale that is still at least that big.
    """
    try:
        size = len(data) if isinstance(data, bytes) else os.path.getsize(data)
    except OSError as e:
        raise BadImage(f"cannot read {name}: {e.strerror}") from None
    if size == 0:
        raise BadImage(f"empty file: {name} has 0 bytes")
    if max_bytes is not None and size > max_bytes:
        raise BadImage(f"file too large: {human_size(size)} > limit of {human_size(max_bytes)}")
    limit = max_pixels or Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked below against our limit
            image = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
    except UnidentifiedImageError:
        raise BadImage(f"not an image: cannot read {name} as a picture "
                       "(PNG, JPEG, WebP, GIF, BMP, TIFF, ...)") from None
    except Image.DecompressionBombError as e:
        raise BadImage(f"image too large: {e}".split(", could be")[0]) from None
    except Exception as e:  # PIL raises many types for broken headers
        raise BadImage(f"corrupted or truncated image: {e}") from None
    with image:
        pixels = image.width * image.height
        if limit and pixels > limit:
            raise BadImage(f"image too large: {image.width}×{image.height} = {pixels:,} pixels > limit of "
                           f"{limit:,} pixels (decompression bomb protection)")
        try:
            if max_side and image.format == "JPEG":
                image.draft(None, (max_side, max_side))
            image.load()
            return to_rgb(image)
        except Exception as e:  # OSError "image file is truncated", SyntaxError "broken PNG file", ...
            raise BadImage(f"corrupted or truncated image: {e}") from None


def fit(image: Image.Image, max_side: int | None) -> Image.Image:
    """Shrink so that the long side is at most ``max_side``, keeping the aspect ratio (never enlarges)."""
    if not max_side or max(image.size) <= max_side:
        return image
    scale = max_side / max(image.size)
    size = (max(1, min(max_side, round(image.width * scale))), max(1, min(max_side, round(image.height * scale))))
    return image.resize(size, Image.Resampling.LANCZOS)


def decode_upload(payload: dict[str, Any] | str | Path | None, **limits: Any) -> Image.Image:
    """The image input's raw payload (a FileData dict, a path or a data: URL) as RGB; ``BadImage`` if unusable.

    ``limits`` are ``decode_image``'s keyword arguments (``max_bytes``, ``max_pixels``, ``max_side``).
    """
    if isinstance(payload, dict):
        url, path, name = payload.get("url"), payload.get("path"), payload.get("orig_name")
    else:
        url, path, name = None, payload, None
    # Some clients send a pasted picture inline, as a data: URL with no file behind it.
    if isinstance(url, str) and url.startswith("data:") and not path:
        try:
            data = base64.b64decode(url.split(",", 1)[1], validate=False)
        except (IndexError, binascii.Error):
            raise BadImage("not an image: the data URL cannot be decoded") from None
        return decode_image(data, name=name or "the pasted image", **limits)
    if not path:
        raise BadImage("No image: upload, paste or take a picture first.")
    return decode_image(path, name=repr(name or Path(path).name), **limits)


def fresh_folder(folder: Path, max_age: float = 3600) -> Path:
    """A new empty ``folder/<random>/`` for one request's results (so that concurrent requests never overwrite each
    other's files); subfolders older than ``max_age`` s are deleted on the way."""
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in folder.iterdir():
        try:
            if now - old.stat().st_mtime > max_age:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass
    path = folder / uuid.uuid4().hex
    path.mkdir()
    return path


def save_png(image: Image.Image, path: Path, level: int = 1) -> Path:
    """``image`` as a PNG at zlib ``level`` (1: about a sixth of the default's time for a 512 px picture, a
    slightly bigger file): the app's results, shown at once and mostly never downloaded."""
    image.save(path, compress_level=level)
    return path


def save_triptych(image: Image.Image, folder: Path, stem: str, max_age: float = 3600) -> Path:
    """Write ``image`` as ``folder/<random>/<stem>.png`` (see ``fresh_folder``)."""
    return save_png(image, fresh_folder(folder, max_age) / f"{stem}.png")
