"""Evaluate a translator: translate one domain's test folder and compare it with the other domain's images.

FID and KID on the standard Inception-v3 pool features (``cyclegan.inception``; the maths in ``cyclegan.metrics``),
KID with a 95 % bootstrap interval and its ratio to the untranslated inputs'; the domain rate of a probe fitted on
the train splits (``cyclegan.probe``); L1, PSNR and SSIM where the folders pair by name. Every figure has the
identity baseline (the untranslated input scored the same way) beside it. ``evaluate`` returns an ``Evaluation``.
docs/USING.md explains each figure.

    python -m cyclegan.evaluate --model M --direction AtoB --dataroot data/emoji --json   # runs/eval/M-AtoB.json
    python -m cyclegan.evaluate --model checkpoints/monet2photo --direction BtoA --dataroot data/monet2photo \
        --reference data/monet2photo/trainA,data/monet2photo/testA --card     # into the card and its model-index
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from .config import program
from .device import resolve_device
from .direction import Direction
from .errors import DataError
from .images import list_images, load_image
from .inception import INSTALL_HINT, FeatureFn, ImageLike, InceptionFeatures, cached_features, features_cache_dir, \
    inception_weights_path, to_uint8
from .metrics import difference_note, fid_from_features, kid_bootstrap, kid_from_features, l1, psnr, ssim
from .probe import DomainProbe, rate_interval, spread_files
from .results import Baseline, Evaluation, Probe, Ratio, Scores

TranslatorFn = Callable[..., tuple[Image.Image, Image.Image, Image.Image]]  # t(img, direction=...) -> real, fake, rec


def to_float(img: ImageLike) -> torch.Tensor:
    """-> float64 (3,H,W) in [0,1]; float64 so paired metrics match skimage to ~1e-12."""
    return to_uint8(img).double() / 255.0


def pair_by_name(input_files: list[Path], target_files: list[Path]) -> dict[str, Path] | None:
    """{input stem: target file} if the folders hold the same file names (stems, so a.jpg pairs
    with a.png), else None."""
    stems_in, stems_tg = [p.stem for p in input_files], [p.stem for p in target_files]
    if len(set(stems_in)) != len(stems_in) or len(set(stems_tg)) != len(stems_tg) or set(stems_in) != set(stems_tg):
        return None
    return {p.stem: p for p in target_files}


def _translate_and_score(translator: TranslatorFn, direction: Direction, input_files: list[Path],
                         target_files: list[Path] | None, features: FeatureFn, size: int | None, batch_size: int,
                         baseline: TranslatorFn | None, progress: bool) -> tuple[dict, dict]:
    """The translated (and baseline) images' features, chunk by chunk so that a large test set never sits in memory
    as images; with ``target_files`` (paired by name) also L1, PSNR and SSIM of translated and untranslated."""
    feats: dict[str, list] = {"translated": [], "baseline": []}
    paired = {"translated": {"l1": [], "psnr": [], "ssim": []}, "identity": {"l1": [], "psnr": [], "ssim": []}}
    for c in range(0, len(input_files), batch_size):
        inputs = [load_image(p) for p in input_files[c:c + batch_size]]
        inputs = [im.resize((size, size), Image.BICUBIC) for im in inputs] if size else inputs
        fakes = [translator(im, direction=direction)[1] for im in inputs]
        feats["translated"].append(features(fakes))
        if baseline is not None:
            feats["baseline"].append(features([baseline(im, direction=direction)[1] for im in inputs]))
        if target_files:
            targets = [load_image(p) for p in target_files[c:c + batch_size]]
            for kind, ims in (("translated", fakes), ("identity", inputs)):
                for im, tg in zip(ims, targets):
                    im = im if im.size == tg.size else im.resize(tg.size, Image.BICUBIC)  # score at target resolution
                    x, y = to_float(im), to_float(tg)
                    for name, fn in (("l1", l1), ("psnr", psnr), ("ssim", ssim)):
                        paired[kind][name].append(fn(x, y))
        if progress:
            print(f"translated and scored {min(c + batch_size, len(input_files))}/{len(input_files)}", file=sys.stderr)
    return feats, paired


def evaluate(translator: TranslatorFn, direction: Direction | str, input_dir: str | Path, target_dir: str | Path, *,
             max_images: int | None = None, size: int | None = None, kid_subsets: int = 100,
             kid_subset_size: int = 1000, features: FeatureFn | None = None, batch_size: int = 32,
             seed: int = 0, progress: bool = False, json_path: str | Path | None = None,
             cache_dir: str | Path | None = "default", reference: Sequence[str | Path] | None = None,
             probe_train: tuple[str | Path, str | Path] | None = None, probe_max: int | None = 500,
             bootstrap_rounds: int = 200, baseline: TranslatorFn | None = None) -> Evaluation:
    """Translate input_dir with `translator` in `direction` and score the result against target_dir.

    translator: any callable t(pil_image, direction=...) -> (real, fake, rec) PIL images; fake is scored.
    size: if given, inputs are resized to size x size before translation (e.g. the training resolution);
          the identity baseline uses the same resized inputs.
    max_images: use only the first N inputs (sorted by name) and the first N targets (or the N paired ones).
    features: image list -> (N, D) features; default InceptionFeatures(). Tests pass a cheap stand-in.
    json_path: if given, the results are also written there as JSON.
    cache_dir: where the features of the untranslated inputs and of the targets are cached (see cached_features);
          "default" is ~/.cache/cyclegan/features, None turns the cache off.
    reference: folders of target-domain images that FID/KID compare against instead of target_dir (paired
          metrics still use target_dir).
    probe_train: (source-domain folder, target-domain folder) of training images for the domain-rate probe, at
          most probe_max images each (evenly spread); None: no domain rate.
    baseline: another translator (e.g. the model this one would replace) that translates the same inputs; then
          ``Evaluation.baseline`` holds its KID and interval and the ratio of the two KIDs with a paired interval
          (each bootstrap draw resamples the same inputs for both models), the fair test of "is the new model better".
    Returns an ``Evaluation``: the translations' and the untranslated inputs' ``Scores``, their KID ``Ratio``, and
    ``domain_rate_target``, the probe's rate on the real target images of target_dir.
    """
    t0 = time.time()
    direction = Direction.parse(direction)
    input_files, target_files = list_images(input_dir), list_images(target_dir)  # DataError if missing or empty
    reference_files = [f for folder in reference for f in list_images(folder)] if reference else None
    pairs = pair_by_name(input_files, target_files)
    input_files = input_files[:max_images]
    target_files = [pairs[p.stem] for p in input_files] if pairs else target_files[:max_images]
    features = features or InceptionFeatures(batch_size=batch_size)
    cache_dir = features_cache_dir() if cache_dir == "default" else cache_dir

    feats, paired = _translate_and_score(translator, direction, input_files, target_files if pairs else None,
                                         features, size, batch_size, baseline, progress)
    feats = {"translated": np.concatenate(feats["translated"]),
             "baseline": np.concatenate(feats["baseline"]) if baseline is not None else None,
             # With --size, the identity baseline sees the same resized inputs as the model.
             "identity": cached_features(input_files, features, size, batch_size, cache_dir, "inputs", progress),
             "target": cached_features(target_files, features, None, batch_size, cache_dir, "targets", progress)}
    feats["reference"] = (feats["target"] if reference_files is None else
                          cached_features(reference_files, features, None, batch_size, cache_dir, "reference", progress))
    probe = None
    if probe_train is not None:
        src_train, tgt_train = (spread_files(list_images(d), probe_max) for d in probe_train)
        probe = DomainProbe(cached_features(tgt_train, features, None, batch_size, cache_dir, "probe target", progress),
                            cached_features(src_train, features, None, batch_size, cache_dir, "probe source", progress),
                            seed=seed)
    if progress:
        print("FID and KID ...", file=sys.stderr)

    ref = feats["reference"]
    boot = kid_bootstrap(feats["translated"], ref, feats["identity"], bootstrap_rounds, seed=seed)
    scores = {}
    for kind in ("translated", "identity"):
        key = "kid" if kind == "translated" else "kid_identity"
        scores[kind] = Scores(fid_from_features(feats[kind], ref),
                              *kid_from_features(feats[kind], ref, kid_subsets, kid_subset_size, seed),
                              boot[key], boot[f"{key}_low"], boot[f"{key}_high"],
                              None if probe is None else probe.rate(feats[kind]),
                              **{k: float(np.mean(v)) if v else None for k, v in paired[kind].items()})
    other = None
    if baseline is not None:
        pair = kid_bootstrap(feats["translated"], ref, feats["baseline"], bootstrap_rounds, seed=seed)
        other = Baseline(pair["kid_identity"], pair["kid_identity_low"], pair["kid_identity_high"],
                         None if probe is None else probe.rate(feats["baseline"]), pair["ratio"], pair["ratio_low"],
                         pair["ratio_high"], difference_note(pair["ratio_low"], pair["ratio_high"]))
    results = Evaluation(
        direction=str(direction), input_dir=str(input_dir), target_dir=str(target_dir), num_input=len(input_files),
        num_target=len(ref), paired=pairs is not None, size=size, native_size=getattr(translator, "native_size", None),
        reference_dirs=[str(d) for d in reference] if reference else [str(target_dir)], kid_subsets=kid_subsets,
        kid_subset_size=min(kid_subset_size, len(input_files), len(ref)), bootstrap_rounds=bootstrap_rounds,
        translated=scores["translated"], identity=scores["identity"],
        ratio=Ratio(boot["ratio"], boot["ratio_low"], boot["ratio_high"],
                    difference_note(boot["ratio_low"], boot["ratio_high"])),
        baseline=other, domain_rate_target=None if probe is None else probe.rate(feats["target"]),
        probe=None if probe is None else Probe(str(probe_train[0]), str(probe_train[1]), probe.num_source,
                                               probe.num_target),
        seconds=round(time.time() - t0, 2))
    if json_path:
        write_json(results, json_path)
    return results


def write_json(results: Evaluation, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(results.to_dict(), indent=2) + "\n")


def _reading(reading: str, than: str) -> str:
    """A reading as a sentence's clause: "lower than THAN", or "no measurable difference" alone."""
    return reading if reading == "no measurable difference" else f"{reading} than {than}"


