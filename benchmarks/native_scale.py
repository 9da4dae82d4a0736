"""How a model looks at the app's sizes: the example pictures at 512 px, translated at several native scales.

A model trained on 128 px crops paints its strokes at that scale; translated at 512 px it may show them too fine,
or streaks that only appear off its scale. This writes one grid (a row per scale: the input, then the model
translated at full size and at each ``--sizes`` N, i.e. resized to about NxN pixels and back, as the manifest's
``native_size`` makes ``Translator`` do) to choose a model folder's ``native_size`` by eye.

    python -m benchmarks.native_scale --model checkpoints/monet2photo --out /tmp/monet_scales.png
    python -m benchmarks.native_scale --model checkpoints/emoji --direction AtoB --inputs ../shared/data/emoji/testA/*.png
    python -m benchmarks.native_scale --model checkpoints/monet2photo ~/runs/new/model --sizes 0,256 --out /tmp/x.jpg

With several models, each gets a row per size, labelled with its folder's name (or its label in --labels).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.common import ROOT, label_width, labelled_grid, save_picture

from cyclegan import Translator


def grid(models: list[str], direction: str | None, inputs: list[Path], sizes: list[int], side: int,
         labels: list[str] | None = None):
    from PIL import Image, ImageOps
    pictures = [ImageOps.fit(Image.open(f).convert("RGB"), (side, side), Image.Resampling.BICUBIC) for f in inputs]
    rows = [("input", pictures)]
    labels = labels or [Path(m).name for m in models]
    for model, label in zip(models, labels):
        for size in sizes:
            t = Translator.from_pretrained(model, native_size=size)
            scale = f"at {size} px" if size else "full size"
            rows.append((scale if len(models) == 1 else f"{label}, {scale}", [t(p, direction)[1] for p in pictures]))
    return labelled_grid(rows, side, label_w=label_width(rows, 90))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("--model", required=True, nargs="+", help="model folders or Hub repo ids")
    p.add_argument("--labels", help="comma-separated row labels of the models (default: their folder names)")
    p.add_argument("--direction", default=None, help="AtoB or BtoA (default: the model's own)")
    p.add_argument("--inputs", nargs="+", type=Path, default=sorted((ROOT / "examples").glob("photo_*.jpg")),
                   help="pictures to translate (default: the example photos)")
    p.add_argument("--sizes", default="0,128,192,256", help="comma-separated native sizes; 0 is full size")
    p.add_argument("--side", type=int, default=512, help="the pictures are fitted to side x side first (the app's "
                   "largest)")
    p.add_argument("--out", type=Path, required=True, help="the grid's PNG or JPEG file")
    args = p.parse_args(argv)
    labels = args.labels.split(",") if args.labels else None
    if labels and len(labels) != len(args.model):
        p.error(f"--labels names {len(labels)} models, --model gives {len(args.model)}")
    image = grid(args.model, args.direction, args.inputs, [int(s) for s in args.sizes.split(",")], args.side, labels)
    save_picture(image, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
