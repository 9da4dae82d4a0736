"""Serving the browser's side: a static site's file server, and the app's middleware, both with the headers that
let the page's WebAssembly runtime use threads (cross-origin isolation), precompressed files and caching.

    python -m cyclegan.web site/ --port 8000          # a site made by python -m cyclegan.export --site
"""
from __future__ import annotations

import argparse
import http.server
import sys
from functools import partial
from pathlib import Path

WEB_ROUTE = "/cyclegan-web/"  # where the app serves its page's scripts, runtime and models


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cyclegan.web", description="Serve a static site made by "
                                "`python -m cyclegan.export --site` with the headers that let the runtime use threads "
                                "(COOP/COEP), gzip for the runtime and long-lived caching.")
    p.add_argument("folder", help="the site's folder")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0 for the local network)")
    p.add_argument("--port", type=int, default=8000, help="port")
    args = p.parse_args(argv)
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
