"""The model card: what it says (the model, its data and license, how it was trained, how to use it) and its
``model-index``, the evaluation results the Hub shows, made from an ``evaluate.Evaluation``. Text and metadata only:
``cyclegan.model_folder`` writes the cards into a folder and reads them back.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from .direction import Direction
from .networks import Generator
from .probe import rate_interval
from .project import DOCS_URL, PAPER_URL, REPOSITORY_URL, TAGS

if TYPE_CHECKING:
    from .results import Evaluation

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


def use_section(manifest: dict, use_direction: Direction) -> str:
    """The model card's "## Use" section: a snippet in ``use_direction`` (the model's default), and its native
    scale."""
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


SAMPLES = """## Samples

Triptychs of real | generated | reconstructed images, {}.

![samples](samples.png)

"""


def model_card(*, name: str, manifest: dict, use_direction: Direction, train_config: dict, model_config: dict,
               train_seconds: float, hardware: str, epochs_done: int, dataset: str | None, extra: str | None,
               steps_done: int | None = None, complexity_line: str = "", samples: bool = True) -> str:
    """The model card's text, its metadata (license, tags, dataset) on top. A camera's students
    (``cyclegan.distill``: ``train_config["distilled_from"]``) say what they learnt from."""
    data = ModelCardData(library_name="cyclegan", **license_metadata(manifest), pipeline_tag="image-to-image",
                         tags=TAGS, datasets=[dataset] if dataset else None)
    yaml = ["---", data.to_yaml(original_order=["library_name", "license", "license_name", "license_link",
                                                  "pipeline_tag", "tags"]), "---"]
    a, b = manifest["domain_a"], manifest["domain_b"]
    hours = train_seconds / 3600
    progress = f"{epochs_done} full epochs" + (f", {steps_done:,} steps in all" if steps_done is not None else "")
    directions = [Direction.parse(d) for d in manifest.get("directions", list(Direction))]
    teacher = train_config.get("distilled_from")
    if teacher:
        what = (f"Two narrow ResNet generators for a live camera, distilled from {teacher}'s: each learnt its "
                "teacher's\ntranslation of the domain's own photos (the L1 distance to the teacher's output) with "
                "an adversarial loss against\nreal images of the target domain (a PatchGAN), as GAN Compression "
                "does. Pictures keep the teacher; the camera\nruns these (the teacher's manifest names this folder).")
        arrow, samples_of = "↔", ""
        progress = f"{steps_done or 0:,} steps of distillation"
    elif len(directions) == 1:  # G_AB or G_BA alone
        src, dst = directions[0].ends(a, b)
        what = (f"One ResNet generator trained with CycleGAN ([Zhu et al. 2017]({PAPER_URL})) on unpaired images: "
                f"`{directions[0].generator}` turns **{src}** into **{dst}**. Only this direction is shipped, "
                "so there\nis no reconstruction.")
        arrow, samples_of = "→", f"{src} → {dst}"
    else:
        what = (f"Two ResNet generators trained with CycleGAN ([Zhu et al. 2017]({PAPER_URL})) "
                f"on\nunpaired images: `G_AB` turns **{a}** into **{b}**, `G_BA` turns **{b}** into **{a}**. Both are "
                "shipped, so\neach translation can be reconstructed (cycle consistency).")
        arrow, samples_of = "↔", f"in both directions ({a} → {b} → {a} and {b} → {a} → {b})"
    body = f"""
# CycleGAN: {name} ({a} {arrow} {b})

{what}
{f"{chr(10)}{LINKS}{chr(10)}" if LINKS else ""}
{manifest.get('summary', '')}

{use_section(manifest, use_direction)}{SAMPLES.format(samples_of) if samples else ""}## Training

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
        f"\n\n`{Direction.parse(direction).generator}` turns **{source}** into **{target}**: it is a generator of the CycleGAN "
        f"model **{manifest['name']}**. The model's card ([../README.md](../README.md)) gives its data, training, "
        "evaluation and license terms; load the model with `cyclegan.Translator.from_pretrained`.\n")
    return card


