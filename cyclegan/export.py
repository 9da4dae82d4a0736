"""Export a model for other runtimes: the visitor's browser (ONNX Runtime Web), a static site, and ONNX files
next to a model folder's weights.

    python -m cyclegan.export --web checkpoints/monet2photo out/monet2photo     # G_AB.onnx, G_BA.onnx, web.json
    python -m cyclegan.export --site checkpoints/monet2photo site/ [--push-to-space USER/NAME]
    python -m cyclegan.serve site/                      # serve the site on 127.0.0.1:8000 with COOP/COEP headers
    python -m cyclegan.export --onnx MODEL_DIR        # G_AB/model.onnx, G_BA/model.onnx: the CPU graph, to deploy

The browser's ONNX files are the generators' plain graphs (no Winograd: a browser's runtime gains nothing from it)
with fp16 weights that a Cast turns back into fp32 where they are read, so the arithmetic is the CPU backend's. The
page (``cyclegan/webapp/``) reads ``models.json`` (the models, the upload limits) and ``web.json`` beside each
model: its domains, directions, native scale and default direction.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

import torch

from .config import UploadLimits, program
from .direction import Direction
from .errors import ModelNotFoundError
from .frozen_stats import StatsGenerator
from .hub import resolve_model_dir
from .model_folder import (GENERATOR_FOLDERS, WEIGHTS, camera_folder, default_direction, generator_folders,
                           load_generator, read_manifest)
from .onnx_export import ONNX_FORMAT, OPSET, check_onnx, export_onnx, generator_onnx, steady_onnx
from .runtime import COI_FILE, VENDOR, WEBAPP, runtime_files

WEB_META = "web.json"
WEB_FORMAT = 3  # 2: each generator also has its camera graph ("steady") and stats_size; 3: its input `follow`
MODELS_JSON = "models.json"  # the page's list of models and its upload limits: one format for the site and the app
# The page translates in the browser only models this small (each generator's ONNX file); bigger ones, such as
# the reference's 11 M-parameter generators (~22 MB in fp16), stay on the server.
MAX_WEB_BYTES = 8 * 1024 * 1024
PAGE_SCRIPTS = ("cyclegan.js", "camera.js", "gradio-client.js")  # what the app's page loads
ONNX_FILE, ONNX_META = "model.onnx", "onnx.json"  # the --onnx files, in each generator's subfolder


# -- the browser's model files ---------------------------------------------------------------------------------


def export_web(model: str | Path, out: str | Path) -> Path:
    """Write ``out/G_AB.onnx``, ``out/G_BA.onnx`` (those the model has) and ``out/web.json`` for the page; returns
    ``out``. ``ModelNotFoundError`` for a folder that is not a complete model, ``ValueError`` for one too big to
    run in a browser (see ``MAX_WEB_BYTES``)."""
    folder = resolve_model_dir(model)
    manifest = read_manifest(folder)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    camera = camera_folder(folder)  # the camera's cheaper generators, where the model has them
    camera_subs = generator_folders(camera) if camera else {}
    for direction, sub in generator_folders(folder).items():
        generator = load_generator(sub)
        live = load_generator(camera_subs[direction]) if direction in camera_subs else generator
        data = generator_onnx(generator)
        if len(data) > MAX_WEB_BYTES:
            raise ValueError(f"{folder.name}'s {GENERATOR_FOLDERS[direction]} is {len(data) / 2**20:.0f} MB as ONNX, "
                             f"over the {MAX_WEB_BYTES // 2**20} MB a page downloads: it stays on the server")
        entry = {}
        for kind, name, payload in (("file", f"{GENERATOR_FOLDERS[direction]}.onnx", data),
                                    ("steady", f"{GENERATOR_FOLDERS[direction]}.steady.onnx", steady_onnx(live))):
            (out / name).write_bytes(payload)
            entry[kind] = name
            entry[f"{kind}_bytes" if kind != "file" else "bytes"] = len(payload)
            entry[f"{kind}_sha256" if kind != "file" else "sha256"] = hashlib.sha256(payload).hexdigest()
        entry["stats_size"] = StatsGenerator(live).size  # the length of the camera graph's statistics vector
        if live is not generator:
            entry["steady_from"] = camera.name  # the camera runs the distilled generator; pictures the model's own
        files[direction.value] = entry
    meta = {"format": WEB_FORMAT, "name": manifest["name"], "domain_a": manifest["domain_a"],
            "domain_b": manifest["domain_b"], "directions": list(files),
            "default_direction": default_direction(manifest, [Direction(d) for d in files]).value,
            "native_size": manifest.get("native_size"), "license": manifest.get("license", "unknown"),
            "summary": manifest.get("summary", ""), "files": files}
    (out / WEB_META).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    return out


def web_supported(model: str | Path) -> bool:
    """Whether the page can translate with ``model`` in the browser: a model folder whose generators are small
    enough (parameters x 2 bytes of fp16 under ``MAX_WEB_BYTES``)."""
    try:
        folder = Path(model)
        subs = generator_folders(folder)
    except (ModelNotFoundError, OSError, TypeError):
        return False
    for sub in subs.values():
        weights = sub / WEIGHTS
        if not weights.is_file() or weights.stat().st_size > MAX_WEB_BYTES:
            return False
    return bool(subs)


# -- the static site ----------------------------------------------------------------------------------------
def write_models_json(folder: Path, names: list[str], limits: UploadLimits) -> Path:
    """``folder/models.json``: the models the page offers (the first is the one it opens on) and the limits it
    checks a picture against before translating, the server's own (``UploadLimits.page``)."""
    path = folder / MODELS_JSON
    path.write_text(json.dumps({"models": names, "limits": limits.page()}, indent=2) + "\n")
    return path


