"""Writing model folders and publishing them: export (generators, manifest, model cards, samples), evaluation
results in the card's ``model-index``, the folder's defaults, and pushing to the Hugging Face Hub.

The layout itself (what a folder holds, how it loads) is ``cyclegan.model_folder``'s. Every card carries the
model's license. ``python -m cyclegan.hub FOLDER --native-size N --default-direction D`` sets how an exported
folder translates by default (``set_defaults``).
"""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Sequence

import torch
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from .direction import Direction, require
from .errors import ModelNotFoundError
from .model_folder import (CONFIG, GENERATOR_FOLDERS, MANIFEST, default_direction, missing_files, read_manifest)
from .networks import Generator, complexity
from .project import DOCS_URL, PAPER_URL, REPOSITORY_URL, TAGS

CARD = "README.md"
# The cards link to the code only where the project has an address (pyproject.toml's [project.urls]).
LINKS = f"Made with the [`cyclegan`]({REPOSITORY_URL}) package ([docs]({DOCS_URL}))." if REPOSITORY_URL else ""
# What an earlier version wrote there, with an address that was never the project's.
_OLD_LINKS = re.compile(r"^Made with the \[`cyclegan`\]\([^)]*\) package \(\[docs\]\([^)]*\)\)\.\n\n?", re.MULTILINE)


def license_metadata(manifest: dict) -> dict:
    """The card fields of the model's license: ``license``, and for ``other`` (terms without a Hub license id) the
    ``license_name`` and ``license_link`` that the Hub's model-card spec asks for beside it."""
    fields = {"license": manifest.get("license") or "unknown", "license_name": None, "license_link": None}
    if fields["license"] == "other":
        fields.update({key: manifest.get(key) or None for key in ("license_name", "license_link")})
    return fields


DISCRIMINATORS = {
    "patch": "the reference's 70x70 PatchGAN on pixels",
    "projected": "projected: trainable heads on frozen ImageNet features of EfficientNet-Lite0 (Projected GAN)",
    "both": "the PatchGAN and the projected discriminator on frozen EfficientNet-Lite0 features, their losses "
            "summed (Vision-aided GAN)",
}


def discriminator_line(model_config: dict) -> str:
    """The card's line on the discriminators the generators were trained against (they are not shipped)."""
    kind = model_config.get("discriminator", "patch")
    return f"Discriminators (used in training only, not shipped): {DISCRIMINATORS.get(kind, kind)}."


def native_scale_note(native_size: int | None) -> str:
    """The card's paragraph on a model's native scale (empty for a model without one)."""
    if not native_size:
        return ""
    return (f"\nThis model translates best at its training scale: `Translator` (and so the app and the CLI) resizes "
            f"each picture to about {native_size}×{native_size} pixels, aspect kept, translates it there and gives "
            "the result back at the picture's own size (the manifest's `native_size`; pass `native_size=0` to "
            "translate at full size).\n")


def use_section(manifest: dict) -> str:
    """The model card's "## Use" section: a snippet in the model's default direction, and its native scale."""
    use_direction = default_direction(manifest, manifest.get("directions", list(Direction)))
    use_a, use_b = use_direction.ends(manifest["domain_a"], manifest["domain_b"])
    return f"""## Use

```python
from PIL import Image
from cyclegan import Translator

translator = Translator.from_pretrained("path/or/user-repo")
real, fake, rec = translator(Image.open("input.jpg"), direction="{use_direction}")  # {use_a} -> {use_b}
fake.save("output.png")
```
{native_scale_note(manifest.get("native_size"))}
"""


