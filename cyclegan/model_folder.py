"""Model folders, read and written: the layout (a generator subfolder per direction, the manifest, the model card
and each generator's), loading, saving a complete folder, setting its defaults later, and the evaluation results in
its card (which the demo reads to decide whether to list a model).

A model folder holds ``G_AB/`` and ``G_BA/`` (each ``config.json`` + ``model.safetensors``, as written by
``PyTorchModelHubMixin.save_pretrained``, and a card), ``manifest.json`` (its name, domains, license, directions,
native scale, default direction), ``README.md`` (the model card, ``cyclegan.card``) and ``samples.png``. A
one-direction model holds one generator subfolder, and its manifest's ``directions`` says which. A Hub repo id is
fetched by ``cyclegan.hub.resolve_model_dir``.

    python -m cyclegan.model_folder checkpoints/monet2photo --native-size 224 --default-direction BtoA
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
from typing import TYPE_CHECKING, Iterable, Sequence

import torch
from safetensors.torch import load_file

from .config import program
from .direction import Direction, require
from .errors import ModelNotFoundError
from .networks import Generator, complexity
from .probe import rate_interval

if TYPE_CHECKING:
    from huggingface_hub import EvalResult, ModelCard

    from .results import Evaluation

CARD = "README.md"  # the model card, beside the generators (``cyclegan.card`` says what it holds)
MANIFEST = "manifest.json"
CAMERA = "camera"  # the subfolder of the camera's distilled generators, when a model has them
GENERATOR_FOLDERS = {d: d.generator for d in Direction}  # the subfolder of each direction's generator
CONFIG, WEIGHTS = "config.json", "model.safetensors"  # in each generator's subfolder


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


def use_direction(manifest: dict) -> Direction:
    """The direction the model card's example translates in: the model's default."""
    return default_direction(manifest, manifest.get("directions", list(Direction)))



# -- writing a model folder: generators, manifest, cards, and what is set later --------------------------------------
def save_model_folder(G_AB: torch.nn.Module, G_BA: torch.nn.Module | None, folder: str | Path, *, name: str, domain_a: str,
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
    from .card import model_card
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
        (staging / CARD).write_text(model_card(
            name=name, manifest=manifest, use_direction=use_direction(manifest), train_config=train_config,
            model_config=model_config,
            train_seconds=train_seconds, hardware=hardware, epochs_done=epochs_done, dataset=dataset,
            extra=extra, steps_done=steps_done, complexity_line=complexity_line, samples=sample is not None))
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


def write_generator_cards(folder: str | Path, generators: dict[str, torch.nn.Module | None] | None = None) -> None:
    """(Re)write ``G_AB/README.md`` (and ``G_BA/README.md``) from the folder's manifest.

    Without ``generators`` each is built from its ``config.json`` (no weights are read), as for a folder written
    before the generators' cards carried the model's license.
    """
    from .card import generator_card
    folder = Path(folder)
    manifest = read_manifest(folder)
    for direction in manifest["directions"]:
        sub = folder / GENERATOR_FOLDERS[direction]
        generator = (generators or {}).get(direction)
        if generator is None:
            generator = Generator(**json.loads((sub / CONFIG).read_text()))
        generator_card(generator, manifest, direction).save(sub / CARD)


def _replace_text(path: Path, text: str) -> None:
    """Replace a file (a manifest, a card) whole, so that an interrupted write leaves the old one; written as
    ``ModelCard.save`` writes (UTF-8, newlines as they are)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8", newline="")
    tmp.chmod(0o644)
    os.replace(tmp, path)


def _write_manifest(path: Path, manifest: dict) -> None:
    _replace_text(path, json.dumps(manifest, indent=2) + "\n")


def _save_card(card: ModelCard, path: Path) -> None:
    _replace_text(path, str(card))


