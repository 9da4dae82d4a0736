"""The app's files: uploaded pictures in (which paths a client may name, its payload decoded by ``decode`` here or in
the ``sandbox``), the app's own temp folder and its disk budget, and the results offered for download out (a
temp-file store that prunes itself, for triptychs, images and videos).

The app's image input sends its raw payload (a FileData dict, a path or a data: URL); ``decode_upload`` turns
it into a PIL image or raises ``BadImage``, whose message is meant for the person who uploaded the file.
``save_triptych`` writes a result where the download button can serve it.
"""
from __future__ import annotations

import atexit
import base64
import binascii
import contextlib
import os
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from .decode import decode_image, human_size, parse_size  # noqa: F401  (the names uploads always offered)
from .errors import BadImage

if TYPE_CHECKING:
    from .sandbox import Sandbox

# One answer for every path a client names that is not an upload of this app: missing, a folder, unreadable or
# elsewhere on the disk all read the same, so that a refusal tells nothing of what exists.
NOT_AN_UPLOAD = "not an upload: this app opens only the files sent to it and its own examples"


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
                  sandbox: Sandbox | None = None, **limits: Any) -> Image.Image:
    """The image input's raw payload (a FileData dict, a path or a data: URL) as RGB; ``BadImage`` if unusable.

    ``roots``: where a path may lead (``confine``); None trusts the path, for callers whose paths are their own.
    ``sandbox``: where the decoding runs (a server's uploads: ``cyclegan.sandbox``); None decodes here.
    ``limits`` are ``decode_image``'s keyword arguments (``max_bytes``, ``max_pixels``, ``max_side``).
    """
    decode = decode_image if sandbox is None else sandbox.decode
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
        return decode(data, name=name or "the pasted image", **limits)
    if not path:
        raise BadImage("No image: upload, paste or take a picture first.")
    if roots is not None:
        path = confine(path, roots)
    elif not isinstance(path, (str, Path)):
        raise BadImage(NOT_AN_UPLOAD)
    return decode(path, name=repr(name or Path(path).name), **limits)


def gradio_temp() -> Path:
    """Gradio's temp folder (GRADIO_TEMP_DIR): the uploads, and the results the app keeps for download."""
    return Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")


OWN_PREFIX = "cyclegan-app-"


def shared_temp() -> Path:
    """Gradio's temp folder as other programs see it: the one the app's own folder is in, once claimed."""
    temp = gradio_temp()
    return temp.parent if temp.name.startswith(OWN_PREFIX) else temp