def model_card(*, name: str, manifest: dict, train_config: dict, model_config: dict, train_seconds: float,
               hardware: str, epochs_done: int, dataset: str | None, extra: str | None, steps_done: int | None = None,
               complexity_line: str = "") -> str:
    data = ModelCardData(library_name="cyclegan", **license_metadata(manifest), pipeline_tag="image-to-image",
                         tags=TAGS, datasets=[dataset] if dataset else None)
    yaml = ["---", data.to_yaml(original_order=["library_name", "license", "license_name", "license_link",
                                                  "pipeline_tag", "tags"]), "---"]
    a, b = manifest["domain_a"], manifest["domain_b"]
    hours = train_seconds / 3600
    progress = f"{epochs_done} full epochs" + (f", {steps_done:,} steps in all" if steps_done is not None else "")
    directions = [Direction.parse(d) for d in manifest.get("directions", list(Direction))]
    if len(directions) == 1:  # G_AB or G_BA alone
        src, dst = directions[0].ends(a, b)
        what = (f"One ResNet generator trained with CycleGAN ([Zhu et al. 2017]({PAPER_URL})) on unpaired images: "
                f"`{GENERATOR_FOLDERS[directions[0]]}` turns **{src}** into **{dst}**. Only this direction is shipped, "
                "so there\nis no reconstruction.")
        arrow, samples = "→", f"{src} → {dst}"
    else:
        what = (f"Two ResNet generators trained with CycleGAN ([Zhu et al. 2017]({PAPER_URL})) "
                f"on\nunpaired images: `G_AB` turns **{a}** into **{b}**, `G_BA` turns **{b}** into **{a}**. Both are "
                "shipped, so\neach translation can be reconstructed (cycle consistency).")
        arrow, samples = "↔", f"in both directions ({a} → {b} → {a} and {b} → {a} → {b})"
    body = f"""
# CycleGAN: {name} ({a} {arrow} {b})

{what}
{f"{chr(10)}{LINKS}{chr(10)}" if LINKS else ""}
{manifest.get('summary', '')}

{use_section(manifest)}## Samples

Triptychs of real | generated | reconstructed images, {samples}.

![samples](samples.png)

## Training

- Trained for {progress}; training time {hours:.2f} h on {hardware}.
- {complexity_line}
- {discriminator_line(model_config)}
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
                 dtype: torch.dtype = torch.float16, license_name: str | None = None,
                 license_link: str | None = None, native_size: int | None = None,
                 default_direction: Direction | str | None = None, attribution: str | None = None) -> Path:
    """Write a complete model folder; it replaces ``folder`` only once fully written.

    ``license`` is the Hub license id of the weights, which follow their training data's terms: "unknown"
    unless the caller states them (train.py --license). With ``other``, ``license_name`` (a short id) and
    ``license_link`` (a URL) say what the terms are; they default to ``train_config``'s (train.py
    --license-name, --license-link). Every card of the folder, the generators' included, carries them.

    ``native_size`` (the scale ``Translator`` translates at, see there) and ``default_direction`` (the direction
    the app and ``Translator`` take unless told) go into the manifest, and the card says them. ``attribution``, a
    line naming the training data and its terms, goes into the manifest too: a static site's card repeats it.
    """
    license_name = license_name or train_config.get("license_name") or None
    license_link = license_link or train_config.get("license_link") or None
    if license == "other" and not (license_name and license_link):
        # A warning, not an error: this runs at the end of a training run, whose result must not be lost.
        warnings.warn("license 'other' without a license name and link: the model card cannot say what the terms "
                      "are (train.py --license-name NAME --license-link URL)", stacklevel=2)
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    staging.chmod(0o755)  # mkdtemp makes it private; a model folder is meant to be shared
    try:
        for label, G in zip(GENERATOR_FOLDERS.values(), (G_AB, G_BA)):
            if G is not None:  # G_BA is None for a one-direction model
                copy.deepcopy(G).to("cpu", dtype).save_pretrained(staging / label)
        size = int(train_config.get("crop_size") or 256)
        macs, params = complexity(G_AB if G_AB is not None else G_BA, size)
        complexity_line = (f"Each generator: {params:,} parameters, {macs / 1e9:.3f} G multiply-adds per "
                           f"{size}x{size} image (torch.utils.flop_counter).")
        if summary is None:
            done = f"{steps_done:,} steps" if steps_done is not None else f"{epochs_done} epochs"
            summary = (f"Trained for {done} at {size}px (ngf {model_config['ngf']}, {model_config['n_blocks']} "
                       f"{model_config.get('block', 'resnet')} blocks).")
        manifest = {"name": name, "domain_a": domain_a, "domain_b": domain_b, "license": license, "summary": summary}
        if license == "other":
            manifest.update({k: v for k, v in (("license_name", license_name), ("license_link", license_link)) if v})
        if G_AB is None or G_BA is None:  # a one-direction model
            manifest["directions"] = [d.value for d, G in zip(Direction, (G_AB, G_BA)) if G is not None]
        if native_size:
            manifest["native_size"] = int(native_size)
        if default_direction:
            manifest["default_direction"] = Direction.parse(default_direction).value
        if attribution:
            manifest["attribution"] = attribution
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        write_generator_cards(staging, {Direction.AtoB: G_AB, Direction.BtoA: G_BA})  # over the mixin's, which has no license
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


def generator_card(generator: Generator, manifest: dict, direction: str) -> ModelCard:
    """The card of one generator's subfolder: the mixin's own (library, tags, code, paper and docs links) with the
    model's license, and where to read the rest: the model's card one folder up."""
    card = generator.generate_model_card()
    # The mixin's template asks for the code and docs links the project may not have: say nothing instead.
    card.text = re.sub(r"^- (Code|Docs): \[More Information Needed\]$\n?", "", card.text, flags=re.MULTILINE)
    for key, value in {**license_metadata(manifest), "pipeline_tag": "image-to-image"}.items():
        card.data[key] = value
    a, b = manifest["domain_a"], manifest["domain_b"]
    source, target = Direction.parse(direction).ends(a, b)
    card.text = card.text.rstrip() + (
        f"\n\n`{GENERATOR_FOLDERS[direction]}` turns **{source}** into **{target}**: it is a generator of the CycleGAN "
        f"model **{manifest['name']}**. The model's card ([../README.md](../README.md)) gives its data, training, "
        "evaluation and license terms; load the model with `cyclegan.Translator.from_pretrained`.\n")
    return card


def write_generator_cards(folder: str | Path, generators: dict[str, torch.nn.Module | None] | None = None) -> None:
    """(Re)write ``G_AB/README.md`` (and ``G_BA/README.md``) from the folder's manifest.

    Without ``generators`` each is built from its ``config.json`` (no weights are read), as for a folder written
    before the generators' cards carried the model's license.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    for direction in manifest["directions"]:
        sub = folder / GENERATOR_FOLDERS[direction]
        generator = (generators or {}).get(direction)
        if generator is None:
            generator = Generator(**json.loads((sub / CONFIG).read_text()))
        generator_card(generator, manifest, direction).save(sub / CARD)


