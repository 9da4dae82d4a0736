"""Model folders, the layout everything reads: a generator subfolder per direction, the manifest, loading, and
resolving a Hub repo id to a local snapshot.

A model folder holds ``G_AB/`` and ``G_BA/`` (each ``config.json`` + ``model.safetensors``, as written by
``PyTorchModelHubMixin.save_pretrained``) and ``manifest.json`` (its name, domains, license, directions, native
scale, default direction); ``cyclegan.hub`` writes the cards beside them. A one-direction model holds one
generator subfolder, and its manifest's ``directions`` says which.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable

import torch
from safetensors.torch import load_file

from .direction import Direction
from .errors import ModelNotFoundError
from .networks import Generator

MANIFEST = "manifest.json"
GENERATOR_FOLDERS = {Direction.AtoB: "G_AB", Direction.BtoA: "G_BA"}  # the subfolder of each direction's generator
CONFIG, WEIGHTS = "config.json", "model.safetensors"  # in each generator's subfolder
# A Hub repo id is "name" or "owner/name"; anything else that does not exist locally is a wrong path.
REPO_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")


def generator_folders(folder: str | Path) -> dict[Direction, Path]:
    """The generator subfolder of each direction the folder's manifest lists (both, unless it says otherwise).

    ``ModelNotFoundError`` for a manifest whose directions are not a non-empty subset of AtoB and BtoA."""
    folder = Path(folder)
    directions = read_manifest(folder)["directions"]
    if not directions or not set(directions) <= set(GENERATOR_FOLDERS):
        raise ModelNotFoundError(f"{folder / MANIFEST}: directions must list 'AtoB' and/or 'BtoA', "
                                 f"got {directions!r}")
    return {d: folder / sub for d, sub in GENERATOR_FOLDERS.items() if d in directions}


def missing_files(folder: str | Path) -> list[Path]:
    """The weights and configs of the generators the manifest lists that ``folder`` lacks; [] if complete."""
    return [sub / name for sub in generator_folders(folder).values() for name in (WEIGHTS, CONFIG)
            if not (sub / name).is_file()]


def is_complete(folder: str | Path) -> bool:
    """Whether ``folder`` is a complete model folder: a generator (weights and config) for every direction its
    manifest lists. A folder without any generator subfolder is not one, and its manifest is not read."""
    folder = Path(folder)
    if not any((folder / sub).is_dir() for sub in GENERATOR_FOLDERS.values()):
        return False
    try:
        return not missing_files(folder)
    except ModelNotFoundError:
        return False


def load_generator(folder: str | Path, device: str | torch.device = "cpu") -> Generator:
    """Build a Generator from ``folder/config.json`` and load ``model.safetensors`` strictly, as fp32."""
    folder = Path(folder)
    config_file, weights = folder / CONFIG, folder / WEIGHTS
    for f in (config_file, weights):
        if not f.is_file():
            raise ModelNotFoundError(f"{f} is missing: not a model folder written by cyclegan")
    try:
        generator = Generator(**json.loads(config_file.read_text()))
        generator.load_state_dict(load_file(weights))  # fp16 weights are cast to the fp32 parameters
    except (TypeError, ValueError, RuntimeError, OSError) as e:
        raise ModelNotFoundError(f"could not load the generator in {folder}: {str(e).splitlines()[0]}") from None
    return generator.to(device).eval()


def read_manifest(folder: str | Path) -> dict:
    """The folder's manifest, with defaults for any missing key."""
    folder = Path(folder)
    path = folder / MANIFEST
    manifest = json.loads(path.read_text()) if path.is_file() else {}
    # "directions" lists the generators the folder holds: ["AtoB"] for a one-direction model (G_AB/ only,
    # such as the reference's photo -> painting style_* models); other folders hold both.
    return {"name": folder.name, "domain_a": "A", "domain_b": "B", "license": "unknown", "summary": "",
            "directions": [d.value for d in Direction], **manifest}


def default_direction(manifest: dict, directions: Iterable[Direction | str]) -> Direction:
    """The direction a model translates in unless told: its manifest's ``default_direction`` when the model has
    that generator (``directions``), else the first it has."""
    directions = [Direction.parse(d) for d in directions]
    wanted = Direction.parse(manifest.get("default_direction", directions[0]))
    return wanted if wanted in directions else directions[0]


def resolve_model_dir(path_or_repo_id: str | Path, *, revision: str | None = None, token: str | None = None,
                      cache_dir: str | None = None, local_files_only: bool = False) -> Path:
    """A local model folder as is, or a Hub repo's snapshot (from the cache when offline)."""
    path = Path(path_or_repo_id)
    if path.is_dir():
        return path
    name = str(path_or_repo_id)
    if path.exists() or not REPO_ID.match(name) or name.startswith((".", "/")):
        raise ModelNotFoundError(f"model folder not found: {name}")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError
    patterns = [MANIFEST, "README.md", "samples.png", *(f"{sub}/*" for sub in GENERATOR_FOLDERS.values())]
    try:
        return Path(snapshot_download(name, revision=revision, token=token, cache_dir=cache_dir,
                                      local_files_only=local_files_only, etag_timeout=5, allow_patterns=patterns))
    except RepositoryNotFoundError:
        raise ModelNotFoundError(f"no Hub model repo {name!r} (or it is private: pass a token)") from None
    except LocalEntryNotFoundError:
        raise ModelNotFoundError(f"Hub model {name!r} is not in the local cache and the Hub cannot be reached "
                                 "(offline or HF_HUB_OFFLINE=1)") from None
    except (HfHubHTTPError, OSError) as e:
        raise ModelNotFoundError(f"could not fetch Hub model {name!r}: {str(e).splitlines()[0]}") from None