def format_table(results: Evaluation) -> str:
    """Markdown table: one row per metric, translated vs identity (untranslated input) columns."""
    r = results
    tr, idt = dataclasses.asdict(r.translated), dataclasses.asdict(r.identity)
    # When the subset size is both sets' size, every "random" subset is the whole of both sets: the subsets all
    # give the same figure, and a "± 0.00" would read as a measured, perfectly stable spread.
    whole = r.kid_subset_size == r.num_input == r.num_target
    kid = ((lambda r: f"{1e3 * r['kid_mean']:.2f}") if whole else
           (lambda r: f"{1e3 * r['kid_mean']:.2f} ± {1e3 * r['kid_std']:.2f}"))
    interval = lambda r: f"{1e3 * r['kid']:.2f} [{1e3 * r['kid_low']:.2f}, {1e3 * r['kid_high']:.2f}]"
    rows = [("FID ↓", lambda r: f"{r['fid']:.2f}"),
            ("KID ×10³ ↓" + ("" if whole else " (mean ± std)"), kid)]
    rows.append(("KID ×10³ ↓, whole sets [95 % bootstrap interval]", interval))
    if tr["domain_rate"] is not None:
        def rate(s: dict) -> str:
            low, high = rate_interval(s["domain_rate"], r.num_input)
            return f"{s['domain_rate']:.2f} [{low:.2f}, {high:.2f}]"
        rows.append(("domain rate ↑ (probe: target domain) [95 % Wilson interval]", rate))
    na = lambda f: (lambda r: "n/a (unpaired)" if r["l1"] is None else f(r))
    rows += [("L1 ↓ (pixels in [0,1])", na(lambda r: f"{r['l1']:.4f}")),
             ("PSNR (dB) ↑", na(lambda r: f"{r['psnr']:.2f}")),
             ("SSIM ↑", na(lambda r: f"{r['ssim']:.4f}"))]
    refs = r.reference_dirs or [r.target_dir]
    scale = r.native_size
    at = f"at {r.size} px" if r.size else "at their own size" + (
        f", translated at the model's native scale ({scale} px)" if scale else "")
    lines = [f"{r.direction}: {r.num_input} inputs from {r.input_dir} ({at}) vs "
             f"{r.num_target} targets from {' + '.join(refs)}"
             f"{' (paired by file name)' if r.paired else ''}", "",
             "| metric | translated | identity (untranslated) |", "|---|---:|---:|"]
    lines += [f"| {name} | {fmt(tr)} | {fmt(idt)} |" for name, fmt in rows]
    kid_note = (f"KID on all {r.kid_subset_size} images of both sets: with so few images each subset is "
                "the whole set, so there is no spread over subsets to report" if whole else
                f"KID: mean ± std over {r.kid_subsets} random subsets of {r.kid_subset_size} images per set")
    lines += ["", f"{kid_note}. Paired metrics at the target's resolution."]
    q = r.ratio
    lines += [f"KID translated / untranslated: {q.kid:.2f} [{q.low:.2f}, {q.high:.2f}], "
              f"{_reading(q.reading, 'the untranslated inputs')} "
              f"(95 % interval of {r.bootstrap_rounds} bootstrap draws of the inputs and the targets)."]
    if r.baseline is not None:
        b = r.baseline
        rate = "" if b.domain_rate is None else f", domain rate {b.domain_rate:.2f}"
        lines += [f"Against the baseline {r.baseline_model or ''}".rstrip() +
                  f" (KID ×10³ {1e3 * b.kid:.2f} [{1e3 * b.kid_low:.2f}, {1e3 * b.kid_high:.2f}]{rate}): "
                  f"KID this model / baseline {b.ratio:.2f} [{b.ratio_low:.2f}, {b.ratio_high:.2f}], "
                  f"{_reading(b.reading, 'the baseline')} "
                  "(paired: each bootstrap draw resamples the same inputs for both models)."]
    if r.domain_rate_target is not None:
        lines += [f"Domain rate: the fraction a logistic-regression probe on the Inception features (fitted on "
                  f"{r.probe.num_target} target and {r.probe.num_source} source training images) puts in the target "
                  f"domain; {r.domain_rate_target:.2f} for the real target images of {r.target_dir}."]
    return "\n".join(lines)