def claim_temp_folder() -> Path:
    """A temp folder of this server's own, ``cyclegan-app-PID`` inside Gradio's (GRADIO_TEMP_DIR, or /tmp/gradio),
    made Gradio's by setting GRADIO_TEMP_DIR: the disk budget then deletes only there, never in a folder that other
    programs (another Gradio app) share. Call it before Gradio is imported, which reads the variable then. The folder
    goes when the process exits, and so do those of servers that are gone (a killed one leaves its own)."""
    base = gradio_temp()
    if base.name == f"{OWN_PREFIX}{os.getpid()}":  # claimed already
        return base
    base.mkdir(parents=True, exist_ok=True)
    for old in base.glob(f"{OWN_PREFIX}*"):
        pid = old.name[len(OWN_PREFIX):]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    own = base / f"{OWN_PREFIX}{os.getpid()}"
    own.mkdir(exist_ok=True)
    os.environ["GRADIO_TEMP_DIR"] = str(own)
    atexit.register(shutil.rmtree, own, ignore_errors=True)
    return own


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive, and not ours to touch
        return True
    return True


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
    """Keeps ``folder`` (the app's own temp folder: uploads, and results kept for download) under ``max_bytes`` of disk
    as the disk counts it (its blocks, folders included): ``admit`` refuses an upload that would pass it before a byte
    is written, and ``keep`` deletes the oldest files while it is over, never one younger than ``min_age`` seconds (a
    request may still read it), looking at most once every ``every`` seconds. Nothing outside ``folder`` is touched."""

    def __init__(self, folder: Path, max_bytes: int, min_age: float = 60, every: float = 30):
        self.folder, self.max_bytes, self.min_age, self.every = Path(folder), max_bytes, min_age, every
        self._last, self._lock = -float("inf"), threading.Lock()
        self._used, self._measured, self._admit_lock = 0, -float("inf"), threading.Lock()

    def _entries(self) -> tuple[list[tuple[float, int, str]], int]:
        """(files as (mtime, bytes on disk, path), the bytes on disk of everything, folders included)."""
        files, total = [], 0
        for root, dirs, names in os.walk(self.folder):
            for name in dirs:
                with contextlib.suppress(OSError):
                    total += disk_bytes(os.lstat(os.path.join(root, name)))
            for name in names:
                with contextlib.suppress(OSError):  # gone meanwhile
                    st = os.lstat(os.path.join(root, name))
                    files.append((st.st_mtime, disk_bytes(st), os.path.join(root, name)))
                    total += files[-1][1]
        return files, total

    def used(self) -> int:
        """The bytes the folder spends on disk now (its blocks, folders included)."""
        return self._entries()[1]

    def admit(self, size: int) -> bool:
        """Whether an upload of ``size`` bytes fits in the budget: the folder's use (measured at most once a second,
        with what was admitted since added) plus ``size``; when it would not fit, the oldest files go first and it is
        measured again. An admitted upload counts until the next measure sees it on disk."""
        if not self.max_bytes:
            return True
        size = -(-size // BLOCK) * BLOCK + 2 * BLOCK  # as the disk will count it: whole blocks, and its folder
        with self._admit_lock:
            now = time.monotonic()
            if now - self._measured >= 1:
                self._used, self._measured = self.used(), now
            if self._used + size > self.max_bytes:
                self.keep(force=True, room=size)
                self._used, self._measured = self.used(), time.monotonic()
            if self._used + size > self.max_bytes:
                return False
            self._used += size
            return True

    def keep_soon(self) -> None:
        """``keep`` in a background thread when it is due: for a server's every request, which must not wait for the
        folder to be walked."""
        if self.max_bytes and time.monotonic() - self._last >= self.every and not self._lock.locked():
            threading.Thread(target=self.keep, daemon=True, name="disk-budget").start()

    def keep(self, force: bool = False, room: int = 0) -> int:
        """Delete the oldest files while the folder is over budget (with ``room`` bytes more to fit); returns the
        bytes freed. At most once every ``every`` seconds unless ``force``."""
        now = time.monotonic()
        if not self.max_bytes or (not force and now - self._last < self.every) or not self._lock.acquire(
                blocking=False):
            return 0
        try:
            self._last = now
            files, total = self._entries()
            freed, wall = 0, time.time()
            emptied = set()
            for mtime, size, path in sorted(files):
                if total - freed + room <= self.max_bytes or wall - mtime < self.min_age:
                    break
                with contextlib.suppress(OSError):
                    os.unlink(path)
                    freed += size
                    emptied.add(os.path.dirname(path))
            # The folders left empty go too (a request's results folder, an upload's), so that they do not pile up
            # and read as a failed request's leftovers; rmdir leaves alone one that is not empty.
            root = os.path.normpath(self.folder)
            for folder in sorted(emptied, key=len, reverse=True):
                while os.path.normpath(folder) != root and folder.startswith(root + os.sep):
                    try:
                        os.rmdir(folder)
                    except OSError:
                        break
                    folder = os.path.dirname(folder)
            return freed
        finally:
            self._lock.release()


BLOCK = 4096  # a file system block, the least a file or folder takes


def disk_bytes(st: os.stat_result) -> int:
    """What a file or folder spends on disk: its blocks (a 1-byte file takes a whole block), or its size where the
    system does not say."""
    blocks = getattr(st, "st_blocks", None)
    return blocks * 512 if blocks is not None else st.st_size
