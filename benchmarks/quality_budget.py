"""Quality per CPU-minute: train one recipe for a fixed CPU budget, then score it on the test split.

Each run trains with a fixed number of torch threads (default 1) until the process has used ``--minutes``
of CPU time (not wall time, so two runs side by side, or other work on the machine, do not change what a
run gets), then evaluates with ``cyclegan.evaluate`` on the data's test split:

- emoji (Noto -> Twemoji, 64 px): paired L1 and KID against the identity baseline;
- monet (photo -> Monet, 128 px): KID and FID against the untranslated photos.

    python -m benchmarks.quality_budget --data emoji --recipe reference --minutes 15
    python -m benchmarks.quality_budget --list                 # the recipes and their flags
    python -m benchmarks.quality_budget --table                # Markdown table of every result so far
    python -m benchmarks.quality_budget --figure docs/quality_emoji.png --data emoji
    python -m benchmarks.quality_budget --figure docs/x.jpg --data monet --size 512 --recipes projected,both
    python -m benchmarks.quality_budget --rescore --data monet  # the evaluation at the data's 256 px, with intervals
    python -m benchmarks.quality_budget --compare --data horse  # the equal-budget table of the rescored runs

Results go to ~/runs/quality/DATA-RECIPE-sSEED.json (``--out`` changes the folder; the run folder beside it
keeps the checkpoint, samples and model). The learning rate stays constant during a budgeted run (the budget ends
long before the linear decay would start), the same for every recipe.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

from benchmarks.common import ROOT, data_folder, describe, hardware, label_width, labelled_grid, markdown_table, save_picture

from cyclegan.errors import DownloadError
from cyclegan.config import ModelConfig, TrainConfig
from cyclegan.results import Evaluation
from cyclegan.networks import Generator, complexity

# Run folders and results live outside the work tree by default, so that a later session can read them.
OUT = Path.home() / "runs" / "quality"

# Today's settings of the shipped models (checkpoints/*/README.md), per dataset.
DATASETS = {
    "emoji": dict(folder="emoji", direction="AtoB", eval_size=None, load_size=64, crop_size=64),
    # --rescore's reference: for photo -> Monet the 246 paintings of trainA + testA (testA has only 26).
    "monet": dict(folder="monet2photo", direction="BtoA", eval_size=128, load_size=143, crop_size=128,
                  reference=("trainA", "testA")),
    # 128 px crops of the full 256 px images (monet2photo's winning scale), scored at the photos' own 256 px
    # against the 140 test zebras: the published tables' protocol.
    "horse": dict(folder="horse2zebra", direction="AtoB", eval_size=None, load_size=256, crop_size=128,
                  reference=("testB",)),
    # The same protocol for the seasons: the 309 summer test photos against the 238 winter ones at 256 px.
    "summer": dict(folder="summer2winter_yosemite", direction="AtoB", eval_size=None, load_size=256, crop_size=128,
                   reference=("testB",)),
}
BASE_MODEL = dict(ngf=16, ndf=32, n_blocks=4)
DIFFAUG = "color,translation,cutout"
# The wide mobile generator has about the multiply-adds of the narrow ResNet one (113.6 M vs 112.6 M at 64 px).
WIDE_MOBILE = dict(block="mobile", ngf=24, n_blocks=8)
RECIPES: dict[str, tuple[dict, dict]] = {  # name: (ModelConfig overrides, TrainConfig overrides)
    "reference": ({}, {}),
    "resize": (dict(upsample="resize"), {}),
    "mobile": (WIDE_MOBILE, {}),
    "ema": ({}, dict(ema=0.999)),
    "diffaugment": ({}, dict(diffaugment=DIFFAUG)),
    "combined": (dict(upsample="resize", **WIDE_MOBILE), dict(ema=0.999, diffaugment=DIFFAUG)),
    # The combination without the mobile blocks, whose depthwise convolutions run slowly on a CPU.
    "combined-resnet": (dict(upsample="resize"), dict(ema=0.999, diffaugment=DIFFAUG)),
    # combined-resnet with a discriminator on frozen EfficientNet-Lite0 features instead of (or beside) the PatchGAN.
    "projected": (dict(upsample="resize", discriminator="projected"), dict(ema=0.999, diffaugment=DIFFAUG)),
    "both": (dict(upsample="resize", discriminator="both"), dict(ema=0.999, diffaugment=DIFFAUG)),
    "projected-hinge": (dict(upsample="resize", discriminator="projected"),
                        dict(ema=0.999, diffaugment=DIFFAUG, gan_mode="hinge")),
    # ... with the images resized to 224 px before the feature network, as Projected GAN does.
    "projected-hinge-224": (dict(upsample="resize", discriminator="projected", projected_size=224),
                            dict(ema=0.999, diffaugment=DIFFAUG, gan_mode="hinge")),
    # ... without the identity loss (the reference keeps 0.5 of lambda_cycle for seasons; so do all the rows above).
    "projected-hinge-224-noidt": (dict(upsample="resize", discriminator="projected", projected_size=224),
                                  dict(ema=0.999, diffaugment=DIFFAUG, gan_mode="hinge", lambda_identity=0.0)),
    # ... with a 1.5x wider generator (about 2.25x the multiply-adds), for changes over the whole frame.
    "projected-hinge-224-wide": (dict(upsample="resize", discriminator="projected", projected_size=224, ngf=24),
                                 dict(ema=0.999, diffaugment=DIFFAUG, gan_mode="hinge")),
}


def run_name(data: str, recipe: str, seed: int, load_size: int | None = None, init_from: str | None = None) -> str:
    """DATA-RECIPE[-loadN][-from-MODEL]-sSEED: the variants (full-resolution crops, continued from a model) get names
    of their own, so that they sit beside the recipe's plain runs."""
    load = f"-load{load_size}" if load_size and load_size != DATASETS[data]["load_size"] else ""
    return f"{data}-{recipe}{load}{f'-from-{Path(init_from).name}' if init_from else ''}-s{seed}"


