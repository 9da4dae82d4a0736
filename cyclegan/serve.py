"""Serving the browser's side: a static site's file server, and the app's middleware, both with the headers that
let the page's WebAssembly runtime use threads (cross-origin isolation), precompressed files and caching.

    python -m cyclegan.serve site/ --port 8000          # a site made by python -m cyclegan.export --site

Both serve only plain files inside their folder (symlinks followed, then checked), never a listing. A file is
cached for a year only where its URL holds a content hash (the app's page assets); everything else revalidates
(ETag, Last-Modified) and errors are never cached.
"""
from __future__ import annotations

import argparse
import email.utils
import http.server
import re
import sys
import threading
import urllib.parse
from functools import partial
from pathlib import Path
from typing import Callable

from .config import program

WEB_ROUTE = "/cyclegan-web/"  # where the app serves its page's scripts, runtime and models: WEB_ROUTE + HASH + /

# Cross-origin isolation (COOP + COEP) lets the page use SharedArrayBuffer, so the runtime runs on several threads;
# without it the page still works, on one thread.
ISOLATION_HEADERS = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp",
                     "Cross-Origin-Resource-Policy": "same-origin"}
SAFETY_HEADERS = {"X-Content-Type-Options": "nosniff"}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"  # may be stored, but asked again (a 304 when unchanged) before each use
NEVER = "no-store"
TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
         ".onnx": "application/octet-stream", ".json": "application/json"}
