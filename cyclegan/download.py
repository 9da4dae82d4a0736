"""Downloads over HTTP(S) with a progress bar, written atomically, and the standard CycleGAN datasets."""
from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from tqdm.auto import tqdm

# The mirror that the reference's datasets/download_cyclegan_dataset.sh uses.
DATASETS_URL = os.environ.get("CYCLEGAN_DATASETS_URL", "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets")
DATASETS = ("apple2orange", "summer2winter_yosemite", "horse2zebra", "monet2photo", "cezanne2photo",
            "ukiyoe2photo", "vangogh2photo", "maps", "cityscapes", "facades", "iphone2dslr_flower", "ae_photos")


class DownloadError(Exception):
    """A download that failed, with the URL and the reason in one line."""


def download(url: str, dest: str | Path, timeout: float = 30.0) -> Path:
    """Fetch ``url`` into ``dest`` via a temporary file, so an interrupted download leaves nothing behind."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, leave=False) as bar:
                while chunk := response.read(1 << 20):
                    f.write(chunk)
                    bar.update(len(chunk))
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError) as e:
        Path(tmp).unlink(missing_ok=True)
        reason = getattr(e, "reason", None) or e
        raise DownloadError(f"could not download {url}: {reason}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def download_dataset(name: str, data_dir: str | Path = "datasets", base_url: str | None = None) -> Path:
    """Return ``data_dir/name`` with trainA/ trainB/ ..., downloading and unpacking it if it is not there yet.

    The archive is unpacked into a temporary folder that is renamed into place, so a folder named
    ``name`` is always complete.
    """
    if name not in DATASETS:
        raise DownloadError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    target = Path(data_dir) / name
    if (target / "trainA").is_dir():
        return target
    archive = download(f"{(base_url or DATASETS_URL).rstrip('/')}/{name}.zip", Path(data_dir) / f"{name}.zip")
    staging = Path(tempfile.mkdtemp(dir=data_dir, prefix=f".{name}."))
    try:
        try:
            with zipfile.ZipFile(archive) as z:
                z.extractall(staging)
        except zipfile.BadZipFile:
            raise DownloadError(f"{archive} is not a valid zip archive") from None
        # The mirror's archives hold one top-level folder named after the dataset.
        root = staging / name if (staging / name).is_dir() else staging
        if not (root / "trainA").is_dir():
            raise DownloadError(f"{name}.zip has no trainA/ folder")
        os.replace(root, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        archive.unlink(missing_ok=True)
    return target