def _save_card(card: ModelCard, path: Path) -> None:
    """Replace a card file whole, so that an interrupted write leaves the old one."""
    tmp = path.with_name(f".{path.name}.tmp")
    card.save(tmp)
    tmp.chmod(0o644)
    os.replace(tmp, path)


def load_card(folder: str | Path) -> ModelCard:
    """The model card of a model folder; ``ModelNotFoundError`` if it has none."""
    path = Path(folder) / CARD
    if not path.is_file():
        raise ModelNotFoundError(f"{path} is missing: not a model folder written by cyclegan")
    return ModelCard.load(path)


def update_cards(folder: str | Path) -> None:
    """Bring the cards of an existing model folder in line with its manifest: each generator's card (license,
    links), the license fields of the model card, and its code and docs links."""
    folder = Path(folder)
    card = load_card(folder)
    write_generator_cards(folder)
    manifest = read_manifest(folder)
    for key, value in license_metadata(manifest).items():
        card.data[key] = value
    if not LINKS or LINKS not in card.text:  # an old or invented address goes
        card.text = _OLD_LINKS.sub("", card.text)
    if LINKS and LINKS not in card.text:  # after the title's first paragraph, where model_card() puts it
        title = re.search(r"^# .*\n\n(.+\n)+", card.text, re.MULTILINE)
        at = title.end() if title else 0
        card.text = f"{card.text[:at]}\n{LINKS}\n{'' if title else chr(10)}{card.text[at:]}"
    use = re.search(r"^## Use\n.*?(?=^## )", card.text, re.MULTILINE | re.DOTALL)
    if use:  # the example's direction and the native-scale paragraph follow the manifest
        card.text = card.text[:use.start()] + use_section(manifest) + card.text[use.end():]
    _save_card(card, folder / CARD)


