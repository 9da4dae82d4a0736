"""Export a model for other runtimes: the browser (ONNX Runtime Web) and a static site, and the CPU graph's ONNX.

    python -m cyclegan.export --web checkpoints/monet2photo out/monet2photo     # G_AB.onnx, G_BA.onnx, web.json
    python -m cyclegan.export --site checkpoints/monet2photo checkpoints/emoji site/
    python -m cyclegan.web site/                      # serve the site on 127.0.0.1:8000 with COOP/COEP headers
    python -m cyclegan.export MODEL_DIR --onnx        # the CPU graph next to the weights (cyclegan.cpu_graph)

``--web`` and ``--site`` are ``cyclegan.web.export_web`` and ``export_site``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--web" not in argv and "--site" not in argv:
        from .cpu_graph import main as cpu_graph_main  # the older form: MODEL_DIR --onnx
        return cpu_graph_main(argv)
    p = argparse.ArgumentParser(prog="python -m cyclegan.export", description=__doc__.strip().split("\n")[0])
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--web", action="store_true", help="MODEL OUT: the model's generators as fp16-weight ONNX files "
                     "and the web.json the page reads (directions, domain names, native scale, default direction)")
    how.add_argument("--site", action="store_true", help="MODEL... OUT: a folder of plain files (page, runtime, "
                     "models, examples) that translates in the browser with no Python server")
    p.add_argument("paths", nargs="+", help="the model folder(s), then the output folder")
    p.add_argument("--examples", default=str(Path(__file__).resolve().parents[1] / "examples"),
                   help="with --site: the folder of examples.json whose pictures go along (those of the exported models)")
    args = p.parse_args(argv)
    if len(args.paths) < 2 or (args.web and len(args.paths) != 2):
        p.error("give MODEL OUT (--web) or MODEL... OUT (--site)")
    from .hub import ModelNotFoundError
    from .web import export_site, export_web
    *models, out = args.paths
    try:
        path = export_web(models[0], out) if args.web else export_site(models, out, args.examples)
    except (ModelNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path}" + ("" if args.web else f"; serve it with: python -m cyclegan.web {path}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
