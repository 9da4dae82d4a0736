"""Model folders: export (both generators, manifest, model card), loading, and pushing to the Hugging Face Hub.

A model folder holds ``G_AB/`` and ``G_BA/`` (each ``config.json`` + ``model.safetensors``, as written by
``PyTorchModelHubMixin.save_pretrained``), ``manifest.json`` (what the app shows), ``README.md`` (the
model card) and ``samples.png``.
"""
from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file

from .networks import Generator, complexity

MANIFEST = "manifest.json"
GENERATOR_FOLDERS = {"AtoB": "G_AB", "BtoA": "G_BA"}  # the subfolder that holds each direction's generator


class ModelNotFoundError(Exception):
    """A model path or repo id that does not lead to a usable model folder, with the reason in one line."""


def load_generator(folder: str | Path, device: str | torch.device = "cpu") -> Generator:
    """Build a Generator from ``folder/config.json`` and load ``model.safetensors`` strictly, as fp32."""
    folder = Path(folder)
    config_file, weights = folder / "config.json", folder / "model.safetensors"
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
            "directions": ["AtoB", "BtoA"], **manifest}


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
    if manifest.get("directions", ["AtoB", "BtoA"]) == ["AtoB"]:
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
        for label, G in (("G_AB", G_AB), ("G_BA", G_BA)):
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
            manifest["directions"] = ["AtoB"]
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
    directions = read_manifest(folder)["directions"]
    for direction, sub in GENERATOR_FOLDERS.items():
        if direction in directions and not (folder / sub / "model.safetensors").is_file():
            raise ModelNotFoundError(f"{folder} has no {sub}/model.safetensors: nothing complete to push")
    api = HfApi(token=token or os.environ.get("HF_TOKEN"))
    url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    api.upload_folder(repo_id=repo_id, repo_type="model", folder_path=str(folder),
                      commit_message="Upload CycleGAN generators G_AB and G_BA")
    return str(url)