def configs(data: str, recipe: str, seed: int, out: Path, load_size: int | None = None,
            init_from: str | None = None) -> tuple[TrainConfig, ModelConfig]:
    d, (model_over, train_over) = DATASETS[data], RECIPES[recipe]
    train = TrainConfig(dataroot=str(data_folder(d["folder"])), out=str(out), load_size=load_size or d["load_size"],
                        crop_size=d["crop_size"], workers=0, device="cpu", seed=seed, save_every=10**6,
                        sample_every=10**6, init_from=init_from, save_every_steps=500, **train_over)
    return train, ModelConfig(**{**BASE_MODEL, **model_over})


def flags(recipe: str) -> str:
    """The train.py flags a recipe adds to today's settings."""
    model_over, train_over = RECIPES[recipe]
    return " ".join(f"--{k.replace('_', '-')} {v}" for k, v in {**model_over, **train_over}.items()) or "(none)"


def run(data: str, recipe: str, minutes: float, seed: int, threads: int, load_size: int | None = None,
        init_from: str | None = None) -> dict:
    from cyclegan import Translator
    from cyclegan.evaluate import evaluate
    from cyclegan.training import Trainer

    torch.set_num_threads(threads)
    name = run_name(data, recipe, seed, load_size, init_from)
    train_cfg, model_cfg = configs(data, recipe, seed, OUT / name, load_size, init_from)
    trainer = Trainer(train_cfg, model_cfg)
    budget, start = minutes * 60, []

    def until() -> bool:  # called after every step; the clock starts after the first (warm-up, imports)
        if not start:
            start.append(time.process_time())
        return time.process_time() - start[0] >= budget

    t0 = time.perf_counter()
    trainer.fit(until=until)
    wall = time.perf_counter() - t0
    d = DATASETS[data]
    G = Generator(**model_cfg.generator_kwargs())
    macs, params = complexity(G, d["crop_size"])  # at the dataset's size, so that recipes compare
    d_macs, _ = complexity(trainer.nets.D_A, d["crop_size"])  # with the frozen feature network, if any
    translator = Translator.from_pretrained(OUT / name / "model", backend="eager", threads=threads,
                                            **({"native_size": 0} if "reference" in d else {}))
    data_dir, direction = data_folder(d["folder"]), d["direction"]
    # With reference folders, the one evaluation is already --rescore's (256 px, intervals, the domain rate).
    scored = dict(reference=[data_dir / r for r in d["reference"]],
                  probe_train=(data_dir / f"train{direction[0]}", data_dir / f"train{direction[-1]}")
                  ) if "reference" in d else {}
    ev = evaluate(translator, direction, data_dir / f"test{direction[0]}", data_dir / f"test{direction[-1]}",
                  size=d["eval_size"], progress=True, **scored)
    tr, idt = ev.translated, ev.identity
    result = {
        "data": data, "recipe": recipe, "seed": seed, "flags": flags(recipe), "minutes": minutes,
        "threads": threads, "steps": trainer.step, "images_per_s": round(trainer.step * train_cfg.batch_size / budget, 2),
        "wall_minutes": round(wall / 60, 1), "g_macs_m": round(macs / 1e6, 1), "g_params_k": round(params / 1e3, 1),
        "d_macs_m": round(d_macs / 1e6, 1), "size": train_cfg.crop_size, "eval_size": d["eval_size"], "direction": d["direction"],
        "kid": tr.kid_mean, "kid_identity": idt.kid_mean, "fid": tr.fid, "fid_identity": idt.fid,
        "l1": tr.l1, "l1_identity": idt.l1, "hardware": hardware(), "model_config": dataclasses.asdict(model_cfg),
        "train_config": {k: v for k, v in dataclasses.asdict(train_cfg).items() if k != "hub_token"},
        "load_size": train_cfg.load_size, "init_from": init_from,
        "command": f"python -m benchmarks.quality_budget --data {data} --recipe {recipe} --minutes {minutes:g} "
                   f"--seed {seed} --threads {threads}" + (f" --load-size {load_size}" if load_size else "")
                   + (f" --init-from {init_from}" if init_from else ""),
    }
    if scored:
        result["eval256"] = {**summary256(ev), "reference": " + ".join(d["reference"]), "native_size": None}
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(table([result]))
    print(f"wrote {path}")
    return result