IDLE_SECONDS = 30
MAX_NAME_BYTES = 255  # the longest file name most file systems take
MAX_CONNECTIONS = 64  # connections the static server serves at once; more are answered 503 at once


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header allows gzip: listed (or ``*``) with a q-value above 0."""
    quality: dict[str, float] = {}
    for part in accept_encoding.lower().split(","):
        coding, _, params = part.strip().partition(";")
        q = re.search(r"q\s*=\s*([0-9.]+)", params)
        try:
            quality[coding.strip()] = float(q.group(1)) if q else 1.0
        except ValueError:
            quality[coding.strip()] = 0.0
    return quality.get("gzip", quality.get("x-gzip", quality.get("*", 0.0))) > 0


def gzipped(path: Path, root: Path) -> Path | None:
    """The ``.gz`` beside ``path``, if it is a file inside ``root`` (symlinks resolved, as for any file sent)."""
    gz = path.with_name(path.name + ".gz").resolve()
    return gz if gz.is_file() and gz.is_relative_to(root) else None


def precompressed(path: Path, accept_encoding: str, root: Path) -> tuple[Path, str | None]:
    """The file to send for ``path`` and its Content-Encoding: the ``.gz`` beside it, gzip, when there is one inside
    ``root`` and the client accepts gzip; else the file itself."""
    gz = gzipped(path, root)
    return (gz, "gzip") if gz and accepts_gzip(accept_encoding) else (path, None)


def site_file(root: Path, url_path: str) -> Path | None:
    """The file inside ``root`` that ``url_path`` names (a folder means its index.html), symlinks resolved; None
    for anything else. ``ValueError`` for a path no file can have (a NUL byte, a name over 255 bytes), found before
    the file system is asked."""
    rel = urllib.parse.unquote(url_path.split("?", 1)[0].split("#", 1)[0])
    if "\0" in rel:
        raise ValueError("NUL byte in the path")
    if any(len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES for part in rel.split("/")):
        raise ValueError("a name in the path is over 255 bytes")
    try:
        target = (root / rel.lstrip("/")).resolve()
        if target.is_dir():
            target = (target / "index.html").resolve()  # resolved again: the index may be a link that leads out
        return target if target.is_file() and target.is_relative_to(root) else None
    except OSError:  # a path too long in all, a link loop: nothing to send
        return None


def validators(body: Path, encoding: str | None) -> tuple[str, str]:
    """(ETag, Last-Modified) of a file as sent (its gzip variant has an ETag of its own)."""
    st = body.stat()
    return f'"{st.st_size:x}-{st.st_mtime_ns:x}{"-gz" if encoding else ""}"', email.utils.formatdate(st.st_mtime,
                                                                                                     usegmt=True)


class SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Plain files of the site with the isolation and safety headers, a precompressed ``.gz`` sent gzipped to a
    client that accepts it (``Vary: Accept-Encoding`` on both), revalidation by ETag and Last-Modified, no
    listings, no file outside the folder, one-line 4xx for a malformed request, and idle connections closed."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **TYPES}
    timeout = IDLE_SECONDS  # a connection that sends nothing is closed (socketserver applies it to the socket)
    default_request_version = "HTTP/1.0"  # so that a garbled request line gets a status line and headers, not HTTP/0.9
    cache_control = REVALIDATE

    def end_headers(self) -> None:
        for key, value in {**ISOLATION_HEADERS, **SAFETY_HEADERS, "Cache-Control": self.cache_control}.items():
            self.send_header(key, value)
        super().end_headers()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        self.cache_control = NEVER  # a 404 cached for a year would hide a file added later
        super().send_error(code, message, explain)

    def send_head(self):
        root = Path(self.directory).resolve()
        try:
            path = site_file(root, self.path)
        except ValueError as e:
            self.send_error(400, f"Bad request: {e}")
            return None
        if path is None:
            self.send_error(404, "File not found")
            return None
        accept = self.headers.get("Accept-Encoding", "")
        body, encoding = precompressed(path, accept, root)
        etag, modified = validators(body, encoding)
        self.cache_control = REVALIDATE
        fresh = self.headers.get("If-None-Match") in (etag, "*") or (
            "If-None-Match" not in self.headers and self.headers.get("If-Modified-Since") == modified)
        self.send_response(304 if fresh else 200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", modified)
        if gzipped(path, root):  # both variants say that the encoding chose between them
            self.send_header("Vary", "Accept-Encoding")
        if fresh:
            self.end_headers()
            return None
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(body.stat().st_size))
        self.end_headers()
        return open(body, "rb")

    def list_directory(self, path):  # never: a folder without index.html is not found
        self.send_error(404, "File not found")
        return None

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        if self.server.verbose:  # type: ignore[attr-defined]
            super().log_message(format, *args)


class BoundedServer(http.server.ThreadingHTTPServer):
    """A thread per connection, at most ``max_connections`` at once: one more is answered 503 and closed at once, so
    that slow or idle clients (each held up to ``IDLE_SECONDS`` a read) cannot take every thread and all memory."""

    daemon_threads = True

    def __init__(self, address, handler, max_connections: int = MAX_CONNECTIONS):
        super().__init__(address, handler)
        self.slots = threading.BoundedSemaphore(max_connections)

    def process_request(self, request, client_address) -> None:
        if not self.slots.acquire(blocking=False):
            try:
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 5\r\n"
                                b"Connection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def serve(folder: str | Path, host: str = "127.0.0.1", port: int = 8000, verbose: bool = True,
          max_connections: int = MAX_CONNECTIONS) -> BoundedServer:
    """A threaded server of ``folder`` with ``SiteHandler``; call ``serve_forever()`` (or ``shutdown()``) on it."""
    folder = Path(folder)
    if not (folder / "index.html").is_file():
        raise FileNotFoundError(f"{folder} has no index.html: make the site with python -m cyclegan.export --site")
    server = BoundedServer((host, port), partial(SiteHandler, directory=str(folder)), max_connections)
    server.verbose = verbose  # type: ignore[attr-defined]
    return server


def _headers(pairs: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode(), v.encode()) for k, v in pairs.items()]


class IsolationMiddleware:
    """ASGI middleware of the app: the isolation and safety headers on every response (so the page may use
    threads), and the files of ``folder`` (the current page assets, named by the hash of their contents) under
    ``WEB_ROUTE + folder.name + "/"``, streamed, a precompressed ``.gz`` sent to clients that accept gzip, cached
    for a year since that URL can never change. Nothing else under ``WEB_ROUTE`` is served. ``on_request`` is called
    (and must return at once) for every HTTP request: the app's disk budget, which uploads alone would outgrow."""

    def __init__(self, app, folder: str | Path | None = None, on_request: Callable[[], None] | None = None):
        self.app, self.folder, self.on_request = app, None if folder is None else Path(folder).resolve(), on_request
        self.prefix = None if self.folder is None else f"{WEB_ROUTE}{self.folder.name}/"

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.on_request is not None:
            self.on_request()
        path = scope.get("path", "")
        if path.startswith(WEB_ROUTE):
            return await self._file(scope, receive, send, path)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in _headers({**ISOLATION_HEADERS, **SAFETY_HEADERS}) if k not in names]
            await send(message)
        return await self.app(scope, receive, with_headers)

    async def _file(self, scope, receive, send, path: str):
        from starlette.responses import FileResponse, PlainTextResponse
        target = None
        if self.prefix and path.startswith(self.prefix) and scope.get("method") in ("GET", "HEAD"):
            try:
                target = site_file(self.folder, path[len(self.prefix):])
            except ValueError:
                target = None
        if target is None:
            response = PlainTextResponse("not found", status_code=404,
                                         headers={**ISOLATION_HEADERS, **SAFETY_HEADERS, "Cache-Control": NEVER})
            return await response(scope, receive, send)
        accept = dict(scope.get("headers", [])).get(b"accept-encoding", b"").decode("latin-1")
        body, encoding = precompressed(target, accept, self.folder)
        headers = {**ISOLATION_HEADERS, **SAFETY_HEADERS, "Cache-Control": IMMUTABLE, "Vary": "Accept-Encoding",
                   **({"Content-Encoding": encoding} if encoding else {})}
        response = FileResponse(body, media_type=TYPES.get(target.suffix, "application/octet-stream"),
                                headers=headers, stat_result=body.stat())
        return await response(scope, receive, send)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=program("python -m cyclegan.serve"), description="Serve a static site made by "
                                "`python -m cyclegan.export --site` with the headers that let the runtime use threads "
                                "(COOP/COEP), gzip for the runtime and revalidated caching.")
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
