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
this file is its command line.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

from cyclegan.config import UploadLimits

ROOT = Path(__file__).resolve().parent
FIRST_MODEL = "monet2photo"  # photo -> Monet: what most visitors come for
LIMITS = UploadLimits()


def build_parser() -> argparse.ArgumentParser:
    """The CLI. It needs neither torch nor gradio, so that --help and bad arguments answer at once."""
    env = os.environ.get
    mb = lambda n: f"{n // 1024 ** 2}mb"  # noqa: E731
    parser = argparse.ArgumentParser(prog="python app.py", description="CycleGAN Gradio demo.")
    parser.add_argument("--host", default=env("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to serve on (env GRADIO_SERVER_NAME; 0.0.0.0 for the local network)")
    parser.add_argument("--port", type=int, default=int(env("GRADIO_SERVER_PORT", "7860")),
                        help="port (env GRADIO_SERVER_PORT)")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link (needs network)")
    parser.add_argument("--mcp", action="store_true",
                        default=env("GRADIO_MCP_SERVER", "").lower() in ("1", "true"),
                        help="also serve the translation as an MCP tool at /gradio_api/mcp/, for LLM clients that "
                             "speak the Model Context Protocol (env GRADIO_MCP_SERVER=true; needs gradio[mcp])")
    parser.add_argument("--model", action="append", default=[],
                        help="a Hub repo id (or model folder) to list too; repeatable (env CYCLEGAN_MODELS)")
    parser.add_argument("--first-model", default=env("CYCLEGAN_FIRST_MODEL", FIRST_MODEL),
                        help="the model the demo opens on: a folder name in --checkpoints or a --model id "
                             "(env CYCLEGAN_FIRST_MODEL); when it is not listed, the first model listed")
    parser.add_argument("--checkpoints", default=env("CYCLEGAN_CHECKPOINTS", str(ROOT / "checkpoints")),
                        help="folder whose model subfolders are listed (env CYCLEGAN_CHECKPOINTS)")
    parser.add_argument("--examples", default=str(ROOT / "examples"), help="folder with examples.json")
    parser.add_argument("--no-zoo", action="store_true", help="do not list the reference zoo models")
    parser.add_argument("--zoo-dir", default=env("CYCLEGAN_ZOO_DIR", str(Path.home() / ".cache/cyclegan/zoo")),
                        help="where zoo models are downloaded (env CYCLEGAN_ZOO_DIR)")
    parser.add_argument("--max-side", type=int, default=int(env("CYCLEGAN_MAX_SIDE", str(LIMITS.max_side))),
                        help="resize the long side of inputs to at most this many pixels, 0 for no limit "
                             "(env CYCLEGAN_MAX_SIDE)")
    parser.add_argument("--max-file-size", default=mb(LIMITS.max_bytes), help="largest upload, e.g. 20mb")
    parser.add_argument("--max-video-size", default=mb(LIMITS.max_video_bytes),
                        help="largest video upload, e.g. 100mb")
    parser.add_argument("--max-video-seconds", type=float, default=LIMITS.max_video_seconds,
                        help="longest video translated, in seconds (its frames are resized like pictures, to "
                             "--max-side); 0 for no limit")
    parser.add_argument("--max-video-fps", type=float, default=LIMITS.max_video_fps,
                        help="frames a second a video is translated at, at most: a faster clip's extra frames are "
                             "dropped, its length and sound kept")
    parser.add_argument("--max-disk", default=mb(LIMITS.max_disk_bytes),
                        help="Gradio's temp folder (uploads, and results kept an hour for download) is kept under "
                             "this, the oldest files deleted first, e.g. 2048mb")
    parser.add_argument("--max-pixels", type=int, default=LIMITS.max_pixels,
                        help="largest decoded picture in pixels (a JPEG counts at the reduced scale it is decoded "
                             "at): the decompression bomb guard")
    parser.add_argument("--concurrency", type=int, default=1,
                        help="translations that run at once; the others wait in the queue and see their place in "
                             "it. Keep 1 on a small CPU, where one translation already uses every core and two at "
                             "once only share them; raise it with more cores or a GPU")
    parser.add_argument("--queue-size", type=int, default=64,
                        help="requests that may wait in the queue; beyond that, new ones are turned away at once "
                             "with a 'queue is full' error rather than waiting minutes")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: cores / concurrency)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (CUDA when present)")
    parser.add_argument("--client-inference", choices=("auto", "on", "off"),
                        default=env("CYCLEGAN_CLIENT_INFERENCE", "auto"),
                        help="translate pictures in the visitor's browser (ONNX Runtime Web) for the models small "
                             "enough, falling back to the server when the browser cannot: auto does so unless the "
                             "app runs on its own GPU (on ZeroGPU it does, to spend no GPU quota), on always, off never "
                             "(env CYCLEGAN_CLIENT_INFERENCE)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.mcp and importlib.util.find_spec("mcp") is None:
        print('error: --mcp needs the MCP extra of Gradio: pip install "gradio[mcp]"', file=sys.stderr)
        return 2
    from cyclegan.uploads import claim_temp_folder
    claim_temp_folder()  # first: Gradio reads GRADIO_TEMP_DIR as it is imported (spaces imports it)
    from cyclegan import zerogpu
    on_zero_gpu = zerogpu.prepare()  # first: on a ZeroGPU Space, spaces must come before CUDA is touched
    # Imported only now: torch and gradio take seconds, which --help and argument errors do not need.
    from cyclegan import server
    from cyclegan.catalog import discover_models, model_ids_from_env, zoo_reachable
    from cyclegan.device import resolve_device
    from cyclegan.errors import DataError
    from cyclegan.uploads import parse_size
    try:
        # On ZeroGPU a GPU is lent for each call: the models go on CUDA at start, as ZeroGPU asks.
        device = resolve_device("cuda" if on_zero_gpu and args.device == "auto" else args.device)
        limits = UploadLimits(max_side=args.max_side, max_bytes=parse_size(args.max_file_size),
                              max_pixels=args.max_pixels, max_video_bytes=parse_size(args.max_video_size),
                              max_video_seconds=args.max_video_seconds, max_video_fps=args.max_video_fps,
                              max_disk_bytes=parse_size(args.max_disk))
    except (DataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    # On ZeroGPU every model listed is loaded at start (demo.Demo), so there the zoo offers only what is on disk
    # already: the whole zoo would be 0.8 GB downloaded at every start.
    online = not args.no_zoo and not on_zero_gpu and zoo_reachable()
    if not args.no_zoo and on_zero_gpu:
        print(f"* ZeroGPU: only the reference models already downloaded to {args.zoo_dir} are listed (every model "
              "is loaded at start here; python -m cyclegan.zoo NAME --out DIR downloads one).")
    elif not args.no_zoo and not online:
        print("* Offline (the reference models' server cannot be resolved): only the reference models already "
              f"downloaded to {args.zoo_dir} are listed.")
    left_out: list[str] = []
    models = discover_models(args.checkpoints, args.model + model_ids_from_env(), zoo=not args.no_zoo,
                             zoo_dir=args.zoo_dir, online=online, first=args.first_model, left_out=left_out)
    for name in left_out:
        print(f"* Not listed: {name} (its card measures it no better than the untranslated pictures; "
              f"--model {Path(args.checkpoints) / name} lists it).")
    # A GPU server translates faster than a visitor's CPU: auto leaves the work there; but ZeroGPU's GPU is lent
    # against a daily quota, so there auto keeps pictures in the browser and sends only videos to the GPU.
    client = args.client_inference == "on" or (args.client_inference == "auto"
                                                and (device.type != "cuda" or on_zero_gpu))
    try:
        built = server.build(models, limits, client_inference=client, examples_dir=args.examples, zoo_dir=args.zoo_dir,
                           device=str(device))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    server.launch(built, limits, host=args.host, port=args.port, share=args.share, mcp=args.mcp,
                concurrency=args.concurrency, queue_size=args.queue_size, threads=args.threads,
                examples_dir=args.examples)
    return 0


if __name__ == "__main__":
    sys.exit(main())