def export_site(models: list[str | Path], out: str | Path, examples: str | Path | None = None,
                limits: UploadLimits | None = None) -> Path:
    """A folder of plain files that translates in the browser with no Python server: the page, the runtime, each
    model's web files and card under ``models/NAME/`` (listed in ``models.json``, the first one first, with the upload
    ``limits``: the app's defaults unless given), the example pictures of those models (``examples/examples.json``
    entries whose model is exported), and a ``README.md`` that makes the folder a ready static Space (``space_card``).
    Returns ``out``."""
    out = Path(out)
    if not models:
        raise ValueError("give at least one model folder")
    out.mkdir(parents=True, exist_ok=True)
    for name in ("index.html", "cyclegan.js", "camera.js", "style.css"):
        shutil.copyfile(WEBAPP / name, out / name)
    runtime_files(out / "vendor")
    # At the root: a service worker controls the folder it is served from and those below it.
    shutil.copyfile(VENDOR / COI_FILE, out / COI_FILE)
    listed, manifests = [], []
    for model in models:
        folder = resolve_model_dir(model)
        manifest = read_manifest(folder)
        export_web(folder, out / "models" / manifest["name"])
        if (folder / "README.md").is_file():  # the card: its data, training, evaluation and license terms
            shutil.copyfile(folder / "README.md", out / "models" / manifest["name"] / "README.md")
        listed.append(manifest["name"])
        manifests.append(manifest)
    write_models_json(out, listed, limits or UploadLimits())
    (out / "README.md").write_text(space_card(manifests))
    picked = []
    if examples and (Path(examples) / "examples.json").is_file():
        (out / "examples").mkdir(exist_ok=True)
        for entry in json.loads((Path(examples) / "examples.json").read_text()):
            if entry.get("model") in listed and (Path(examples) / entry["file"]).is_file():
                shutil.copyfile(Path(examples) / entry["file"], out / "examples" / entry["file"])
                picked.append(entry)
    (out / "examples.json").write_text(json.dumps(picked, indent=2) + "\n")
    return out


# The headers a static Space may send (its README's custom_headers, lowercase): the page gets its threads from them.
SPACE_HEADERS = {"cross-origin-embedder-policy": "require-corp", "cross-origin-opener-policy": "same-origin",
                 "cross-origin-resource-policy": "cross-origin"}


