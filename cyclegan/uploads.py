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
import contextlib
import io
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from .config import IMAGE_FORMATS, UploadLimits
from .errors import BadImage
from .images import reduced, to_rgb

FORMAT_NAMES = [{"WEBP": "WebP"}.get(f, f) for f in IMAGE_FORMATS]
# One answer for every path a client names that is not an upload of this app: missing, a folder, unreadable or
# elsewhere on the disk all read the same, so that a refusal tells nothing of what exists.
NOT_AN_UPLOAD = "not an upload: this app opens only the files sent to it and its own examples"


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
        except Exception as e:  # OSError "image file is truncated", SyntaxError "broken PNG file", ...
            raise BadImage(f"corrupted or truncated image: {e}") from None


def fit(image: Image.Image, max_side: int | None) -> Image.Image:
    """Shrink so that the long side is at most ``max_side``, keeping the aspect ratio (never enlarges)."""
    if not max_side or max(image.size) <= max_side:
        return image
    scale = max_side / max(image.size)
    size = (max(1, min(max_side, round(image.width * scale))), max(1, min(max_side, round(image.height * scale))))
    return image.resize(size, Image.Resampling.LANCZOS)


def confine(path: str | Path, roots: list[Path]) -> Path:
    """``path`` resolved (symlinks followed) if it is a file inside one of ``roots`` (the app's upload folder, its
    examples); else ``BadImage(NOT_AN_UPLOAD)``, the same for every refused path, a web address included."""
    if isinstance(path, str) and "://" in path:  # a URL is never fetched, nor read as a relative path
        raise BadImage(NOT_AN_UPLOAD)
    try:
        resolved = Path(path).resolve(strict=True)
        if resolved.is_file() and any(resolved.is_relative_to(root) for root in roots):
            return resolved
    except (OSError, RuntimeError, ValueError, TypeError):  # missing, a link loop, a NUL byte, not a path at all
        pass
    raise BadImage(NOT_AN_UPLOAD)


def check_payload(payload: Any, roots: list[Path]) -> dict[str, Any] | None:
    """A file input's raw payload as a client sent it (a path, or a FileData dict), checked before the server does
    anything with it: its path must ``confine`` to ``roots``; a web address, or a payload holding other payloads
    (which Gradio would look into, and download from), is refused with ``BadImage(NOT_AN_UPLOAD)``. Returns it as a
    dict (a bare path wrapped as ``{"path": ...}``); None, or a dict with no path (an inline data: URL), as it is."""
    if payload is None:
        return None
    if isinstance(payload, str):
        payload = {"path": payload}
    scalar = lambda v: not isinstance(v, (dict, list))  # noqa: E731
    if not isinstance(payload, dict) or not all(
            scalar(v) or (k == "meta" and isinstance(v, dict) and all(map(scalar, v.values())))
            for k, v in payload.items()):
        raise BadImage(NOT_AN_UPLOAD)
    if payload.get("path"):  # (an empty one is no file: the handler says so)
        confine(payload["path"], roots)
    return payload


def decode_upload(payload: dict[str, Any] | str | Path | None, roots: list[Path] | None = None,
                  **limits: Any) -> Image.Image:
    """The image input's raw payload (a FileData dict, a path or a data: URL) as RGB; ``BadImage`` if unusable.

    ``roots``: where a path may lead (``confine``); None trusts the path, for callers whose paths are their own.
    ``limits`` are ``decode_image``'s keyword arguments (``max_bytes``, ``max_pixels``, ``max_side``).
    """
    if isinstance(payload, dict):
        url, path, name = payload.get("url"), payload.get("path"), payload.get("orig_name")
    else:
        url, path, name = None, payload, None
    name = name if isinstance(name, str) else None
    # Some clients send a pasted picture inline, as a data: URL with no file behind it.
    if isinstance(url, str) and url.startswith("data:") and not path:
        try:
            data = base64.b64decode(url.split(",", 1)[1], validate=False)
        except (IndexError, binascii.Error):
            raise BadImage("not an image: the data URL cannot be decoded") from None
        return decode_image(data, name=name or "the pasted image", **limits)
    if not path:
        raise BadImage("No image: upload, paste or take a picture first.")
    if roots is not None:
        path = confine(path, roots)
    elif not isinstance(path, (str, Path)):
        raise BadImage(NOT_AN_UPLOAD)
    return decode_image(path, name=repr(name or Path(path).name), **limits)


def gradio_temp() -> Path:
    """Gradio's temp folder (GRADIO_TEMP_DIR): the uploads, and the results the app keeps for download."""
    return Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")


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


class DiskBudget:
    """Keeps ``folder`` (the app's temp dir: uploads, and results kept for download) under ``max_bytes``: when it is
    over, the oldest files go first, never one younger than ``min_age`` seconds (a request may still read it).
    ``keep`` looks at most once every ``every`` seconds, so calling it on each request costs nothing."""

    def __init__(self, folder: Path, max_bytes: int, min_age: float = 60, every: float = 30):
        self.folder, self.max_bytes, self.min_age, self.every = Path(folder), max_bytes, min_age, every
        self._last, self._lock = -float("inf"), threading.Lock()

    def keep_soon(self) -> None:
        """``keep`` in a background thread when it is due: for a server's every request (an upload alone fills the
        folder too), which must not wait for the folder to be walked."""
        if self.max_bytes and time.monotonic() - self._last >= self.every and not self._lock.locked():
            threading.Thread(target=self.keep, daemon=True, name="disk-budget").start()

    def keep(self) -> int:
        """Delete the oldest files while the folder is over budget; returns the bytes freed."""
        now = time.monotonic()
        if not self.max_bytes or now - self._last < self.every or not self._lock.acquire(blocking=False):
            return 0
        try:
            self._last = now
            files = []
            for root, _, names in os.walk(self.folder):
                for name in names:
                    with contextlib.suppress(OSError):  # gone meanwhile
                        st = os.stat(os.path.join(root, name))
                        files.append((st.st_mtime, st.st_size, os.path.join(root, name)))
            total, freed, wall = sum(f[1] for f in files), 0, time.time()
            emptied = set()
            for mtime, size, path in sorted(files):
                if total - freed <= self.max_bytes or wall - mtime < self.min_age:
                    break
                with contextlib.suppress(OSError):
                    os.unlink(path)
                    freed += size
                    emptied.add(os.path.dirname(path))
            # The folders left empty go too (a request's results folder, an upload's), so that they do not pile up
            # and read as a failed request's leftovers; rmdir leaves alone one that is not empty.
            root = os.path.normpath(self.folder)
            for folder in sorted(emptied, key=len, reverse=True):
                while os.path.normpath(folder) != root and folder.startswith(root):
                    try:
                        os.rmdir(folder)
                    except OSError:
                        break
                    folder = os.path.dirname(folder)
            return freed
        finally:
            self._lock.release()