def set_defaults(folder: str | Path, *, native_size: int | None = None,
                 default_direction: Direction | str | None = None) -> dict:
    """Give an exported model folder a native scale and/or a default direction (see ``export_model``), chosen
    after looking at its outputs; ``native_size=0`` removes the native scale. The model card's "Use" section
    follows. Returns the new manifest."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise ModelNotFoundError(f"{path} is missing: not a model folder written by cyclegan")
    manifest = json.loads(path.read_text())
    if native_size is not None:
        if native_size < 0:
            raise ValueError(f"native_size must be 0 (off) or a size in pixels, got {native_size}")
        manifest.pop("native_size", None)
        if native_size:
            manifest["native_size"] = int(native_size)
    if default_direction is not None:
        m = read_manifest(folder)
        manifest["default_direction"] = require(default_direction, m["directions"], m["domain_a"], m["domain_b"],
                                                folder.name).value
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.chmod(0o644)
    os.replace(tmp, path)
    update_cards(folder)
    return manifest


# -- evaluation results in the card's metadata -----------------------------------------------------------------
# (key in cyclegan.evaluate's results, metric id, name, scale, decimals): the figures as the evaluation's table
# prints them, so that card and table agree digit for digit.
CARD_METRICS = (("fid", "fid", "FID", 1, 2), ("kid_mean", "kid", "KID ×10³", 1e3, 2),
                ("l1", "l1", "paired L1 (pixels in [0,1])", 1, 4))
BASELINE = "identity baseline (the untranslated input)"


def eval_results(results: dict, manifest: dict, dataset: str) -> list[EvalResult]:
    """The ``EvalResult`` entries of one ``cyclegan.evaluate.evaluate`` run: FID, KID and (paired folders only)
    L1 of the translations, each with the identity baseline beside it (``metric_config`` translated / identity)."""
    direction = Direction.parse(results["direction"]).value  # a plain str: YAML would tag the enum as a Python object
    a, b = manifest["domain_a"], manifest["domain_b"]
    source, target = Direction.parse(direction).ends(a, b)
    test = {"inputs": results["num_input"], "targets": results["num_target"], "paired": results["paired"]}
    if results.get("size"):
        test["size"] = results["size"]
    if results.get("reference_dirs") and results["reference_dirs"] != [results["target_dir"]]:
        test["reference"] = " + ".join(Path(d).name for d in results["reference_dirs"])
    if "native_size" in results:
        test["native_size"] = results["native_size"] or "none"
    common = dict(task_type="image-to-image", task_name=f"{source} → {target}", dataset_type=dataset,
                  dataset_name=f"{dataset} test split, {source} → {target}", dataset_config=direction,
                  dataset_split="test", dataset_args=test)
    entries = []
    for key, metric, name, scale, digits in CARD_METRICS:
        for kind in ("translated", "identity"):
            value = results[kind].get(key)
            if value is None:  # L1 of unpaired folders
                continue
            args = None
            if metric == "kid":
                r = results[kind]
                args = {"std": round(scale * r["kid_std"], digits), "subsets": results["kid_subsets"],
                        "subset_size": results["kid_subset_size"]}
                if "kid_low" in r:  # the whole sets' KID and its bootstrap interval over both sides' images
                    args.update(whole=round(scale * r["kid"], digits), interval_95=[
                        round(scale * r["kid_low"], digits), round(scale * r["kid_high"], digits)],
                        bootstrap=results["bootstrap_rounds"])
                if kind == "translated" and "ratio" in results:
                    q = results["ratio"]
                    args.update(ratio_to_identity=round(q["kid"], 3), ratio_interval_95=[
                        round(q["low"], 3), round(q["high"], 3)], reading=q["reading"])
            entries.append(EvalResult(**common, metric_type=metric, metric_value=round(scale * value, digits),
                                      metric_name=name if kind == "translated" else f"{name}, {BASELINE}",
                                      metric_config=kind, metric_args=args))
    if results.get("domain_rate_target") is not None:
        probe = results["probe"]
        args = {"probe": "logistic regression on Inception features", "fitted_on": f"{probe['num_target']} "
                f"{Path(probe['target_dir']).name} + {probe['num_source']} {Path(probe['source_dir']).name}"}
        for kind, value, name in (("translated", results["translated"]["domain_rate"], "domain rate"),
                                  ("identity", results["identity"]["domain_rate"], f"domain rate, {BASELINE}"),
                                  ("target", results["domain_rate_target"], "domain rate of the real target images")):
            entries.append(EvalResult(**common, metric_type="domain-rate", metric_value=round(value, 3),
                                      metric_name=name, metric_config=kind, metric_args=args))
    return entries


def eval_section(card_text: str, direction: str, markdown: str) -> str:
    """``card_text`` with the evaluation table of ``direction`` replaced (or added, at the end of its "## Evaluation"
    section, which is made if there is none). The table sits between markers, so that a later run replaces it and
    the prose around it stays."""
    start, end = f"<!-- cyclegan-evaluation {direction} -->", f"<!-- /cyclegan-evaluation {direction} -->"
    block = f"{start}\n{markdown.strip()}\n{end}"
    old = re.search(re.escape(start) + ".*?" + re.escape(end), card_text, re.DOTALL)
    if old:
        return card_text[:old.start()] + block + card_text[old.end():]
    section = re.search(r"^## Evaluation\n.*?(?=^## |\Z)", card_text, re.MULTILINE | re.DOTALL)
    if section is None:
        return card_text.rstrip() + f"\n\n## Evaluation\n\n{block}\n"
    at = section.end()
    return card_text[:at].rstrip() + f"\n\n{block}\n\n" + card_text[at:].lstrip("\n")


def write_eval_results(model_dir: str | Path, results: dict | Sequence[dict], dataset: str | None = None,
                       table: str | None = None) -> ModelCard:
    """Write evaluation results into the ``model-index`` of ``model_dir/README.md``; returns the card written.

    ``results``: what ``cyclegan.evaluate.evaluate`` returns, or a list of them (one per direction). Each
    replaces the card's earlier results for the same direction and dataset; the others are kept, so the two
    directions can be evaluated one at a time. ``dataset`` names the test data (a Hub dataset id where there is
    one); default: the card's training dataset, else the folder that holds the input and target folders
    (``ROOT`` of ``ROOT/testA`` and ``ROOT/testB``). ``table``, with one result: its Markdown table
    (``cyclegan.evaluate.format_table``) for the card's Evaluation section, with the result's ``command``.
    """
    folder = Path(model_dir)
    card = load_card(folder)
    manifest = read_manifest(folder)
    new: list[EvalResult] = []
    for r in [results] if isinstance(results, dict) else results:
        name = dataset or (card.data.datasets or [None])[0] or _data_root_name(r)
        new += eval_results(r, manifest, name)
    replaced = {e.unique_identifier for e in new}
    kept = [e for e in card.data.eval_results or [] if e.unique_identifier not in replaced]
    card.data.eval_results = sorted(kept + new, key=lambda e: (e.dataset_type, e.dataset_config or ""))
    card.data.model_name = card.data.model_name or manifest["name"]
    if table is not None and isinstance(results, dict):
        command = f"```bash\n{results['command']}\n```\n\n" if results.get("command") else ""
        card.text = eval_section(card.text, str(results["direction"]), command + table)
    _save_card(card, folder / CARD)
    return card


def kid_ratio(folder: str | Path, direction: Direction | str | None = None) -> tuple[float, float, float] | None:
    """(ratio, low, high): the KID of the model's translations as a ratio to the untranslated inputs' and its 95 %
    interval, from the card's ``model-index``, in ``direction`` (default: the model's default direction); None
    where the card records none."""
    try:
        card = load_card(folder)
    except ModelNotFoundError:
        return None
    manifest = read_manifest(folder)
    direction = Direction.parse(direction or default_direction(manifest, manifest["directions"]))
    for e in card.data.eval_results or []:
        args = e.metric_args or {}
        if (e.metric_type == "kid" and e.metric_config == "translated" and e.dataset_config == direction.value
                and "ratio_interval_95" in args):
            low, high = args["ratio_interval_95"]
            return float(args["ratio_to_identity"]), float(low), float(high)
    return None


def beats_doing_nothing(folder: str | Path) -> bool | None:
    """Whether the model's card shows its translations closer to the target than the untranslated inputs, in its
    default direction: KID below theirs with the whole interval below 1. None for a card without that measurement
    (a model just trained: nothing says it is worse)."""
    ratio = kid_ratio(folder)
    return None if ratio is None else ratio[2] < 1


def _data_root_name(results: dict) -> str:
    """``emoji`` for ``data/emoji/testA`` against ``data/emoji/testB``; else both folders' names."""
    source, target = Path(results["input_dir"]).resolve(), Path(results["target_dir"]).resolve()
    return source.parent.name if source.parent == target.parent else f"{source.name}-{target.name}"


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