def rescore(path: Path) -> dict:
    """Score a finished run as a shipped model's card is scored: the 256 px test images at their own size, against
    the dataset's reference folders, with the KID's bootstrap interval, its ratio to the untranslated inputs and
    the domain rate of the Inception probe fitted on the train splits. Stored in the run's JSON as ``eval256``."""
    from cyclegan import Translator
    from cyclegan.evaluate import evaluate
    result = json.loads(path.read_text())
    data = data_folder(DATASETS[result["data"]]["folder"])
    reference = DATASETS[result["data"]]["reference"]
    d = result["direction"]
    translator = Translator.from_pretrained(path.with_suffix("") / "model", native_size=0, threads=1)
    ev = evaluate(translator, d, data / f"test{d[0]}", data / f"test{d[-1]}", reference=[data / r for r in reference],
                  probe_train=(data / f"train{d[0]}", data / f"train{d[-1]}"), progress=True)
    result["eval256"] = {**summary256(ev), "reference": " + ".join(reference), "native_size": None}
    path.write_text(json.dumps(result, indent=2) + "\n")
    return result


def summary256(ev: Evaluation) -> dict:
    """The figures of a ``cyclegan.evaluate`` result that ``comparison`` reads (a run's ``eval256``)."""
    tr, idt, q = ev.translated, ev.identity, ev.ratio
    return {"kid": tr.kid, "kid_low": tr.kid_low, "kid_high": tr.kid_high, "kid_identity": idt.kid,
            "ratio": q.kid, "ratio_low": q.low, "ratio_high": q.high, "reading": q.reading,
            "fid": tr.fid, "fid_identity": idt.fid, "domain_rate": tr.domain_rate,
            "domain_rate_identity": idt.domain_rate, "domain_rate_target": ev.domain_rate_target}


def comparison(results: list[dict], baseline: dict | None = None) -> str:
    """The equal-budget table: one row per run variant (recipe, scale, start), each seed's KID ×10³ at 256 px with
    its 95 % bootstrap interval, the ratio to the untranslated inputs with its interval, and the domain rate; a
    last column says whether the variant differs measurably from the first row (every seed's interval clear of
    every other's: measurably different)."""
    rows, groups = [], {}
    for r in results:
        if "eval256" in r:
            key = (r["recipe"], r.get("load_size", DATASETS[r["data"]]["load_size"]), r.get("init_from") or "")
            groups.setdefault(key, []).append(r)
    if baseline:
        groups = {("", "shipped", "shipped"): [baseline], **groups}
    first = None
    for (recipe, load, init), rs in groups.items():
        e = [r["eval256"] for r in sorted(rs, key=lambda r: r["seed"])]
        mean = sum(x["kid"] for x in e) / len(e)
        verdict = "-"
        if first is not None:
            apart = all(x["kid_high"] < y["kid_low"] or y["kid_high"] < x["kid_low"] for x in e for y in first)
            verdict = ("lower" if mean < sum(y["kid"] for y in first) / len(first) else "higher") if apart \
                else "no measurable difference"
        first = first or e
        rows.append({
            "variant": "the shipped model" if load == "shipped" else
                       f"{recipe}, {'full-resolution crops' if load == 256 else 'today’s scale'} (load {load}), "
                       f"{f'from {Path(init).name}' if init else 'from scratch'}",
            "steps": "-" if load == "shipped" else ", ".join(str(r["steps"]) for r in rs),
            "kid": "; ".join(f"{1e3 * x['kid']:.1f} [{1e3 * x['kid_low']:.1f}, {1e3 * x['kid_high']:.1f}]" for x in e),
            "ratio": "; ".join(f"{x['ratio']:.2f} [{x['ratio_low']:.2f}, {x['ratio_high']:.2f}]" for x in e),
            "rate": "; ".join(f"{x['domain_rate']:.2f}" for x in e), "verdict": verdict})
    cols = [("variant", "variant"), ("steps", "steps (per seed)"), ("kid", "KID ×10³ [95 %] per seed"),
            ("ratio", "× untranslated [95 %]"), ("rate", "domain rate"), ("verdict", "against the first row")]
    return markdown_table(rows, cols)


