"""A dataset by name, as a folder in the CycleGAN layout (``trainA/ trainB/ [testA/ testB/]``): one of the standard
CycleGAN sets, from the reference's mirror (``download.download_dataset``), or a Hugging Face Hub dataset.

A Hub dataset is named ``USER/NAME`` (``USER/NAME@REVISION`` for a branch, tag or commit) and fetched with
huggingface_hub into its cache (resumable; offline with ``HF_HUB_OFFLINE=1`` once cached). Two layouts are read:

- **image folders**: the repository holds ``trainA/`` and ``trainB/`` (and ``testA/``, ``testB/``) of image files,
  as the reference's zips do; the cached snapshot is used as it is.
- **parquet files** (what the Hub's ``datasets`` library writes): each file of a split (``train``, ``test``; read
  from the file names, ``train-00000-of-00002.parquet``) holds rows with image columns (``{"bytes", "path"}``
  structs). The two domains are either **two image columns** of the same rows, or **two configurations** (the
  folders the files are in, ``horse/train-*.parquet`` and ``zebra/train-*.parquet``), one image column each.
  ``domains="A,B"`` names them (columns or configurations); without it they are guessed: the two image columns
  if there are exactly two, else the two configurations if there are exactly two, in the order the repository
  lists them (so say them when the guess would take B for A). The images are written once, as the files they were,
  to ``DATA_DIR/hub/USER--NAME@REVISION/`` in the CycleGAN layout (parquet needs ``pyarrow``).

A dataset that is not there, is private without a token, cannot be reached, or holds no usable images gets one
line (``DownloadError``).
"""
from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
from pathlib import Path

from .download import download_dataset
from .errors import DownloadError

HUB_DATASET = re.compile(r"^([\w.-]+)/([\w.-]+)(?:@([\w./-]+))?$")
FOLDERS = ("trainA", "trainB", "testA", "testB")
SPLITS = {"train": "train", "test": "test", "validation": "test", "val": "test"}  # parquet split -> CycleGAN split


def is_hub_dataset(name: str) -> bool:
    """Whether ``name`` names a Hub dataset (``USER/NAME[@REVISION]``), not one of the standard sets."""
    return HUB_DATASET.match(name) is not None and not Path(name).exists()


def dataset_folder(name: str, data_dir: str | Path = "datasets", *, domains: str = "", token: str | None = None
                   ) -> Path:
    """The CycleGAN-layout folder of the dataset ``name``: a standard set (downloaded into ``data_dir``) or a Hub
    dataset (``USER/NAME[@REVISION]``; ``domains`` names its two image columns or configurations)."""
    if is_hub_dataset(name):
        return hub_dataset(name, data_dir, domains=domains, token=token)
    if domains:
        raise DownloadError(f"--domains names a Hub dataset's columns or configurations; {name!r} is a standard set")
    return download_dataset(name, data_dir)


def hub_dataset(name: str, data_dir: str | Path = "datasets", *, domains: str = "", token: str | None = None) -> Path:
    """The CycleGAN-layout folder of the Hub dataset ``name`` (see the module's docstring)."""
    repo_id, revision = name.split("@", 1) if "@" in name else (name, None)
    snapshot = fetch(repo_id, revision, token)
    if (snapshot / "trainA").is_dir() and (snapshot / "trainB").is_dir():
        if domains:
            raise DownloadError(f"{name} holds trainA/ and trainB/ folders: it has no columns or configurations for "
                                "--domains to name")
        return snapshot
    files = sorted(snapshot.rglob("*.parquet"))
    if not files:
        raise DownloadError(f"Hub dataset {name} has neither trainA/ and trainB/ folders nor parquet files of images")
    target = Path(data_dir) / "hub" / f"{repo_id.replace('/', '--')}@{snapshot.name}"
    if (target / "trainA").is_dir() and (target / "trainB").is_dir():
        return target  # written before, from this commit of the dataset
    return write_layout(files, snapshot, target, domains, name)


