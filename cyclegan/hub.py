"""Model folders: their layout and what makes one complete, loading, resolving Hub repo ids to folders, export
(generators, manifest, model card), and pushing to the Hugging Face Hub.

A model folder holds ``G_AB/`` and ``G_BA/`` (each ``config.json`` + ``model.safetensors``, as written by
``PyTorchModelHubMixin.save_pretrained``), ``manifest.json`` (what the app shows), ``README.md`` (the
model card) and ``samples.png``. A one-direction model holds ``G_AB/`` only, and its manifest says so.
"""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file

from .direction import Direction
from .networks import Generator, complexity

MANIFEST = "manifest.json"
GENERATOR_FOLDERS = {Direction.AtoB: "G_AB", Direction.BtoA: "G_BA"}  # the subfolder of each direction's generator
CONFIG, WEIGHTS = "config.json", "model.safetensors"  # in each generator's subfolder
# A Hub repo id is "name" or "owner/name"; anything else that does not exist locally is a wrong path.
REPO_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")


class ModelNotFoundError(Exception):
    """A model path or repo id that does not lead to a usable model folder, with the reason in one line."""


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


def model_card(*, name: str, manifest: dict, train_config: dict, model_config: dict, train_seconds: float,
               hardware: str, epochs_done: int, dataset: str | None, extra: str | None, steps_done: int | None = None,
               complexity_line: str = "") -> str:
    tags = ["cyclegan", "image-to-image", "unpaired-image-translation", "pytorch", "gan"]
    yaml = ["---", "library_name: cyclegan", f"license: {manifest['license']}", "pipeline_tag: image-to-image",
            "tags:", *[f"- {t}" for t in tags]]
    if dataset:
        yaml += ["datasets:", f"- {dataset}"]
    yaml.append("---")
    a, b = manifest["domain_a"], manifest["domain_b"]
    hours = train_seconds / 3600
    progress = f"{epochs_done} full epochs" + (f", {steps_done:,} steps in all" if steps_done is not None else "")
    if manifest.get("directions", list(Direction)) == [Direction.AtoB]:
        what = (f"One ResNet generator trained with CycleGAN ([Zhu et al. 2017](https://arxiv.org/abs/1703.10593)) "
                f"on unpaired images: `G_AB` turns **{a}** into **{b}**. Only this direction is shipped, so there\n"
                "is no reconstruction.")
        arrow, samples = "→", f"{a} → {b}"
    else:
        what = (f"Two ResNet generators trained with CycleGAN ([Zhu et al. 2017](https://arxiv.org/abs/1703.10593)) "
                f"on\nunpaired images: `G_AB` turns **{a}** into **{b}**, `G_BA` turns **{b}** into **{a}**. Both are "
                "shipped, so\neach translation can be reconstructed (cycle consistency).")
        arrow, samples = "↔", f"in both directions ({a} → {b} → {a} and {b} → {a} → {b})"
    body = f"""
# CycleGAN: {name} ({a} {arrow} {b})

{what}

{manifest.get('summary', '')}

## Use

```python
from PIL import Image
from cyclegan import Translator

translator = Translator.from_pretrained("path/or/user-repo")
real, fake, rec = translator(Image.open("input.jpg"), direction="AtoB")  # {a} -> {b}
fake.save("output.png")
```

## Samples

Triptychs of real | generated | reconstructed images, {samples}.

![samples](samples.png)

## Training

- Trained for {progress}; training time {hours:.2f} h on {hardware}.
- {complexity_line}
- Weights are stored as fp16 safetensors and load as fp32.

Model config:

```json
{json.dumps(model_config, indent=2)}
```

Training config:

```json
{json.dumps({k: v for k, v in train_config.items() if k != 'hub_token'}, indent=2)}
```
"""
    if extra:  # e.g. data provenance and an evaluation table, as Markdown sections
        body += f"\n{extra.strip()}\n"
    return "\n".join(yaml) + "\n" + body


def export_model(G_AB: torch.nn.Module, G_BA: torch.nn.Module | None, folder: str | Path, *, name: str, domain_a: str,
                 domain_b: str, train_config: dict, model_config: dict, sample: Path | None = None,
                 train_seconds: float = 0.0, hardware: str = "", epochs_done: int = 0, steps_done: int | None = None,
                 dataset: str | None = None,
                 license: str = "unknown", summary: str | None = None, extra: str | None = None,
                 dtype: torch.dtype = torch.float16) -> Path:
    """Write a complete model folder; it replaces ``folder`` only once fully written.

    ``license`` is the Hub license id of the weights, which follow their training data's terms: "unknown"
    unless the caller states them (train.py --license).
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    staging.chmod(0o755)  # mkdtemp makes it private; a model folder is meant to be shared
    try:
        for label, G in zip(GENERATOR_FOLDERS.values(), (G_AB, G_BA)):
            if G is not None:  # G_BA is None for a one-direction model
                copy.deepcopy(G).to("cpu", dtype).save_pretrained(staging / label)
        size = int(train_config.get("crop_size") or 256)
        macs, params = complexity(G_AB, size)
        complexity_line = (f"Each generator: {params:,} parameters, {macs / 1e9:.3f} G multiply-adds per "
                           f"{size}x{size} image (torch.utils.flop_counter).")
        if summary is None:
            done = f"{steps_done:,} steps" if steps_done is not None else f"{epochs_done} epochs"
            summary = (f"Trained for {done} at {size}px (ngf {model_config['ngf']}, {model_config['n_blocks']} "
                       f"{model_config.get('block', 'resnet')} blocks).")
        manifest = {"name": name, "domain_a": domain_a, "domain_b": domain_b, "license": license, "summary": summary}
        if G_BA is None:
            manifest["directions"] = [Direction.AtoB.value]
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if sample is not None:
            shutil.copyfile(sample, staging / "samples.png")
        (staging / "README.md").write_text(model_card(
            name=name, manifest=manifest, train_config=train_config, model_config=model_config,
            train_seconds=train_seconds, hardware=hardware, epochs_done=epochs_done, dataset=dataset,
            extra=extra, steps_done=steps_done, complexity_line=complexity_line))
        # Readable by all, like any shared artefact: safetensors writes its files owner-only (0600), which breaks
        # serving the folder as another user or from a container.
        for path in staging.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def push_model(folder: str | Path, repo_id: str, *, private: bool = False, token: str | None = None) -> str:
    """Create ``repo_id`` if needed and upload the whole model folder (both generators); returns the repo URL."""
    from huggingface_hub import HfApi
    folder = Path(folder)
    missing = missing_files(folder)
    if missing:
        raise ModelNotFoundError(f"{folder} has no {missing[0].relative_to(folder)}: nothing complete to push")
    api = HfApi(token=token or os.environ.get("HF_TOKEN"))
    url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    api.upload_folder(repo_id=repo_id, repo_type="model", folder_path=str(folder),
                      commit_message="Upload CycleGAN generators G_AB and G_BA")
    return str(url)