def table(results: list[dict]) -> str:
    rows = []
    for r in sorted(results, key=lambda r: (r["data"], list(RECIPES).index(r["recipe"]), r["seed"])):
        row = {**r, "kid_x1e3": f"{1e3 * r['kid']:.1f} (×{r['kid'] / r['kid_identity']:.2f})",
               "fid_s": f"{r['fid']:.1f} / {r['fid_identity']:.1f}",
               "l1_s": "-" if r["l1"] is None else f"{r['l1']:.4f} (×{r['l1'] / r['l1_identity']:.2f})"}
        rows.append(row)
    cols = [("data", "data"), ("recipe", "recipe"), ("seed", "seed"), ("g_macs_m", "G MMACs (64 / 128 px)"),
            ("g_params_k", "G params (k)"), ("steps", "steps"), ("images_per_s", "img/s"), ("minutes", "CPU min"),
            ("l1_s", "L1 (× identity)"), ("kid_x1e3", "KID×10³ (× identity)"), ("fid_s", "FID / identity")]
    return markdown_table(rows, cols)


def seed_summary(results: list[dict]) -> str:
    """One row per (data, recipe): the mean over its seeds, with each seed's value in brackets, so that the spread
    between seeds shows beside the gap between recipes."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in sorted(results, key=lambda r: (r["data"], list(RECIPES).index(r["recipe"]), r["seed"])):
        groups.setdefault((r["data"], r["recipe"]), []).append(r)

    def spread(values: list[float], fmt: str, identity: float | None = None) -> str:
        mean = sum(values) / len(values)
        ratio = f" ×{mean / identity:.2f}" if identity else ""
        each = f" ({', '.join(format(v, fmt) for v in values)})" if len(values) > 1 else ""
        return f"{format(mean, fmt)}{ratio}{each}"

    rows = []
    for (data, recipe), rs in groups.items():
        first = rs[0]
        rows.append({
            "data": data, "recipe": recipe, "seeds": ", ".join(str(r["seed"]) for r in rs),
            "steps": round(sum(r["steps"] for r in rs) / len(rs)),
            "images_per_s": round(sum(r["images_per_s"] for r in rs) / len(rs), 2),
            "l1_s": "-" if first["l1"] is None else spread([r["l1"] for r in rs], ".4f", first["l1_identity"]),
            "kid_s": spread([1e3 * r["kid"] for r in rs], ".1f", 1e3 * first["kid_identity"]),
            "fid_s": spread([r["fid"] for r in rs], ".1f") + f" / {first['fid_identity']:.1f}",
        })
    cols = [("data", "data"), ("recipe", "recipe"), ("seeds", "seeds"), ("steps", "steps (mean)"),
            ("images_per_s", "img/s"), ("l1_s", "L1 mean ×identity (per seed)"),
            ("kid_s", "KID×10³ mean ×identity (per seed)"), ("fid_s", "FID mean (per seed) / identity")]
    return markdown_table(rows, cols)


def figure(data: str, path: Path, n: int = 6, seed: int = 0, recipes: list[str] | None = None,
           size: int | None = None) -> None:
    """The same test images under each recipe: one row per recipe, the inputs on top.

    ``recipes`` limits the rows (default: every recipe with a finished run); ``size`` translates at that size
    instead of the training size (for monet, the example photos fitted to size x size: what the app shows)."""
    from PIL import Image, ImageOps
    from cyclegan import Translator
    from cyclegan.data import list_images, load_image
    d = DATASETS[data]
    if data == "monet":  # the test photos may not be redistributed: use the CC0 / public-domain example photos
        files = sorted((ROOT / "examples").glob("photo_*.jpg"))
    else:
        files = list_images(data_folder(d["folder"]) / f"test{d['direction'][0]}")
        files = [files[i * len(files) // n] for i in range(n)]
    n, size = len(files), size or d["crop_size"]
    inputs = [ImageOps.fit(load_image(f), (size, size), Image.BICUBIC) for f in files]
    rows = [("input", inputs)]
    if data == "emoji":  # the set is paired: show the true target too
        target_dir = data_folder(d["folder"]) / f"test{d['direction'][-1]}"
        rows.append(("target", [load_image(target_dir / f.name).resize((size, size)) for f in files]))
    for recipe in recipes or RECIPES:
        model = OUT / f"{data}-{recipe}-s{seed}" / "model"
        if not (OUT / f"{data}-{recipe}-s{seed}.json").is_file():  # a run still going, or never run
            continue
        if model.is_dir():
            t = Translator.from_pretrained(model, backend="eager")
            rows.append((recipe, [t(im, direction=d["direction"])[1] for im in inputs]))
    save_picture(labelled_grid(rows, size, label_w=label_width(rows, 110)), path)
    print(f"wrote {path} ({len(rows) - 1} recipes)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("--data", choices=list(DATASETS), default="emoji")
    p.add_argument("--recipe", choices=list(RECIPES), default="reference")
    p.add_argument("--minutes", type=float, default=15.0, help="CPU minutes of training (process time)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (fixed, so that CPU minutes compare)")
    p.add_argument("--load-size", type=int, help="resize the training images to this size before the crop (default: "
                   "the dataset's, 143 for monet; 256 trains on full-resolution crops)")
    p.add_argument("--init-from", help="start both generators from this model (a model folder): a continued run")
    p.add_argument("--out", type=Path, default=None, help="folder of the runs and their JSON results "
                   "(default: ~/runs/quality)")
    p.add_argument("--list", action="store_true", help="print the recipes and their flags")
    p.add_argument("--rescore", action="store_true", help="score every finished run of --data with the cards' evaluation "
                   "(256 px, the dataset's reference folders, intervals, domain rate), into its JSON")
    p.add_argument("--compare", type=Path, nargs="?", const=Path(), default=None, metavar="SHIPPED_JSON",
                   help="print the equal-budget table of the rescored runs; with a file, the shipped model's scores "
                        "(the JSON of python -m cyclegan.evaluate --json) as its first row")
    p.add_argument("--table", action="store_true", help="print the Markdown table of all results so far")
    p.add_argument("--figure", type=Path, help="write the side-by-side picture of --data's recipes here")
    p.add_argument("--recipes", help="with --figure: the rows, comma-separated (default: every finished recipe)")
    p.add_argument("--size", type=int, help="with --figure: translate at this size (default: the training size)")
    args = p.parse_args(argv)
    global OUT
    OUT = args.out or OUT
    if args.list:
        for name in RECIPES:
            _, m = configs("emoji", name, 0, OUT)
            macs, params = complexity(Generator(**m.generator_kwargs()), 64)
            print(f"{name:16s} {macs / 1e6:7.1f} M multiply-adds at 64 px, {params:,} parameters; flags {flags(name)}")
        return 0
    if args.rescore:
        for path in sorted(OUT.glob(f"{args.data}-*.json")):
            if "eval256" not in json.loads(path.read_text()) and (path.with_suffix("") / "model").is_dir():
                print(f"rescoring {path.name}")
                rescore(path)
        return 0
    if args.compare is not None:
        results = [json.loads(f.read_text()) for f in sorted(OUT.glob(f"{args.data}-*.json"))]
        base = None
        if args.compare != Path():
            base = {"eval256": summary256(Evaluation.from_dict(json.loads(args.compare.read_text()))), "seed": 0,
                    "steps": "-"}
        print(comparison(results, base))
        return 0
    if args.table:
        results = [json.loads(f.read_text()) for f in sorted(OUT.glob("*.json"))]
        if results:
            print(f"Hardware: {describe(results[0]['hardware'])}\n")
        print(table(results))
        print("\nMean over seeds:\n")
        print(seed_summary(results))
        return 0
    if args.figure:
        figure(args.data, args.figure, seed=args.seed, recipes=args.recipes.split(",") if args.recipes else None,
               size=args.size)
        return 0
    try:
        data_folder(DATASETS[args.data]["folder"])  # downloaded now, not after the model is built
    except DownloadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    run(args.data, args.recipe, args.minutes, args.seed, args.threads, args.load_size, args.init_from)
    return 0


if __name__ == "__main__":
    sys.exit(main())
