"""Tests for cyclegan.gate: every route Gradio mounts is examined, and what the app does not use is refused before
Gradio sees it; bodies are capped by their route, uploads by the disk budget."""
from __future__ import annotations

import asyncio
import json

import pytest

from cyclegan.config import UploadLimits
from cyclegan.gate import GRADIO_API, ROUTES, Gate, refusal

from cyclegan.testing import free_port, make_tiny_model


def mounted_routes(app) -> set[str]:
    """The path templates of every route of a FastAPI app, included routers walked, mounts as their prefix."""
    found = set()

    def walk(routes, prefix=""):
        for route in routes:
            if hasattr(route, "original_router"):  # FastAPI's included router
                walk(route.original_router.routes, prefix + route.include_context.prefix)
            else:
                found.add(prefix + route.path)
    walk(app.routes)
    return found


def test_every_route_gradio_mounts_is_examined(tmp_path, monkeypatch):
    """The app launched as `python app.py --mcp` launches it: each route mounted is in gate.ROUTES, allowed with its
    methods or refused, with a reason. A new Gradio that mounts a route nobody has examined fails here."""
    from cyclegan.catalog import discover_models
    from cyclegan.page import build_demo
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    make_tiny_model(tmp_path / "ckpt" / "tiny")
    blocks = build_demo(discover_models(tmp_path / "ckpt", [], zoo=False))
    blocks.queue()
    blocks.launch(server_port=free_port(), prevent_thread_lock=True, quiet=True, mcp_server=True, ssr_mode=False)
    try:
        routes = mounted_routes(blocks.app)
    finally:
        blocks.close()
    assert f"{GRADIO_API}/queue/join" in routes and f"{GRADIO_API}/mcp" in routes  # the walk reaches the API's
    assert sorted(routes - set(ROUTES)) == []
    assert all(route.why for route in ROUTES.values())


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/", None), ("GET", "/config", None), ("POST", f"{GRADIO_API}/queue/join", None),
    ("GET", f"{GRADIO_API}/file=/tmp/gradio/x/a.png", None), ("POST", f"{GRADIO_API}/mcp/messages/", None),
    ("POST", f"{GRADIO_API}/process_recording", 404),  # an ffmpeg transcode per request
    ("GET", f"{GRADIO_API}/file=https://example.com/big.bin", 404),  # a relay of any web address
    ("GET", f"{GRADIO_API}/file=http%3A%2F%2Fexample.com%2Fx", 404), ("GET", f"{GRADIO_API}/file=//example.com/x", 404),
    ("GET", f"{GRADIO_API}/proxy=https://example.com/x", 404), ("GET", "/monitoring", 404),
    ("POST", f"{GRADIO_API}/vibe-edit", 404), ("GET", f"{GRADIO_API}/deep_link", 404), ("GET", "/nothing", 404),
    ("DELETE", "/config", 405), ("GET", f"{GRADIO_API}/file=" + "a" * 300, 414), ("GET", "/" + "é" * 200, 414),
])
def test_the_gate_lets_through_what_the_app_uses_and_nothing_else(method, path, status):
    refused = refusal(method, path)
    assert (refused and refused[0]) == status, refused


