"""Tests for cyclegan/serve.py: the static site's server (headers, gzip, caching, what it refuses to serve, malformed
requests, idle connections) and the app's middleware (its one assets folder, streamed, cached for good)."""
from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from cyclegan import serve
from cyclegan.testing import make_site


def get(url: str, **headers) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:  # 304 and 4xx: their headers are what the tests look at
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


@contextlib.contextmanager
def serving(site: Path):
    server = serve.serve(site, port=0, verbose=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def raw(port: int, request: bytes) -> bytes:
    """What the server answers to the bytes of ``request``, up to the connection's end."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        chunks = []
        while data := s.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


def test_the_site_server_sends_isolation_headers_gzip_and_revalidated_caching(tmp_path):
    """Nothing of the site has a content hash in its URL, so nothing is immutable: everything revalidates (a 304
    when unchanged), and a re-exported site is seen at once."""
    site = make_site(tmp_path)
    with serving(site) as (base, _):
        status, headers, body = get(base + "/")
        assert status == 200 and b"cyclegan.js" in body
        assert headers["cross-origin-opener-policy"] == "same-origin"
        assert headers["cross-origin-embedder-policy"] == "require-corp" and headers["cache-control"] == "no-cache"
        assert headers["x-content-type-options"] == "nosniff"
        for path in ("/vendor/ort-wasm-simd-threaded.wasm", "/models/tiny/web.json", "/models/tiny/G_AB.onnx"):
            status, headers, _ = get(base + path, **{"Accept-Encoding": "gzip, br"})
            assert status == 200 and headers["cache-control"] == "no-cache" and "immutable" not in str(headers), path
            assert headers["etag"] and headers["last-modified"], path
            status, again, body = get(base + path, **{"Accept-Encoding": "gzip, br", "If-None-Match": headers["etag"]})
            assert status == 304 and body == b"" and again["etag"] == headers["etag"], path
        status, headers, body = get(base + "/vendor/ort-wasm-simd-threaded.wasm", **{"Accept-Encoding": "gzip, br"})
        assert headers["content-encoding"] == "gzip" and headers["content-type"] == "application/wasm"
        assert gzip.decompress(body)[:4] == b"\0asm" and headers["vary"] == "Accept-Encoding"
        for accept in ({}, {"Accept-Encoding": "gzip;q=0, br"}, {"Accept-Encoding": "*;q=0"}):  # no gzip: the plain file
            status, headers, body = get(base + "/vendor/ort-wasm-simd-threaded.wasm", **accept)
            assert "content-encoding" not in headers and body[:4] == b"\0asm", accept
            assert headers["vary"] == "Accept-Encoding", accept  # on both variants
        assert get(base + "/cyclegan.js")[1]["content-type"] == "text/javascript"
    with pytest.raises(FileNotFoundError, match="has no index.html"):
        serve.serve(tmp_path, port=0)


def test_the_site_server_serves_the_sites_files_alone(tmp_path):
    """No listing of a folder, nothing outside the site (a symlink that leads out, ..), and no error cached."""
    site = make_site(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("not for visitors")
    (site / "link.txt").symlink_to(secret)
    (site / "models" / "out").symlink_to(tmp_path, target_is_directory=True)
    (site / "sub").mkdir()
    (site / "sub" / "index.html").symlink_to(secret)  # a folder's index that leads out
    (site / "inside.txt").write_text("inside")
    (site / "inside.txt.gz").symlink_to(secret)  # a gzip variant that leads out
    with serving(site) as (base, _):
        status, headers, body = get(base + "/inside.txt", **{"Accept-Encoding": "gzip"})
        assert body == b"inside" and "content-encoding" not in headers and "vary" not in headers
        for path in ("/models/", "/vendor/", "/models/tiny/", "/link.txt", "/models/out/secret.txt",
                     "/../secret.txt", "/%2e%2e/secret.txt", "/nowhere.js", "/sub/", "/sub"):
            status, headers, body = get(base + path)
            assert status == 404 and b"not for visitors" not in body and b"<li>" not in body, path
            assert headers["cache-control"] == "no-store" and headers["x-content-type-options"] == "nosniff", path
        assert get(base + "/models/tiny/web.json")[0] == 200


def test_malformed_requests_get_a_4xx_and_the_server_goes_on(tmp_path):
    site = make_site(tmp_path)
    with serving(site) as (base, port):
        assert raw(port, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.0 400")
        assert raw(port, b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.0 414")
        assert raw(port, b"GET /index%00.html HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 400")
        assert raw(port, b"GET / HTTP/9.9\r\n\r\n")[:12] in (b"HTTP/1.0 400", b"HTTP/1.0 505")
        # a name over 255 bytes names no file: a 400 in one line, not a dropped connection
        assert raw(port, b"GET /" + b"a" * 300 + b".js HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 400")
        assert get(base + "/")[0] == 200


def test_slow_clients_cannot_take_every_thread(tmp_path):
    """At most max_connections connections are served at once (each idle one held up to 30 s a read): one more is
    answered 503 at once, and a connection is served again as soon as one closes."""
    site = make_site(tmp_path)
    server = serve.serve(site, port=0, verbose=False, max_connections=3)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
        time.sleep(0.3)
        assert raw(port, b"GET / HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 503")
        idle.pop().close()
        deadline = time.monotonic() + 10
        while not raw(port, b"GET / HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 200"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        for s in idle:
            s.close()
    finally:
        server.shutdown()
        server.server_close()


def test_an_idle_connection_is_closed(tmp_path, monkeypatch):
    monkeypatch.setattr(serve.SiteHandler, "timeout", 1)
    site = make_site(tmp_path)
    with serving(site) as (_, port):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            start = time.monotonic()
            assert s.recv(1024) == b""  # nothing sent: the server hangs up
            assert time.monotonic() - start < 5


def call(app, path: str, method: str = "GET", headers: list | None = None) -> tuple[int, dict, bytes, int]:
    """One ASGI request through ``app``: (status, headers, body, number of body messages)."""
    sent, asked = [], []

    async def receive():  # the request once; then the client waits, connected, until the response is done
        if asked:
            await asyncio.Event().wait()
        asked.append(True)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)
    scope = {"type": "http", "method": method, "path": path, "headers": headers or [], "query_string": b"",
             "http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 80), "root_path": ""}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    bodies = [m for m in sent if m["type"] == "http.response.body"]
    return (start["status"], {k.decode(): v.decode() for k, v in start["headers"]},
            b"".join(m.get("body", b"") for m in bodies), len(bodies))


def test_the_middleware_serves_the_current_assets_only_streamed_and_for_good(tmp_path):
    current, old = tmp_path / "cache" / "0123456789abcdef", tmp_path / "cache" / "fedcba9876543210"
    for folder in (current, old):
        (folder / "vendor").mkdir(parents=True)
        (folder / "cyclegan.js").write_text("// the page's script")
    big = (current / "vendor" / "big.wasm")
    big.write_bytes(bytes(300_000))
    (tmp_path / "cache" / "secret.txt").write_text("x")
    (current / "sub").mkdir()
    (current / "sub" / "index.html").symlink_to(tmp_path / "cache" / "secret.txt")
    (current / "page.js").write_text("// inside")
    (current / "page.js.gz").symlink_to(old / "cyclegan.js")

    async def gradio(scope, receive, send):  # the app behind the middleware
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": b"<html>"})
    app = serve.IsolationMiddleware(gradio, current)
    status, headers, body, parts = call(app, f"{serve.WEB_ROUTE}{current.name}/vendor/big.wasm")
    assert status == 200 and body == bytes(300_000) and parts > 1  # streamed in pieces, not read whole
    assert headers["cache-control"] == serve.IMMUTABLE and headers["x-content-type-options"] == "nosniff"
    assert headers["cross-origin-embedder-policy"] == "require-corp"
    for path in (f"{serve.WEB_ROUTE}{old.name}/cyclegan.js", f"{serve.WEB_ROUTE}secret.txt",
                 f"{serve.WEB_ROUTE}{current.name}/../secret.txt", f"{serve.WEB_ROUTE}{current.name}/vendor/",
                 f"{serve.WEB_ROUTE}{current.name}/%00", f"{serve.WEB_ROUTE}{current.name}/sub/",
                 f"{serve.WEB_ROUTE}{current.name}/{'a' * 300}.js", f"{serve.WEB_ROUTE}{current.name}/{'a/' * 3000}x"):
        status, headers, body, _ = call(app, path)
        assert status == 404 and headers["cache-control"] == "no-store", path
    status, headers, body, _ = call(app, f"{serve.WEB_ROUTE}{current.name}/page.js", headers=[(b"accept-encoding", b"gzip")])
    assert body == b"// inside" and "content-encoding" not in headers  # its .gz leads out of the folder
    status, headers, body, _ = call(app, "/")  # Gradio's own pages get the headers too
    assert body == b"<html>" and headers["x-content-type-options"] == "nosniff"
    assert headers["cross-origin-opener-policy"] == "same-origin"