def load_card(folder: str | Path) -> ModelCard:
    """The model card of a model folder; ``ModelNotFoundError`` if it has none."""
    from huggingface_hub import ModelCard
    path = Path(folder) / CARD
    if not path.is_file():
        raise ModelNotFoundError(f"{path} is missing: not a model folder written by cyclegan")
    return ModelCard.load(path)


def update_cards(folder: str | Path) -> None:
    """Bring the cards of an existing model folder in line with its manifest: each generator's card (license,
    links), the license fields of the model card, and its code and docs links."""
    from .card import LINKS, _OLD_LINKS, license_metadata, use_section
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
        card.text = card.text[:use.start()] + use_section(manifest, use_direction(manifest)) + card.text[use.end():]
    _save_card(card, folder / CARD)


def set_defaults(folder: str | Path, *, native_size: int | None = None,
                 default_direction: Direction | str | None = None) -> dict:
    """Give an exported model folder a native scale and/or a default direction (see ``save_model_folder``), chosen
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
    _write_manifest(path, manifest)
    update_cards(folder)
    return manifest


def camera_folder(folder: str | Path) -> Path | None:
    """The model folder whose generators the camera uses, when the manifest names one (``"camera"``: a subfolder
    holding a cheaper, distilled pair; see ``cyclegan.distill``); None when the camera uses the model's own."""
    name = read_manifest(folder).get("camera")
    return _camera_subfolder(Path(folder), name) if name else None


def _camera_subfolder(folder: Path, name: str) -> Path:
    sub = (folder / name).resolve()
    if folder.resolve() not in sub.parents or not is_complete(sub):
        raise ModelNotFoundError(f"{folder / MANIFEST} names the camera's model {name!r}, which is not a complete "
                                 "model folder inside it")
    return sub


def set_camera(folder: str | Path, name: str | None) -> dict:
    """Name the subfolder whose generators the camera uses (None: the model's own). Returns the new manifest."""
    folder = Path(folder)
    path = folder / MANIFEST
    manifest = json.loads(path.read_text())
    manifest.pop("camera", None)
    if name:
        _camera_subfolder(folder, name)  # the name must lead to a complete model folder, before it is written
        manifest["camera"] = name
    _write_manifest(path, manifest)
    return manifest


def write_eval_results(model_dir: str | Path, results: Evaluation | Sequence[Evaluation], dataset: str | None = None,
                       table: str | None = None) -> ModelCard:
    """Write evaluation results into the ``model-index`` of ``model_dir/README.md``; returns the card written.

    ``results``: what ``cyclegan.evaluate.evaluate`` returns, or a list of them (one per direction). Each
    replaces the card's earlier results for the same direction and dataset; the others are kept, so the two
    directions can be evaluated one at a time. ``dataset`` names the test data (a Hub dataset id where there is
    one); default: the card's training dataset, else the folder that holds the input and target folders
    (``ROOT`` of ``ROOT/testA`` and ``ROOT/testB``). ``table``, with one result: its Markdown table
    (``cyclegan.evaluate.format_table``) for the card's Evaluation section, with the result's ``command``.
    """
    from .card import data_root_name, eval_results, eval_section
    folder = Path(model_dir)
    card = load_card(folder)
    manifest = read_manifest(folder)
    new: list[EvalResult] = []
    one = not isinstance(results, (list, tuple))
    for r in [results] if one else results:
        name = dataset or (card.data.datasets or [None])[0] or data_root_name(r)
        new += eval_results(r, manifest, name)
    replaced = {e.unique_identifier for e in new}
    kept = [e for e in card.data.eval_results or [] if e.unique_identifier not in replaced]
    card.data.eval_results = sorted(kept + new, key=lambda e: (e.dataset_type, e.dataset_config or ""))
    card.data.model_name = card.data.model_name or manifest["name"]
    if table is not None and one:
        command = f"```bash\n{results.command}\n```\n\n" if results.command else ""
        card.text = eval_section(card.text, str(results.direction), command + table)
    _save_card(card, folder / CARD)
    return card


