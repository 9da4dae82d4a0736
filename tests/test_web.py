"""Tests for cyclegan/web.py: the static site's server (headers, gzip, caching) and the app's middleware."""
from __future__ import annotations

import gzip
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_export import make_site  # noqa: E402

from cyclegan import web  # noqa: E402


def get(url: str, **headers) -> tuple[int, dict, bytes]:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
        return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()


def test_the_site_server_sends_isolation_headers_gzip_and_long_caching(tmp_path):
    site = make_site(tmp_path)
    server = web.serve(site, port=0, verbose=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        status, headers, body = get(base + "/")
        assert status == 200 and b"cyclegan.js" in body
        assert headers["cross-origin-opener-policy"] == "same-origin"
        assert headers["cross-origin-embedder-policy"] == "require-corp" and headers["cache-control"] == "no-cache"
        status, headers, body = get(base + "/vendor/ort-wasm-simd-threaded.wasm", **{"Accept-Encoding": "gzip, br"})
        assert headers["content-encoding"] == "gzip" and headers["content-type"] == "application/wasm"
        assert headers["cache-control"] == web.IMMUTABLE and gzip.decompress(body)[:4] == b"\0asm"
        status, headers, body = get(base + "/vendor/ort-wasm-simd-threaded.wasm")  # no gzip asked for: the plain file
        assert "content-encoding" not in headers and body[:4] == b"\0asm"
        assert get(base + "/cyclegan.js")[1]["content-type"] == "text/javascript"
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(FileNotFoundError, match="has no index.html"):
        web.serve(tmp_path, port=0)
