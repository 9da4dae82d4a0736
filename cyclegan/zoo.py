"""The reference's published pretrained generators, converted into our model folders.

    python -m cyclegan.zoo horse2zebra          # -> checkpoints/horse2zebra-reference/{G_AB,G_BA}

The reference (junyanz/pytorch-CycleGAN-and-pix2pix) publishes 18 generators, one ``.pth`` per direction.
Fourteen form 7 pairs, which give both generators, so the app can also reconstruct. The other four
(style_cezanne, style_ukiyoe, style_vangogh, iphone2dslr_flower) exist in one direction only, photo ->
style: their model folders hold G_AB/ alone, and the app shows no reconstruction for them.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from .config import program
from .download import download
from .errors import DownloadError
from .model_folder import save_model_folder
from .model_folder import is_complete
from .networks import Generator

# The mirror that the reference's scripts/download_cyclegan_model.sh uses.
ZOO_URL = os.environ.get("CYCLEGAN_ZOO_URL", "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models")
# model name -> (A->B file, B->A file or None for a one-direction model, domain A, domain B)
ZOO: dict[str, tuple[str, str | None, str, str]] = {
    "horse2zebra": ("horse2zebra", "zebra2horse", "horse", "zebra"),
    "apple2orange": ("apple2orange", "orange2apple", "apple", "orange"),
    "summer2winter_yosemite": ("summer2winter_yosemite", "winter2summer_yosemite", "summer", "winter"),
    "monet2photo": ("monet2photo", "style_monet", "Monet painting", "photo"),
    "map2sat": ("map2sat", "sat2map", "map", "satellite photo"),
    "facades_label2photo": ("facades_label2photo", "facades_photo2label", "facade labels", "facade photo"),
    "cityscapes_label2photo": ("cityscapes_label2photo", "cityscapes_photo2label", "street labels", "street photo"),
    # One direction: the reference trained these on cezanne2photo etc. and published only photo -> style.
    "style_cezanne": ("style_cezanne", None, "photo", "Cézanne painting"),
    "style_ukiyoe": ("style_ukiyoe", None, "photo", "ukiyo-e print"),
    "style_vangogh": ("style_vangogh", None, "photo", "Van Gogh painting"),
    "iphone2dslr_flower": ("iphone2dslr_flower", None, "iPhone flower photo", "DSLR flower photo"),
}


def reference_generator(path: str | Path) -> Generator:
    """Load a reference ResnetGenerator ``.pth`` (ngf 64, 9 blocks, instance norm) safely."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    # Checkpoints from old PyTorch versions carry InstanceNorm running stats that today's
    # affine-free, stat-free InstanceNorm has no place for; the reference drops them too.
    state = {k: v for k, v in state.items() if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))}
    generator = Generator()
    generator.load_state_dict(state)
    return generator.eval()


def zoo_folder(name: str, out_dir: str | Path) -> Path:
    """Where ``fetch`` saves the reference model ``name`` under ``out_dir``."""
    return Path(out_dir) / f"{name}-reference"


def fetch(name: str, out_dir: str | Path = "checkpoints", base_url: str | None = None, timeout: float = 30.0) -> Path:
    """Download a zoo model's generators (both directions, or the one there is) as ``out_dir/NAME-reference``.

    An existing folder is reused. The suffix keeps the reference's weights apart from models trained
    here under the same dataset name (checkpoints/monet2photo ships with this project).
    """
    if name not in ZOO:
        raise DownloadError(f"unknown zoo model {name!r}; known: {', '.join(ZOO)}")
    target = zoo_folder(name, out_dir)
    if is_complete(target):
        return target
    file_ab, file_ba, domain_a, domain_b = ZOO[name]
    files = [f for f in (file_ab, file_ba) if f is not None]
    cache = Path(out_dir) / ".downloads"
    base = (base_url or ZOO_URL).rstrip("/")
    G_AB, *rest = (reference_generator(download(f"{base}/{f}.pth", cache / f"{f}.pth", timeout)) for f in files)
    sources = " and ".join(f"{f}.pth" for f in files)
    one_way = "" if file_ba else f" Only {domain_a} -> {domain_b} was published, so there is no reconstruction."
    folder = save_model_folder(
        G_AB, rest[0] if rest else None, target, name=f"{name} (reference)", domain_a=domain_a, domain_b=domain_b,
        train_config={"source": " and ".join(f"{base}/{f}.pth" for f in files)},
        model_config={"ngf": 64, "n_blocks": 9, "norm": "instance", "dropout": False},
        license="bsd-2-clause", dataset=name,
        summary=f"The reference implementation's published {sources} "
                f"(junyanz/pytorch-CycleGAN-and-pix2pix, BSD licence).{one_way}")
    for f in files:
        (cache / f"{f}.pth").unlink(missing_ok=True)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=program("python -m cyclegan.zoo"), description=__doc__.split("\n\n")[0])
    parser.add_argument("name", choices=sorted(ZOO), help="reference model (a pair, or one direction for style_* "
                        "and iphone2dslr_flower)")
    parser.add_argument("--out", default="checkpoints", help="where the model folder goes")
    args = parser.parse_args(argv)
    try:
        print(f"saved {fetch(args.name, args.out)}")
    except DownloadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