def call(gate: Gate, method: str, path: str, body: bytes = b"", headers: dict | None = None, chunks: int = 1):
    """One request through ``gate`` in front of a stand-in app; (status, what the app received or None)."""
    seen, sent = [], []

    async def app(scope, receive, send):
        data = b""
        while True:
            message = await receive()
            data += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen.append(data)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
    gate.app = app
    parts = [body[i * len(body) // chunks:(i + 1) * len(body) // chunks] for i in range(chunks)]

    async def receive():
        part = parts.pop(0) if parts else b""
        return {"type": "http.request", "body": part, "more_body": bool(parts)}

    async def send(message):
        sent.append(message)
    head = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    asyncio.run(gate({"type": "http", "method": method, "path": path, "headers": head}, receive, send))
    return sent[0]["status"], (seen[0] if seen else None), sent


def test_bodies_are_capped_by_their_route_whether_they_say_their_length_or_not():
    limits = UploadLimits(max_bytes=1000, max_video_bytes=2000, max_body_bytes=100)
    gate = Gate(None, limits, log=None)
    small = json.dumps({"data": ["x" * 10]}).encode()
    assert call(gate, "POST", f"{GRADIO_API}/queue/join", small, {"Content-Length": str(len(small))})[:2] == (200, small)
    assert call(gate, "POST", f"{GRADIO_API}/queue/join", small, chunks=3)[:2] == (200, small)  # chunked, whole
    big = b"{" + b" " * 200 + b"}"  # a data: URL inside the JSON, say
    status, seen, sent = call(gate, "POST", f"{GRADIO_API}/queue/join", big, {"Content-Length": str(len(big))})
    assert (status, seen) == (413, None) and b"Request too large" in sent[1]["body"]
    assert call(gate, "POST", f"{GRADIO_API}/queue/join", big, chunks=4)[:2] == (413, None)  # counted as it came
    assert call(gate, "POST", f"{GRADIO_API}/queue/join", big, {"Content-Length": "-5"})[0] == 400
    # MCP's inline files are base64: a file's worth
    assert call(gate, "POST", f"{GRADIO_API}/mcp/", b"x" * 1300, {"Content-Length": "1300"})[0] == 200


def test_an_upload_must_say_its_length_and_fit_the_disk_budget():
    admitted = []
    limits = UploadLimits(max_bytes=1000, max_video_bytes=2000)
    gate = Gate(None, limits, admit=lambda n: admitted.append(n) or n <= 500, log=None)
    upload = f"{GRADIO_API}/upload"
    assert call(gate, "POST", upload, b"x" * 400, {"Content-Length": "400"})[0] == 200
    status, seen, sent = call(gate, "POST", upload, b"x" * 600, {"Content-Length": "600"})
    assert (status, seen) == (507, None) and b"upload space is full" in sent[1]["body"]  # refused before it is read
    assert call(gate, "POST", upload, b"x" * 400, chunks=2)[0] == 411  # no length: cannot be admitted
    assert call(gate, "POST", upload, b"x" * 10, {"Content-Length": str(2000 + 2 * 1024 ** 2)})[0] == 413
    assert admitted == [400, 600]


def test_websockets_are_closed():
    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "websocket.connect"}
    asyncio.run(Gate(None, log=None)({"type": "websocket", "path": f"{GRADIO_API}/queue/join"}, receive, send))
    assert sent == [{"type": "websocket.close", "code": 1008}]


def test_uploads_never_take_the_folder_past_its_budget(tmp_path):
    """Gradio writes each upload it is let through: ten uploads of 1 MB in a row against a 3 MB budget, with no time
    for the budget's periodic look, leave at most 3 MB on disk (as the disk counts it); the rest are refused before
    a byte is written. (Before, the look ran every 30 s: `--max-disk 20mb` let 98 MB land.)"""
    from cyclegan.uploads import DiskBudget
    folder = tmp_path / "app-temp"
    folder.mkdir()
    budget = DiskBudget(folder, max_bytes=3 * 1024 ** 2)
    gate = Gate(None, UploadLimits(max_bytes=2 * 1024 ** 2), admit=budget.admit, log=None)
    statuses = []
    for i in range(10):
        body = bytes(1024 ** 2)
        status, seen, _ = call(gate, "POST", f"{GRADIO_API}/upload", body, {"Content-Length": str(len(body))})
        if seen is not None:  # what Gradio does with an upload it is handed: writes it into its folder
            (folder / f"upload-{i}").mkdir()
            (folder / f"upload-{i}" / "file.bin").write_bytes(seen)
        statuses.append(status)
    assert statuses.count(200) >= 2 and statuses.count(507) >= 6, statuses
    assert budget.used() <= 3 * 1024 ** 2