def _measured(folder: str | Path, direction: Direction | str | None) -> list[EvalResult]:
    """The card's evaluation entries in ``direction`` (default: the model's default direction), of one test set:
    the one whose KID ratio comes first (a card can hold several, ``write_eval_results(dataset=...)``); [] without
    a card."""
    try:
        card = load_card(folder)
    except ModelNotFoundError:
        return []
    manifest = read_manifest(folder)
    direction = Direction.parse(direction or default_direction(manifest, manifest["directions"]))
    entries = [e for e in card.data.eval_results or [] if e.dataset_config == direction.value]
    kid = next((e for e in entries if _is_kid_ratio(e)), None)
    return [e for e in entries if kid is None or e.dataset_type == kid.dataset_type]


def _is_kid_ratio(e: EvalResult) -> bool:
    return e.metric_type == "kid" and e.metric_config == "translated" and "ratio_interval_95" in (e.metric_args or {})


def _kid_ratio(entries: list[EvalResult]) -> tuple[float, float, float] | None:
    for e in filter(_is_kid_ratio, entries):
        low, high = e.metric_args["ratio_interval_95"]
        return float(e.metric_args["ratio_to_identity"]), float(low), float(high)
    return None


def _domain_rates(entries: list[EvalResult]) -> dict[str, tuple[float, float, float]]:
    rates = {}
    for e in entries:
        n = (e.dataset_args or {}).get("inputs")
        if e.metric_type == "domain-rate" and n and e.metric_config in ("translated", "identity"):
            rates.setdefault(e.metric_config, (float(e.metric_value), *rate_interval(float(e.metric_value), int(n))))
    return rates


def kid_ratio(folder: str | Path, direction: Direction | str | None = None) -> tuple[float, float, float] | None:
    """(ratio, low, high): the KID of the model's translations as a ratio to the untranslated inputs' and its 95 %
    interval, from the card's ``model-index``, in ``direction`` (default: the model's default direction); None
    where the card records none."""
    return _kid_ratio(_measured(folder, direction))


def domain_rates(folder: str | Path, direction: Direction | str | None = None
                 ) -> dict[str, tuple[float, float, float]]:
    """The probe's domain rates on the card, in ``direction`` (default: the model's default direction), on the test
    set ``kid_ratio`` reads: "translated" and "identity" (the untranslated inputs) as (rate, low, high) with the
    95 % Wilson interval over the test inputs (recomputed from the rate and the count, so older cards read the
    same); empty where the card records none."""
    return _domain_rates(_measured(folder, direction))


def beats_doing_nothing(folder: str | Path) -> bool | None:
    """Whether the model's card shows its translations closer to the target than the untranslated inputs, in its
    default direction: KID below theirs with the whole interval below 1; or, where KID cannot tell (its interval
    holds 1: inputs already near the target, as summer and winter photos of the same valleys are), the probe's
    domain rate measurably above the untranslated inputs' (the two 95 % intervals apart). KID measurably above
    theirs is never listed. None for a card without the KID measurement (a model just trained: nothing says it is
    worse)."""
    entries = _measured(folder, None)  # the card is read once: the app asks this of every shipped model at start
    ratio = _kid_ratio(entries)
    if ratio is None:
        return None
    if ratio[2] < 1:
        return True
    rates = _domain_rates(entries)
    return (ratio[1] <= 1 and "translated" in rates and "identity" in rates
            and rates["translated"][1] > rates["identity"][2])


def main(argv: list[str] | None = None) -> int:
    import argparse
    parser = argparse.ArgumentParser(
        prog=program("python -m cyclegan.model_folder"), description="Set how an exported model folder translates by default (its "
        "manifest), after looking at its outputs (python -m benchmarks.native_scale); the model card follows.")
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
        parser.exit(2, f"python -m cyclegan.model_folder: error: {e}\n")
    print(json.dumps(manifest, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
