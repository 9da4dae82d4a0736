"""CycleGAN demo: upload a picture and see it translated (real | generated | reconstructed), or a short video and
get it back translated, steady from frame to frame, with its sound.

    python app.py                                   # http://127.0.0.1:7860, no network needed
    python app.py --model user/cyclegan-horse2zebra --port 8000
    python app.py --mcp                             # also an MCP server: the translate tool, for LLM clients
    python app.py --help

Models: every folder in checkpoints/ with G_AB/ and G_BA/, then the Hub repo ids given with --model
(or CYCLEGAN_MODELS), then the reference zoo models (downloaded on first use).
Examples: examples/examples.json, a list of {"file": ..., "model": ..., "direction": "AtoB" | "BtoA"}.
The demo is cyclegan/page.py (the page) and cyclegan/demo.py (its handlers), served by cyclegan/server.py;
its command line is cyclegan/cli.py (also installed as `cyclegan-app`).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cyclegan.cli import app, app_parser

ROOT = Path(__file__).resolve().parent  # checkpoints/ and examples/ beside this file


def build_parser() -> argparse.ArgumentParser:
    return app_parser(ROOT)


def main(argv: list[str] | None = None) -> int:
    return app(argv, ROOT)


if __name__ == "__main__":
    sys.exit(main())
