"""The command lines of train.py and app.py, here so that the installed console scripts (cyclegan-train,
cyclegan-app) are the same commands. The other commands live beside what they run (python -m cyclegan.translate,
.evaluate, .export); pyproject.toml's [project.scripts] names them all."""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

from .config import UploadLimits, parse_args, program

FIRST_MODEL = "monet2photo"  # photo -> Monet: what most visitors come for
LIMITS = UploadLimits()


def train(argv: list[str] | None = None) -> int:
    """``python train.py`` and ``cyclegan-train``: train, checkpoint and (with --push-to-hub) publish."""
    train_cfg, model_cfg = parse_args(argv)
    # Imported only now: they load torch (seconds), which --help and argument errors do not need.
    from .distributed import distributed
    from .errors import CheckpointError, DataError, DownloadError, ModelNotFoundError
    from .training import Trainer
    try:
        with distributed(train_cfg.device):
            trainer = Trainer(train_cfg, model_cfg)
            names, stem = train_cfg.domain_names(), train_cfg.run_name()
            if trainer.is_main and names == (f"{stem} A", f"{stem} B"):  # the fallback: nothing named them
                print(f"note: the model card and the app will call the domains {names[0]!r} and {names[1]!r}; "
                      "name them with --name-a and --name-b", file=sys.stderr)
            trainer.fit()
    except (CheckpointError, DataError, DownloadError, ModelNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 130 if trainer.stop_requested else 0  # interrupted: the shell's code for Ctrl-C


def app_parser(root: Path | None = None) -> argparse.ArgumentParser:
    """The app's command line. It needs neither torch nor gradio, so that --help and bad arguments answer at once.
    ``root`` holds checkpoints/ and examples/: app.py's own folder in a checkout; the current folder for an installed
    ``cyclegan-app``."""
    root = Path.cwd() if root is None else root
    env = os.environ.get
    mb = lambda n: f"{n // 1024 ** 2}mb"  # noqa: E731
    parser = argparse.ArgumentParser(prog=program("python app.py"), description="CycleGAN Gradio demo.")
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
    parser.add_argument("--checkpoints", default=env("CYCLEGAN_CHECKPOINTS", str(root / "checkpoints")),
                        help="folder whose model subfolders are listed (env CYCLEGAN_CHECKPOINTS)")
    parser.add_argument("--examples", default=str(root / "examples"), help="folder with examples.json")
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


def app(argv: list[str] | None = None, root: Path | None = None) -> int:
    """``python app.py`` and ``cyclegan-app``: build the demo and serve it until stopped."""
    args = app_parser(root).parse_args(argv)
    if args.mcp and importlib.util.find_spec("mcp") is None:
        print('error: --mcp needs the MCP extra of Gradio: pip install "gradio[mcp]"', file=sys.stderr)
        return 2
    from .uploads import claim_temp_folder
    claim_temp_folder()  # first: Gradio reads GRADIO_TEMP_DIR as it is imported (spaces imports it)
    from . import zerogpu
    on_zero_gpu = zerogpu.prepare()  # first: on a ZeroGPU Space, spaces must come before CUDA is touched
    # Imported only now: torch and gradio take seconds, which --help and argument errors do not need.
    from . import server
    from .catalog import discover_models, model_ids_from_env, zoo_reachable
    from .device import resolve_device
    from .errors import DataError
    from .uploads import parse_size
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