def card_command(argv: list[str]) -> str:
    """The command a card shows for its figures: this one, less where this run wrote its JSON (a local path)."""
    shown, skip = [], False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg == "--json":
            skip = i + 1 < len(argv) and not argv[i + 1].startswith("--")
            continue
        if not arg.startswith("--json="):
            shown.append(arg)
    return "python -m cyclegan.evaluate " + " ".join(shown)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=program("python -m cyclegan.evaluate"), description=__doc__.strip().split("\n")[0])
    p.add_argument("--model", required=True, help="checkpoint path or Hugging Face repo id (Translator.from_pretrained)")
    p.add_argument("--direction", required=True, choices=[d.value for d in Direction])
    p.add_argument("--dataroot", help="shorthand: input/target = ROOT/testA and ROOT/testB (swapped for BtoA)")
    p.add_argument("--dataset", help="a dataset by name, as train.py takes it (a standard set, downloaded into "
                   "--data-dir, or a Hub dataset USER/NAME[@REVISION]): its folder is the --dataroot")
    p.add_argument("--data-dir", default="datasets", help="where --dataset unpacks its downloads")
    p.add_argument("--domains", default="", help="with a Hub dataset of parquet files: its image columns or "
                   "configurations of domain A and B, comma-separated")
    p.add_argument("--input", help="folder of test images of the source domain")
    p.add_argument("--target", help="folder of test images of the target domain")
    p.add_argument("--json", nargs="?", const="", metavar="FILE",
                   help="also write the results as JSON to FILE; --json alone writes "
                        "runs/eval/MODEL-DIRECTION.json (not the current folder, often the repository root)")
    p.add_argument("--card", action="store_true",
                   help="also write the results into the model card (MODEL/README.md) as its model-index metadata, "
                        "which the Hub shows as evaluation results; they replace the card's earlier results for this "
                        "direction and keep the other direction's. Needs --model to be a local model folder")
    p.add_argument("--reference", help="folders of target-domain images that FID/KID compare against, comma-separated "
                   "(default: --target), e.g. ROOT/trainA,ROOT/testA: a larger reference set than a small test split; the "
                   "bootstrap works on one kernel matrix over all images, so keep it to a few thousand")
    p.add_argument("--probe", action=argparse.BooleanOptionalAction, default=True,
                   help="the domain rate: fit a logistic-regression probe on the train splits (ROOT/trainA, "
                        "ROOT/trainB of --dataroot, or --probe-train) and report the fraction put in the target domain")
    p.add_argument("--probe-train", help="SOURCE_DIR,TARGET_DIR: the training images of the probe (default: the "
                   "train splits of --dataroot)")
    p.add_argument("--probe-max", type=int, default=500, help="at most this many training images per domain for "
                   "the probe, evenly spread")
    p.add_argument("--baseline", help="another model (path or repo id, at its own native scale) that translates the "
                   "same inputs: reports the ratio of the two KIDs with a paired bootstrap interval, i.e. whether this "
                   "model is measurably better than the one it would replace")
    p.add_argument("--bootstrap", type=int, default=200, help="bootstrap draws of the KID interval")
    p.add_argument("--native-size", type=int, help="translate at this native scale instead of the model's (0: at "
                   "the images' own size), e.g. to choose a model's native_size")
    p.add_argument("--kid-subsets", type=int, default=100)
    p.add_argument("--kid-subset-size", type=int, default=1000)
    p.add_argument("--max-images", type=int, help="evaluate only the first N images (sorted by name)")
    p.add_argument("--size", type=int, help="resize inputs to SxS before translating, for the baseline too (default: "
                   "their own size); a model with a native_size still translates at that scale, as in the app")
    p.add_argument("--batch-size", type=int, default=32, help="Inception batch size")
    p.add_argument("--device", default="auto", help="device for the model and Inception: cpu, cuda, cuda:N or auto "
                   "(CUDA when present)")
    p.add_argument("--seed", type=int, default=0, help="seed of the KID subset sampling")
    return p