def covering_license(manifests: list[dict]) -> dict[str, str]:
    """The front matter's license that covers every model: theirs when they share it (with the name and link of
    shared ``other`` terms), else ``other`` (the card's table names each model's own terms)."""
    keys = {(m.get("license") or "unknown", m.get("license_name") or "", m.get("license_link") or "") for m in manifests}
    if len(keys) != 1:
        return {"license": "other"}
    license, name, link = keys.pop()
    named = license == "other"
    return {"license": license, **({"license_name": name} if named and name else {}),
            **({"license_link": link} if named and link else {})}


def space_card(manifests: list[dict]) -> str:
    """The README.md of a static Space: front matter (static SDK, index.html, the isolation headers, a license that
    covers every model, title, emoji, description, tags) and a body naming each model, its license and its data."""
    from huggingface_hub import SpaceCard, SpaceCardData
    data = SpaceCardData(title="CycleGAN in your browser", emoji="🦓", colorFrom="indigo", colorTo="green",
                         sdk="static", app_file="index.html", **covering_license(manifests),
                         short_description="Unpaired image translation, run on your own device",
                         tags=["cyclegan", "image-to-image", "onnx", "webassembly", "static"],
                         custom_headers=SPACE_HEADERS)
    rows = []
    for m in manifests:
        terms = m.get("license") or "unknown"
        if terms == "other" and m.get("license_name"):
            terms = f"other: [{m['license_name']}]({m['license_link']})" if m.get("license_link") else m["license_name"]
        directions = m.get("directions") or ["AtoB", "BtoA"]
        src, dst = (m["domain_b"], m["domain_a"]) if directions == ["BtoA"] else (m["domain_a"], m["domain_b"])
        rows.append(f"| [{m['name']}](models/{m['name']}/README.md) | {src} {'↔' if len(directions) == 2 else '→'} "
                    f"{dst} | {terms} | "
                    f"{m.get('attribution') or 'see its card'} |")
    body = "\n".join([
        "# CycleGAN in your browser", "",
        "Pick a model and a direction, choose a picture, and see it translated and translated back. Everything runs",
        "in your browser (ONNX Runtime Web): the picture never leaves your device, and this Space needs no server.",
        "", "| model | domains | license of the weights | data |", "|---|---|---|---|", *rows, "",
        "Each model's card (linked) gives its training, its evaluation and the full terms of its weights, which follow "
        "their training data's. ONNX Runtime Web (MIT, © Microsoft) runs the models, coi-serviceworker (MIT, © Guido "
        "Zuidhof) gives the page threads where a host sends no isolation headers: see `vendor/`.", ""])
    return str(SpaceCard.from_template(data, template_str="---\n{{ card_data }}\n---\n\n" + body))


# -- the app's page: the same files, exported once per set of weights -------------------------------------------
def web_cache_dir() -> Path:
    return Path(os.environ.get("CYCLEGAN_WEB_CACHE") or Path.home() / ".cache" / "cyclegan" / "web")


def app_assets(models: dict[str, Path], limits: UploadLimits, cache: Path | None = None) -> Path:
    """The folder the app serves to its page (``cyclegan.serve.WEB_ROUTE``): the page's scripts, the runtime and
    ``models/KEY/`` for each of ``models`` (key -> model folder), exported once per set of weights (the folder is
    named by the hash of everything in it: the weights and each manifest (native scale, default direction), the
    page's scripts, the runtime and the limits; so a retrained or re-set model is exported anew, and its URL can be
    cached for good), and ``models.json`` with the keys and the app's upload ``limits``."""
    cache = cache or web_cache_dir()
    digest = hashlib.sha256(f"web format {WEB_FORMAT}".encode())  # what the export writes, should it change
    for key, folder in sorted(models.items()):
        digest.update(key.encode())
        digest.update(json.dumps(read_manifest(folder), sort_keys=True).encode())
        for weights in sorted(Path(folder).glob(f"G_*/{WEIGHTS}")):
            digest.update(hashlib.sha256(weights.read_bytes()).digest())
    for path in sorted([*(WEBAPP / name for name in PAGE_SCRIPTS), *(p for p in VENDOR.rglob("*") if p.is_file())]):
        digest.update(path.read_bytes())
    digest.update(json.dumps(limits.page(), sort_keys=True).encode())
    out = cache / digest.hexdigest()[:16]
    if (out / MODELS_JSON).is_file():
        return out
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in PAGE_SCRIPTS:
        shutil.copyfile(WEBAPP / name, tmp / name)
    runtime_files(tmp / "vendor")
    for key, folder in models.items():
        export_web(folder, tmp / "models" / key)
    write_models_json(tmp, list(models), limits)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


