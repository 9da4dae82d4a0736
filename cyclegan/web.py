"""The visitor's browser translates: a model's generators as small ONNX files for ONNX Runtime Web, a static site
that runs them with no Python server, and a file server that sends the headers the runtime's threads need.

    python -m cyclegan.export --web checkpoints/monet2photo out/monet2photo     # G_AB.onnx, G_BA.onnx, web.json
    python -m cyclegan.export --site checkpoints/monet2photo checkpoints/emoji site/
    python -m cyclegan.web site/ --port 8000                                      # serve it (COOP/COEP, gzip)

The ONNX files are the generators' plain graphs (no Winograd: a browser's runtime gains nothing from it) with
fp16 weights that a Cast turns back into fp32 where they are read, so the arithmetic is the CPU backend's. The
runtime is onnxruntime-web's WebAssembly build, shipped in ``cyclegan/webapp/vendor/`` (its WASM file gzipped;
``refresh_runtime`` rebuilds that folder from the npm package). The page (``cyclegan/webapp/``) reads ``web.json``
beside each model: its domains, directions, native scale and default direction.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from functools import partial
from pathlib import Path

import numpy as np

from .direction import Direction
from .hub import GENERATOR_FOLDERS, ModelNotFoundError, generator_folders, load_generator, read_manifest

WEBAPP = Path(__file__).resolve().parent / "webapp"
VENDOR = WEBAPP / "vendor"
ORT_PACKAGE, ORT_VERSION = "onnxruntime-web", "1.30.0"
# What the page loads from the npm package's dist/: the WebAssembly-only API and its threaded SIMD runtime.
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
WEB_META = "web.json"
WEB_FORMAT = 1
# The page translates in the browser only models this small (each generator's ONNX file); bigger ones, such as
# the reference's 11 M-parameter generators (~22 MB in fp16), stay on the server.
MAX_WEB_BYTES = 8 * 1024 * 1024
MIN_FP16_ELEMENTS = 16  # smaller float tensors (scales, pads, epsilons) stay fp32


# -- the model files -------------------------------------------------------------------------------------------
def fp16_weights(model: "onnx.ModelProto") -> "onnx.ModelProto":  # noqa: F821
    """``model`` with its float weights stored as fp16, each followed by a Cast back to fp32: half the bytes to
    download, the same fp32 arithmetic (the weights were shipped as fp16 safetensors, so nothing is lost)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    graph = model.graph
    kept, casts = [], []
    for init in graph.initializer:
        if init.data_type == TensorProto.FLOAT and int(np.prod(init.dims)) >= MIN_FP16_ELEMENTS:
            half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), f"{init.name}.fp16")
            kept.append(half)
            casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                          name=f"{init.name}.cast"))
        else:
            kept.append(init)
    nodes = casts + list(graph.node)
    graph.ClearField("initializer")
    graph.initializer.extend(kept)
    graph.ClearField("node")
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    return model


def generator_onnx(generator) -> bytes:
    """One generator as the page runs it: its plain graph (input ``input``, 1x3xHxW in [-1, 1], H and W multiples
    of 4; output ``output``) with fp16 weights."""
    import onnx
    from .cpu_graph import onnx_model
    plain = onnx_model(generator, min_channels=1 << 30)  # no layer is that wide: no Winograd
    return fp16_weights(onnx.load_from_string(plain)).SerializeToString()