def fetch(repo_id: str, revision: str | None, token: str | None) -> Path:
    """The dataset repo's snapshot (its image folders and parquet files) in the HF cache."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError,
                                        RepositoryNotFoundError, RevisionNotFoundError)
    patterns = [f"{d}/**" for d in FOLDERS] + ["*.parquet", "**/*.parquet"]
    try:
        return Path(snapshot_download(repo_id, repo_type="dataset", revision=revision, token=token,
                                      allow_patterns=patterns, etag_timeout=10))
    except RevisionNotFoundError:
        raise DownloadError(f"Hub dataset {repo_id} has no revision {revision!r}") from None
    except GatedRepoError:
        raise DownloadError(f"Hub dataset {repo_id} is gated: accept its terms on the Hub, then log in (hf auth login) "
                            "or pass a token") from None
    except RepositoryNotFoundError:
        raise DownloadError(f"no Hub dataset {repo_id!r} (or it is private: log in with hf auth login, or set "
                            "HF_TOKEN)") from None
    except LocalEntryNotFoundError:
        raise DownloadError(f"Hub dataset {repo_id} is not in the local cache and the Hub cannot be reached (offline, "
                            "or HF_HUB_OFFLINE=1)") from None
    except (HfHubHTTPError, OSError) as e:
        raise DownloadError(f"could not fetch Hub dataset {repo_id}: {str(e).splitlines()[0][:200]}") from None


def _config_and_split(path: Path, snapshot: Path) -> tuple[str, str]:
    """(configuration, split) of a parquet file: its folder (under ``data/`` too) and its name's first part."""
    parts = path.relative_to(snapshot).parts[:-1]
    config = "/".join(p for p in parts if p != "data") or "default"
    split = path.name.split("-")[0].split(".")[0]
    return config, split


def _image_columns(schema) -> list[str]:
    """The columns of a parquet schema that hold images: structs with a ``bytes`` field (the Hub's Image feature)."""
    import pyarrow as pa
    return [f.name for f in schema if pa.types.is_struct(f.type) and f.type.get_field_index("bytes") >= 0]


def write_layout(files: list[Path], snapshot: Path, target: Path, domains: str, name: str) -> Path:
    """Write the images of ``files`` to ``target/{trainA,trainB,testA,testB}/`` (in a staging folder renamed into
    place, so a folder that exists is complete)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DownloadError(f"Hub dataset {name} is stored as parquet files, which need pyarrow: pip install pyarrow"
                            ) from None
    tables = {}
    for f in files:
        config, split = _config_and_split(f, snapshot)
        if split in SPLITS:
            tables.setdefault(config, []).append((SPLITS[split], f))
    columns = {config: _image_columns(pq.read_schema(fs[0][1])) for config, fs in tables.items()}
    configs = [c for c in tables if columns[c]]
    wanted = [d.strip() for d in domains.split(",") if d.strip()] if domains else []
    if wanted and len(wanted) != 2:
        raise DownloadError(f"--domains takes two names, A's and B's (columns or configurations); got {domains!r}")
    if not configs:
        raise DownloadError(f"Hub dataset {name} has parquet files but no image column in their train or test splits")
    # Two image columns of the same rows, or two configurations of one image column each.
    if (wanted and all(w in columns[configs[0]] for w in wanted)) or (
            not wanted and len(configs) == 1 and len(columns[configs[0]]) == 2):
        config = configs[0]
        plan = [(letter, column, tables[config]) for letter, column in zip("AB", wanted or columns[config])]
    elif (wanted and all(w in configs for w in wanted)) or (not wanted and len(configs) == 2):
        plan = [(letter, columns[c][0], tables[c]) for letter, c in zip("AB", wanted or configs)]
    else:
        found = (f"image columns {', '.join(columns[configs[0]])}" if len(configs) == 1 else
                 f"configurations {', '.join(configs)}")
        raise DownloadError(f"Hub dataset {name}: say which are domain A and B with --domains A,B (it has {found})")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        counts = {}
        for letter, column, parts in plan:
            for split, f in parts:
                folder = staging / f"{split}{letter}"
                folder.mkdir(exist_ok=True)
                for batch in pq.ParquetFile(f).iter_batches(columns=[column], batch_size=256):
                    for cell in batch.column(0).to_pylist():
                        if cell and cell.get("bytes"):
                            n = counts[folder.name] = counts.get(folder.name, 0) + 1
                            (folder / f"{n:06d}{_suffix(cell)}").write_bytes(cell["bytes"])
        if not counts.get("trainA") or not counts.get("trainB"):
            raise DownloadError(f"Hub dataset {name} has no train images for both domains")
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _suffix(cell: dict) -> str:
    """The file extension of an image cell: its path's, else from its bytes."""
    suffix = Path(cell.get("path") or "").suffix.lower()
    if suffix in (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"):
        return suffix
    from PIL import Image
    try:
        with Image.open(io.BytesIO(cell["bytes"])) as image:
            return {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif"}.get(image.format,
                                                                                                   ".png")
    except OSError:
        return ".png"

