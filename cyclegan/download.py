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

from .errors import DownloadError

# The mirror that the reference's datasets/download_cyclegan_dataset.sh uses.
DATASETS_URL = os.environ.get("CYCLEGAN_DATASETS_URL", "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets")
# The names that script accepts (junyanz/pytorch-CycleGAN-and-pix2pix master), less cityscapes (below).
# mini_pix2pix, mini_colorization and ae_photos download but are not in the trainA/ trainB/ layout:
# download_dataset says so and leaves the unpacked files for --domain-a / --domain-b.
DATASETS = ("apple2orange", "summer2winter_yosemite", "horse2zebra", "monet2photo", "cezanne2photo",
            "ukiyoe2photo", "vangogh2photo", "maps", "facades", "iphone2dslr_flower", "ae_photos",
            "mini", "mini_pix2pix", "mini_colorization")
# Listed by the reference but refused there, with this explanation: its licence forbids redistribution.
RESTRICTED = {
    "cityscapes": "due to license issue, the reference cannot provide the Cityscapes dataset from its "
                  "repository. Please download it from https://cityscapes-dataset.com (gtFine_trainvaltest.zip "
                  "and leftImg8bit_trainvaltest.zip), convert it with the reference's "
                  "datasets/prepare_cityscapes_dataset.py, and pass the result as --dataroot",
}


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
    if name in RESTRICTED:
        raise DownloadError(f"{name}: {RESTRICTED[name]}")
    if name not in DATASETS:
        raise DownloadError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    target = Path(data_dir) / name
    if (target / "trainA").is_dir():
        return target
    if target.is_dir():  # unpacked before (or made by hand) without the layout: no point downloading again
        raise not_cyclegan_layout(name, target)
    try:
        archive = download(f"{(base_url or DATASETS_URL).rstrip('/')}/{name}.zip", Path(data_dir) / f"{name}.zip")
    except DownloadError as e:  # the reference's server is often slow or down; the Hub holds the same sets
        raise DownloadError(f"{e}. The standard sets are on the Hugging Face Hub too: find one at "
                            f"https://huggingface.co/datasets?search={name} and pass --dataset USER/NAME") from None
    staging = Path(tempfile.mkdtemp(dir=data_dir, prefix=f".{name}."))
    try:
        try:
            with zipfile.ZipFile(archive) as z:
                z.extractall(staging)
        except zipfile.BadZipFile:
            raise DownloadError(f"{archive} is not a valid zip archive") from None
        # The mirror's archives hold one top-level folder named after the dataset.
        root = staging / name if (staging / name).is_dir() else staging
        os.replace(root, target)  # kept even without trainA/: the images are still usable by folder
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        archive.unlink(missing_ok=True)
    if not (target / "trainA").is_dir():
        raise not_cyclegan_layout(name, target)
    return target


def not_cyclegan_layout(name: str, target: Path) -> DownloadError:
    """The error for a dataset folder without trainA/: what it holds instead, and how to use it."""
    subfolders = sorted(p.name + "/" for p in target.iterdir() if p.is_dir() and not p.name.startswith("."))
    holds = f"it holds {', '.join(subfolders)}" if subfolders else "it holds no subfolders"
    return DownloadError(f"dataset {name!r} in {target} has no trainA/ and trainB/ ({holds}), so it is not a "
                         "two-domain CycleGAN set; to train on its images pass --domain-a DIR --domain-b DIR")