def export_web(model: str | Path, out: str | Path) -> Path:
    """Write ``out/G_AB.onnx``, ``out/G_BA.onnx`` (those the model has) and ``out/web.json`` for the page; returns
    ``out``. ``ModelNotFoundError`` for a folder that is not a complete model, ``ValueError`` for one too big to
    run in a browser (see ``MAX_WEB_BYTES``)."""
    from .hub import resolve_model_dir
    folder = resolve_model_dir(model)
    manifest = read_manifest(folder)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for direction, sub in generator_folders(folder).items():
        data = generator_onnx(load_generator(sub))
        if len(data) > MAX_WEB_BYTES:
            raise ValueError(f"{folder.name}'s {GENERATOR_FOLDERS[direction]} is {len(data) / 2**20:.0f} MB as ONNX, "
                             f"over the {MAX_WEB_BYTES // 2**20} MB a page downloads: it stays on the server")
        name = f"{GENERATOR_FOLDERS[direction]}.onnx"
        (out / name).write_bytes(data)
        files[direction.value] = {"file": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    from .hub import default_direction
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
        weights = sub / "model.safetensors"
        if not weights.is_file() or weights.stat().st_size > MAX_WEB_BYTES:
            return False
    return bool(subs)


# -- the runtime -------------------------------------------------------------------------------------------------
def runtime_files(dest: str | Path) -> list[Path]:
    """Write the runtime into ``dest``: the page's files as they are, the WASM file both plain and gzipped (a host
    that serves precompressed files sends the .gz), and the license; returns the files."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name in ORT_FILES:
        gz = VENDOR / f"{name}.gz"
        if gz.is_file():
            (dest / name).write_bytes(gzip.decompress(gz.read_bytes()))
            shutil.copyfile(gz, dest / gz.name)
            written += [dest / name, dest / gz.name]
        else:
            shutil.copyfile(VENDOR / name, dest / name)
            written.append(dest / name)
    for extra in ("LICENSE-onnxruntime-web.txt", "VERSION"):
        shutil.copyfile(VENDOR / extra, dest / extra)
        written.append(dest / extra)
    return written


def refresh_runtime(dest: str | Path = VENDOR, version: str = ORT_VERSION, npm: str = "npm") -> list[Path]:
    """Rebuild the vendor folder from the npm package ``onnxruntime-web@version`` (``npm pack``: the registry's
    tarball, no install): the page's files, the WASM one gzipped, the version. Needs npm and its registry."""
    dest = Path(dest)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([npm, "pack", f"{ORT_PACKAGE}@{version}", "--silent"], cwd=tmp, check=True,
                       capture_output=True, timeout=300)
        (tarball,) = Path(tmp).glob("*.tgz")
        with tarfile.open(tarball) as tar:
            tar.extractall(tmp, filter="data")
        dist = Path(tmp) / "package" / "dist"
        dest.mkdir(parents=True, exist_ok=True)
        out = []
        for name in ORT_FILES:
            data = (dist / name).read_bytes()
            if name.endswith(".wasm"):  # 14 MB raw, 3.7 MB gzipped: the repository keeps the gzip
                path = dest / f"{name}.gz"
                path.write_bytes(gzip.compress(data, 9, mtime=0))
            else:
                path = dest / name
                path.write_bytes(data)
            out.append(path)
        license_field = json.loads((Path(tmp) / "package" / "package.json").read_text()).get("license")
    if license_field != "MIT":
        raise RuntimeError(f"{ORT_PACKAGE}@{version} says license {license_field!r}; check it before shipping")
    (dest / "VERSION").write_text(f"{ORT_PACKAGE}@{version}\n")
    return out + [dest / "VERSION"]


# -- the static site ---------------------------------------------------------------------------------------------
def export_site(models: list[str | Path], out: str | Path, examples: str | Path | None = None) -> Path:
    """A folder of plain files that translates in the browser with no Python server: the page, the runtime, each
    model's web files under ``models/NAME/`` (listed in ``models.json``, the first one first) and the example
    pictures of those models (``examples/examples.json`` entries whose model is exported). Returns ``out``."""
    out = Path(out)
    if not models:
        raise ValueError("give at least one model folder")
    out.mkdir(parents=True, exist_ok=True)
    for name in ("index.html", "cyclegan.js", "style.css"):
        shutil.copyfile(WEBAPP / name, out / name)
    runtime_files(out / "vendor")
    listed = []
    for model in models:
        name = read_manifest(Path(model))["name"]
        export_web(model, out / "models" / name)
        listed.append(name)
    (out / "models.json").write_text(json.dumps(listed, indent=2) + "\n")
    picked = []
    if examples and (Path(examples) / "examples.json").is_file():
        (out / "examples").mkdir(exist_ok=True)
        for entry in json.loads((Path(examples) / "examples.json").read_text()):
            if entry.get("model") in listed and (Path(examples) / entry["file"]).is_file():
                shutil.copyfile(Path(examples) / entry["file"], out / "examples" / entry["file"])
                picked.append(entry)
    (out / "examples.json").write_text(json.dumps(picked, indent=2) + "\n")
    return out


# -- serving -------------------------------------------------------------------------------------------------------
# Cross-origin isolation (COOP + COEP) lets the page use SharedArrayBuffer, so the runtime runs on several threads;
# without it the page still works, on one thread.
ISOLATION_HEADERS = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp",
                     "Cross-Origin-Resource-Policy": "same-origin"}
IMMUTABLE = "public, max-age=31536000, immutable"
TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm", ".onnx": "application/octet-stream",
         ".json": "application/json"}


def precompressed(path: Path, accept_encoding: str) -> tuple[Path, str | None]:
    """The file to send for ``path`` and its Content-Encoding: the ``.gz`` beside it, gzip, when there is one and
    the client accepts gzip; else the file itself."""
    gz = path.with_name(path.name + ".gz")
    return (gz, "gzip") if gz.is_file() and "gzip" in accept_encoding else (path, None)


class SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with the isolation headers, a precompressed ``.gz`` beside a file sent gzipped to a client that
    accepts it, and long-lived caching for the runtime and the models (their names carry their version)."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **TYPES}

    def end_headers(self) -> None:
        for key, value in ISOLATION_HEADERS.items():
            self.send_header(key, value)
        if self.path.split("?")[0].startswith(("/vendor/", "/models/")):
            self.send_header("Cache-Control", IMMUTABLE)
        else:
            self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def send_head(self):
        path = Path(self.translate_path(self.path))
        body, encoding = precompressed(path, self.headers.get("Accept-Encoding", ""))
        if path.is_file() and encoding:
            f = open(body, "rb")
            self.send_response(200)
            self.send_header("Content-Type", self.guess_type(str(path)))
            self.send_header("Content-Encoding", encoding)
            self.send_header("Content-Length", str(body.stat().st_size))
            self.send_header("Vary", "Accept-Encoding")
            self.end_headers()
            return f
        return super().send_head()

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        if self.server.verbose:  # type: ignore[attr-defined]
            super().log_message(format, *args)


