"""How a model looks at the app's sizes: the example pictures at 512 px, translated at several native scales.

A model trained on 128 px crops paints its strokes at that scale; translated at 512 px it may show them too fine,
or streaks that only appear off its scale. This writes one grid (a row per scale: the input, then the model
translated at full size and at each ``--sizes`` N, i.e. resized to about NxN pixels and back, as the manifest's
``native_size`` makes ``Translator`` do) to choose a model folder's ``native_size`` by eye.

    python benchmarks/native_scale.py --model checkpoints/monet2photo --out /tmp/monet_scales.png
    python benchmarks/native_scale.py --model checkpoints/emoji --direction AtoB --inputs examples/noto_*.png
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common import ROOT, labelled_grid, save_picture

from cyclegan import Translator


def grid(model: str, direction: str | None, inputs: list[Path], sizes: list[int], side: int):
    from PIL import Image, ImageOps
    pictures = [ImageOps.fit(Image.open(f).convert("RGB"), (side, side), Image.Resampling.BICUBIC) for f in inputs]
    rows = [("input", pictures)]
    for size in sizes:
        t = Translator.from_pretrained(model, native_size=size)
        rows.append((f"at {size} px" if size else "full size", [t(p, direction)[1] for p in pictures]))
    return labelled_grid(rows, side, label_w=90)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("--model", required=True, help="model folder or Hub repo id")
    p.add_argument("--direction", default=None, help="AtoB or BtoA (default: the model's own)")
    p.add_argument("--inputs", nargs="+", type=Path, default=sorted((ROOT / "examples").glob("photo_*.jpg")),
                   help="pictures to translate (default: the example photos)")
    p.add_argument("--sizes", default="0,128,192,256", help="comma-separated native sizes; 0 is full size")
    p.add_argument("--side", type=int, default=512, help="the pictures are fitted to side x side first (the app's "
                   "largest)")
    p.add_argument("--out", type=Path, required=True, help="the grid's PNG or JPEG file")
    args = p.parse_args(argv)
    image = grid(args.model, args.direction, args.inputs, [int(s) for s in args.sizes.split(",")], args.side)
    save_picture(image, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