# -- evaluation results in the card's metadata -----------------------------------------------------------------
# (key in cyclegan.evaluate's results, metric id, name, scale, decimals): the figures as the evaluation's table
# prints them, so that card and table agree digit for digit.
CARD_METRICS = (("fid", "fid", "FID", 1, 2), ("kid_mean", "kid", "KID ×10³", 1e3, 2),
                ("l1", "l1", "paired L1 (pixels in [0,1])", 1, 4))


BASELINE = "identity baseline (the untranslated input)"


def eval_results(results: Evaluation, manifest: dict, dataset: str) -> list[EvalResult]:
    """The ``EvalResult`` entries of one ``cyclegan.evaluate.evaluate`` run: FID, KID and (paired folders only)
    L1 of the translations, each with the identity baseline beside it (``metric_config`` translated / identity)."""
    r = results
    direction = Direction.parse(r.direction).value  # a plain str: YAML would tag the enum as a Python object
    a, b = manifest["domain_a"], manifest["domain_b"]
    source, target = Direction.parse(direction).ends(a, b)
    test = {"inputs": r.num_input, "targets": r.num_target, "paired": r.paired}
    if r.size:
        test["size"] = r.size
    if r.reference_dirs and r.reference_dirs != [r.target_dir]:
        test["reference"] = " + ".join(Path(d).name for d in r.reference_dirs)
    test["native_size"] = r.native_size or "none"
    common = dict(task_type="image-to-image", task_name=f"{source} → {target}", dataset_type=dataset,
                  dataset_name=f"{dataset} test split, {source} → {target}", dataset_config=direction,
                  dataset_split="test", dataset_args=test)
    entries = []
    for key, metric, name, scale, digits in CARD_METRICS:
        for kind in ("translated", "identity"):
            s = getattr(r, kind)
            value = getattr(s, key)
            if value is None:  # L1 of unpaired folders
                continue
            args = None
            if metric == "kid":
                # the subsets' spread, and the whole sets' KID with its bootstrap interval over both sides' images
                args = {"std": round(scale * s.kid_std, digits), "subsets": r.kid_subsets,
                        "subset_size": r.kid_subset_size, "whole": round(scale * s.kid, digits),
                        "interval_95": [round(scale * s.kid_low, digits), round(scale * s.kid_high, digits)],
                        "bootstrap": r.bootstrap_rounds}
                if kind == "translated":
                    args.update(ratio_to_identity=round(r.ratio.kid, 3), ratio_interval_95=[
                        round(r.ratio.low, 3), round(r.ratio.high, 3)], reading=r.ratio.reading)
            entries.append(EvalResult(**common, metric_type=metric, metric_value=round(scale * value, digits),
                                      metric_name=name if kind == "translated" else f"{name}, {BASELINE}",
                                      metric_config=kind, metric_args=args))
    if r.domain_rate_target is not None:
        probe = r.probe
        args = {"probe": "logistic regression on Inception features", "fitted_on": f"{probe.num_target} "
                f"{Path(probe.target_dir).name} + {probe.num_source} {Path(probe.source_dir).name}"}
        for kind, value, name in (("translated", r.translated.domain_rate, "domain rate"),
                                  ("identity", r.identity.domain_rate, f"domain rate, {BASELINE}"),
                                  ("target", r.domain_rate_target, "domain rate of the real target images")):
            # for the card's readers; the real targets' rate is a reference point, measured on a count the
            # results do not keep where --reference adds folders (num_target counts the reference)
            interval = {} if kind == "target" else {
                "interval_95": [round(x, 3) for x in rate_interval(value, r.num_input)]}
            entries.append(EvalResult(**common, metric_type="domain-rate", metric_value=round(value, 3),
                                      metric_name=name, metric_config=kind, metric_args={**args, **interval}))
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


def data_root_name(results: Evaluation) -> str:
    """``emoji`` for ``data/emoji/testA`` against ``data/emoji/testB``; else both folders' names."""
    source, target = Path(results.input_dir).resolve(), Path(results.target_dir).resolve()
    return source.parent.name if source.parent == target.parent else f"{source.name}-{target.name}"