def serve(folder: str | Path, host: str = "127.0.0.1", port: int = 8000, verbose: bool = True
          ) -> http.server.ThreadingHTTPServer:
    """A threaded server of ``folder`` with ``SiteHandler``; call ``serve_forever()`` (or ``shutdown()``) on it."""
    folder = Path(folder)
    if not (folder / "index.html").is_file():
        raise FileNotFoundError(f"{folder} has no index.html: make the site with python -m cyclegan.export --site")
    server = http.server.ThreadingHTTPServer((host, port), partial(SiteHandler, directory=str(folder)))
    server.verbose = verbose  # type: ignore[attr-defined]
    return server


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cyclegan.web", description="Serve a static site made by "
                                "`python -m cyclegan.export --site` with the headers that let the runtime use threads "
                                "(COOP/COEP), gzip for the runtime and long-lived caching.")
    p.add_argument("folder", help="the site's folder")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0 for the local network)")
    p.add_argument("--port", type=int, default=8000, help="port")
    p.add_argument("--refresh-runtime", action="store_true", help="instead: rebuild cyclegan/webapp/vendor from npm "
                   f"({ORT_PACKAGE}@{ORT_VERSION}) into FOLDER")
    args = p.parse_args(argv)
    if args.refresh_runtime:
        for path in refresh_runtime(args.folder):
            print(f"wrote {path}")
        return 0
    try:
        server = serve(args.folder, args.host, args.port)
    except (FileNotFoundError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"serving {args.folder} on http://{args.host}:{server.server_address[1]}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())


# -- the app's side: its page's client inference -------------------------------------------------------------------
WEB_ROUTE = "/cyclegan-web/"


def web_cache_dir() -> Path:
    return Path(os.environ.get("CYCLEGAN_WEB_CACHE") or Path.home() / ".cache" / "cyclegan" / "web")


def app_assets(models: dict[str, Path], limits: dict, cache: Path | None = None) -> Path:
    """The folder the app serves under ``WEB_ROUTE``: the page's scripts, the runtime and ``models/KEY/`` for each
    of ``models`` (key -> model folder), exported once per set of weights (the folder is named by their hash, so a
    retrained model is exported anew), and ``models.json`` with the keys and the app's upload ``limits``."""
    cache = cache or web_cache_dir()
    digest = hashlib.sha256()
    for key, folder in sorted(models.items()):
        digest.update(key.encode())
        for weights in sorted(Path(folder).glob("G_*/model.safetensors")):
            digest.update(hashlib.sha256(weights.read_bytes()).digest())
    for name in ("cyclegan.js", "gradio-client.js", *(p.name for p in VENDOR.iterdir())):
        path = WEBAPP / name if (WEBAPP / name).is_file() else VENDOR / name
        digest.update(path.read_bytes())
    digest.update(json.dumps(limits, sort_keys=True).encode())
    out = cache / digest.hexdigest()[:16]
    if (out / "models.json").is_file():
        return out
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in ("cyclegan.js", "gradio-client.js"):
        shutil.copyfile(WEBAPP / name, tmp / name)
    runtime_files(tmp / "vendor")
    for key, folder in models.items():
        export_web(folder, tmp / "models" / key)
    (tmp / "models.json").write_text(json.dumps({"models": list(models), "limits": limits}, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


class IsolationMiddleware:
    """ASGI middleware of the app: the COOP/COEP headers on every response (so the page may use threads), and the
    files of ``folder`` under ``WEB_ROUTE``, a precompressed ``.gz`` sent to clients that accept gzip, cached for a
    year (the folder's name changes with its contents)."""

    def __init__(self, app, folder: str | Path | None = None):
        self.app, self.folder = app, None if folder is None else Path(folder).resolve()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        if self.folder is not None and path.startswith(WEB_ROUTE) and scope.get("method") in ("GET", "HEAD"):
            return await self._file(scope, send, path[len(WEB_ROUTE):])

        async def with_headers(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k.lower().encode(), v.encode()) for k, v in ISOLATION_HEADERS.items()
                    if k.lower().encode() not in names]
            await send(message)
        return await self.app(scope, receive, with_headers)

    async def _file(self, scope, send, rel: str):
        target = (self.folder / rel).resolve()
        headers = [(k.lower().encode(), v.encode()) for k, v in ISOLATION_HEADERS.items()]
        if not target.is_file() or self.folder not in target.parents:
            await send({"type": "http.response.start", "status": 404, "headers": headers})
            return await send({"type": "http.response.body", "body": b"not found"})
        accept = dict(scope.get("headers", [])).get(b"accept-encoding", b"").decode()
        body_path, encoding = precompressed(target, accept)
        headers += [(b"content-type", TYPES.get(target.suffix, "application/octet-stream").encode()),
                    (b"cache-control", IMMUTABLE.encode()), (b"vary", b"Accept-Encoding"),
                    (b"content-length", str(body_path.stat().st_size).encode())]
        if encoding:
            headers.append((b"content-encoding", encoding.encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body_path.read_bytes()})
