"""Inference: translate PIL images with a trained pair of generators, and a CLI for whole folders.

    python -m cyclegan.translate --model checkpoints/emoji --input photos/ --output out/ --direction AtoB
"""
from __future__ import annotations

import argparse
import re
import sys
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .data import DataError, list_images, load_image, to_rgb
from .hub import ModelNotFoundError, load_generator, read_manifest

Direction = Literal["AtoB", "BtoA"]
# A Hub repo id is "name" or "owner/name"; anything else that does not exist locally is a wrong path.
REPO_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")


def to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL RGB -> 1x3xHxW in [-1, 1]."""
    array = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy())
    return array.permute(2, 0, 1).unsqueeze(0).float().div(127.5).sub(1)


def to_pil(x: torch.Tensor) -> Image.Image:
    """1x3xHxW in [-1, 1] -> PIL RGB."""
    array = x[0].float().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8).permute(1, 2, 0)
    return Image.fromarray(array.cpu().numpy(), "RGB")


def triptych(*images: Image.Image) -> Image.Image:
    """Images side by side (real | generated | reconstructed) on one canvas."""
    canvas = Image.new("RGB", (sum(im.width for im in images), max(im.height for im in images)), "white")
    x = 0
    for im in images:
        canvas.paste(im, (x, 0))
        x += im.width
    return canvas


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
    try:
        return Path(snapshot_download(name, revision=revision, token=token, cache_dir=cache_dir,
                                      local_files_only=local_files_only, etag_timeout=5,
                                      allow_patterns=["manifest.json", "README.md", "samples.png", "G_AB/*", "G_BA/*"]))
    except RepositoryNotFoundError:
        raise ModelNotFoundError(f"no Hub model repo {name!r} (or it is private: pass a token)") from None
    except LocalEntryNotFoundError:
        raise ModelNotFoundError(f"Hub model {name!r} is not in the local cache and the Hub cannot be reached "
                                 "(offline or HF_HUB_OFFLINE=1)") from None
    except (HfHubHTTPError, OSError) as e:
        raise ModelNotFoundError(f"could not fetch Hub model {name!r}: {str(e).splitlines()[0]}") from None


class Translator:
    """Both generators of a CycleGAN model, for translating and reconstructing single images."""

    def __init__(self, G_AB: torch.nn.Module, G_BA: torch.nn.Module, manifest: dict | None = None,
                 device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.generators = {"AtoB": G_AB.to(self.device).eval(), "BtoA": G_BA.to(self.device).eval()}
        self.manifest = manifest or {"name": "cyclegan", "domain_a": "A", "domain_b": "B"}

    @classmethod
    def from_pretrained(cls, path_or_repo_id: str | Path, *, device: str | torch.device = "cpu",
                        revision: str | None = None, token: str | None = None, cache_dir: str | None = None,
                        local_files_only: bool = False) -> "Translator":
        """Load from a model folder (``G_AB/``, ``G_BA/``) or a Hub repo id holding one."""
        folder = resolve_model_dir(path_or_repo_id, revision=revision, token=token, cache_dir=cache_dir,
                                   local_files_only=local_files_only)
        return cls(load_generator(folder / "G_AB"), load_generator(folder / "G_BA"), read_manifest(folder), device)

    @torch.inference_mode()
    def generate(self, x: torch.Tensor, direction: Direction) -> torch.Tensor:
        """One generator on a 1x3xHxW batch in [-1, 1], any H and W.

        The generator halves the resolution twice, so the input is padded to a multiple of 4
        (and to at least 8, so its reflection pads fit) and the output cropped back.
        """
        if direction not in self.generators:
            raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
        h, w = x.shape[-2:]
        H, W = max(8, -(-h // 4) * 4), max(8, -(-w // 4) * 4)
        if (H, W) != (h, w):
            mode = "reflect" if H - h < h and W - w < w else "replicate"
            x = F.pad(x, (0, W - w, 0, H - h), mode=mode)
        return self.generators[direction](x.to(self.device))[..., :h, :w].cpu()

    def __call__(self, image: Image.Image, direction: Direction = "AtoB") -> tuple[Image.Image, Image.Image, Image.Image]:
        """(real, generated, reconstructed) PIL images, all of the input's size."""
        real = to_rgb(image)
        back: Direction = "BtoA" if direction == "AtoB" else "AtoB"
        fake = self.generate(to_tensor(real), direction)
        rec = self.generate(fake, back)
        return real, to_pil(fake), to_pil(rec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cyclegan.translate",
                                     description="Translate a folder of images; writes a triptych PNG per image "
                                                 "(real | generated | reconstructed).")
    parser.add_argument("--model", required=True, help="model folder or Hub repo id")
    parser.add_argument("--input", required=True, help="folder of input images")
    parser.add_argument("--output", required=True, help="folder for the triptychs")
    parser.add_argument("--direction", choices=["AtoB", "BtoA"], default="AtoB")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    try:
        translator = Translator.from_pretrained(args.model, device=args.device)
        files = list_images(args.input)
    except (ModelNotFoundError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    skipped = 0
    from tqdm.auto import tqdm
    for path in tqdm(files, desc=f"{args.direction}"):
        try:
            image = load_image(path)
        except OSError as e:
            warnings.warn(f"skipping unreadable image {path}: {e}")
            skipped += 1
            continue
        triptych(*translator(image, args.direction)).save(out / f"{path.stem}.png")
    print(f"wrote {len(files) - skipped} triptych(s) to {out}" + (f"; skipped {skipped} unreadable" if skipped else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