def push_space(folder: str | Path, repo_id: str, *, private: bool = False, token: str | None = None) -> str:
    """Create the static Space ``repo_id`` if needed and upload ``folder`` (a site of ``cyclegan.export``, its
    README.md the Space's configuration); returns the Space's address. The token is ``token``, else HF_TOKEN or
    the saved login of ``hf auth login``."""
    from huggingface_hub import HfApi
    folder = Path(folder)
    if not (folder / "index.html").is_file() or not (folder / CARD).is_file():
        raise ModelNotFoundError(f"{folder} is not a site made by python -m cyclegan.export --site")
    api = HfApi(token=token)
    url = api.create_repo(repo_id, repo_type="space", space_sdk="static", private=private, exist_ok=True)
    api.upload_folder(repo_id=repo_id, repo_type="space", folder_path=str(folder),
                      commit_message="Upload the CycleGAN static site")
    return str(url)


def main(argv: list[str] | None = None) -> int:
    import argparse
    parser = argparse.ArgumentParser(
        prog="python -m cyclegan.hub", description="Set how an exported model folder translates by default (its "
        "manifest), after looking at its outputs (benchmarks/native_scale.py); the model card follows.")
    parser.add_argument("model", help="a model folder (e.g. checkpoints/monet2photo or OUT/model of a run)")
    parser.add_argument("--native-size", type=int, default=None,
                        help="translate each picture at about NxN pixels and return its own size; 0 turns it off")
    parser.add_argument("--default-direction", default=None, choices=[d.value for d in Direction],
                        help="the direction the app, Translator and the CLI take unless told")
    args = parser.parse_args(argv)
    if args.native_size is None and args.default_direction is None:
        parser.error("nothing to set: give --native-size and/or --default-direction")
    try:
        manifest = set_defaults(args.model, native_size=args.native_size, default_direction=args.default_direction)
    except (ModelNotFoundError, ValueError) as e:
        parser.exit(2, f"python -m cyclegan.hub: error: {e}\n")
    print(json.dumps(manifest, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