def main(argv: list[str] | None = None) -> Evaluation:
    p = build_parser()
    args = p.parse_args(argv)
    direction = Direction(args.direction)  # one of the choices

    # check everything cheap before loading any model, so mistakes fail in a second with one line
    if args.dataset:
        if args.dataroot:
            p.error("give --dataset or --dataroot, not both")
        from .datasets import dataset_folder
        from .errors import DownloadError
        try:
            args.dataroot = str(dataset_folder(args.dataset, args.data_dir, domains=args.domains))
        except DownloadError as e:
            p.error(str(e))
    if args.dataroot:
        a, b = Path(args.dataroot) / "testA", Path(args.dataroot) / "testB"
        src, tgt = direction.ends(a, b)
        args.input, args.target = args.input or src, args.target or tgt
    if not args.input or not args.target:
        p.error("give --input and --target folders, or --dataroot")
    reference = [d.strip() for d in args.reference.split(",") if d.strip()] if args.reference else None
    probe_train = None
    if args.probe_train:
        probe_train = tuple(d.strip() for d in args.probe_train.split(","))
        if len(probe_train) != 2:
            p.error(f"--probe-train takes SOURCE_DIR,TARGET_DIR; got {args.probe_train!r}")
    elif args.probe and args.dataroot and all((Path(args.dataroot) / f"train{x}").is_dir() for x in "AB"):
        probe_train = direction.ends(Path(args.dataroot) / "trainA", Path(args.dataroot) / "trainB")
    checks = ([("input", args.input), ("target", args.target)] + [("reference", d) for d in reference or []]
              + [("probe training", d) for d in probe_train or []])
    for name, folder in checks:
        try:
            list_images(folder)
        except DataError as e:
            p.error(f"{name} {e}")
    if probe_train is not None and importlib.util.find_spec("sklearn") is None:
        p.error(f"the domain rate needs scikit-learn ({INSTALL_HINT}); or --no-probe")
    if args.card and not (Path(args.model) / "README.md").is_file():
        p.error(f"--card writes into a local model folder's README.md, and {args.model} has none")
    try:
        inception_weights_path()
        device = resolve_device(args.device)
    except (ImportError, DataError) as e:
        p.error(str(e))

    from .translate import Translator  # imported late: the metric code above needs none of the model code
    from .errors import ModelNotFoundError
    try:
        options = {} if args.native_size is None else {"native_size": args.native_size}
        translator = Translator.from_pretrained(args.model, device=device, **options)
        baseline = Translator.from_pretrained(args.baseline, device=device) if args.baseline else None
    except ModelNotFoundError as e:
        p.error(str(e))
    results = evaluate(translator, direction, args.input, args.target, max_images=args.max_images,
                       size=args.size, kid_subsets=args.kid_subsets, kid_subset_size=args.kid_subset_size,
                       features=InceptionFeatures(device, args.batch_size), batch_size=args.batch_size,
                       seed=args.seed, progress=True, reference=reference, probe_train=probe_train,
                       probe_max=args.probe_max, bootstrap_rounds=args.bootstrap, baseline=baseline)
    results.model = args.model
    if baseline is not None:
        results.baseline_model = args.baseline
    print(format_table(results))
    if args.json is not None:
        path = args.json or Path("runs") / "eval" / f"{Path(str(args.model).rstrip('/')).name}-{direction}.json"
        write_json(results, path)  # makes the folder
        print(f"wrote {path}")
    if args.card:
        from .model_folder import write_eval_results
        results.command = card_command(argv if argv is not None else sys.argv[1:])
        write_eval_results(args.model, results, table=format_table(results))
        print(f"wrote the results into {Path(args.model) / 'README.md'} (model-index and its Evaluation section)")
    return results


def cli(argv: list[str] | None = None) -> int:
    """``cyclegan-evaluate``: ``main`` as a command, whose exit status is 0 once the figures are printed."""
    main(argv)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