# -- ONNX files next to the weights (for other ONNX runtimes; Translator exports in memory) -------------------------
def write_onnx(folder: str | Path, check: bool = True) -> list[Path]:
    """Write ``model.onnx`` (the CPU graph, dynamic height and width) and ``onnx.json`` next to each generator's
    weights in a model folder; with ``check``, the largest difference from eager PyTorch goes into ``onnx.json``."""
    written = []
    for sub in generator_folders(folder).values():
        generator = load_generator(sub)
        t0 = time.perf_counter()
        export_onnx(generator, sub / ONNX_FILE)
        seconds = time.perf_counter() - t0
        meta = {"format": ONNX_FORMAT, "opset": OPSET, "torch": torch.__version__, "export_seconds": round(seconds, 2)}
        if check:
            meta["max_abs_diff_vs_eager_at_256"] = check_onnx(generator, sub / ONNX_FILE)
        (sub / ONNX_META).write_text(json.dumps(meta, indent=2) + "\n")
        written.append(sub / ONNX_FILE)
        print(f"{sub.name}: wrote {sub / ONNX_FILE} ({seconds:.1f} s"
              + (f", max abs diff vs eager {meta['max_abs_diff_vs_eager_at_256']:.1e})" if check else ")"))
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=program("python -m cyclegan.export"), description=__doc__.strip().split("\n")[0])
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--web", action="store_true", help="MODEL OUT: the model's generators as fp16-weight ONNX files "
                     "and the web.json the page reads (directions, domain names, native scale, default direction)")
    how.add_argument("--site", action="store_true", help="MODEL... OUT: a folder of plain files (page, runtime, "
                     "models, examples) that translates in the browser with no Python server")
    how.add_argument("--onnx", action="store_true", help="MODEL: write G_AB/model.onnx and G_BA/model.onnx beside the "
                     "weights (the CPU graph, dynamic height and width), for deploying with another ONNX runtime")
    p.add_argument("paths", nargs="+", help="the model folder(s), then the output folder (none with --onnx)")
    p.add_argument("--examples", default=str(Path(__file__).resolve().parents[1] / "examples"),
                   help="with --site: the folder of examples.json whose pictures go along (those of the exported models)")
    p.add_argument("--no-check", dest="check", action="store_false",
                   help="with --onnx: skip comparing the exported graphs with eager PyTorch (saves a run of each graph)")
    p.add_argument("--push-to-space", metavar="USER/NAME", help="with --site: then create this static Space (free on "
                   "the Hub) if needed and upload the site to it; the token is HF_TOKEN or the saved hf auth login")
    p.add_argument("--private", action="store_true", help="with --push-to-space: create the Space as private")
    args = p.parse_args(argv)
    if args.onnx and len(args.paths) != 1:
        p.error("give MODEL (--onnx)")
    if args.push_to_space and not args.site:
        p.error("--push-to-space goes with --site")
    if len(args.paths) < 2 and not args.onnx or (args.web and len(args.paths) != 2):
        p.error("give MODEL OUT (--web) or MODEL... OUT (--site)")
    *models, out = args.paths
    try:
        if args.onnx:
            write_onnx(args.paths[0], args.check)
            return 0
        path = export_web(models[0], out) if args.web else export_site(models, out, args.examples)
        print(f"wrote {path}" + ("" if args.web else f"; serve it with: python -m cyclegan.serve {path}"))
        if args.push_to_space:
            from .hub import push_space
            print(f"pushed to the Space {push_space(path, args.push_to_space, private=args.private)}")
    except (ModelNotFoundError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # the Hub's errors (no token, a name taken): one line, and the site stays on disk
        print(f"error: could not push to the Space {args.push_to_space}: {type(e).__name__}: "
              f"{(str(e).splitlines() or [''])[0]}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
