"""The app's front door: every HTTP request is held against the routes this app uses before Gradio sees it.

Gradio mounts more routes than this app needs (a proxy to other Spaces, a relay of any web address, a screen
recorder's ffmpeg transcode, monitoring, an editor), and each is work a stranger can ask for. ``ROUTES`` names every
route Gradio (and the MCP server) mount, with what the app does with it: the page's, the API's and the MCP server's
are let through, the rest answer 404 as if they did not exist. A test lists the mounted routes and fails on one that
``ROUTES`` does not name, so a new Gradio cannot add one unexamined.

What passes is bounded too: a path no file can have (a name over 255 bytes) is refused before anything looks it up;
a body is capped by what its route needs (``UploadLimits.max_body_bytes`` for the JSON of API calls and events, the
largest file for an upload, a base64 file for MCP), by the length it declares or, sent in chunks, as it arrives; an
upload must say its length and is refused before it is written when it would take the app's temp folder past its budget.
"""
from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable

from .config import UploadLimits

GRADIO_API = "/gradio_api"
MAX_NAME_BYTES = 255  # the longest file name most file systems take: a longer path component names nothing
MAX_PATH_BYTES = 4096


@dataclass(frozen=True)
class Route:
    """What the app does with a mounted route: the methods it answers (none: refused, as if it did not exist), and
    why."""

    methods: tuple[str, ...]
    why: str


PAGE = ("GET", "HEAD")
REFUSED: tuple[str, ...] = ()
# Every route Gradio 6 and its MCP server mount, as their templates read. The prefix GRADIO_API is written out.
ROUTES: dict[str, Route] = {
    # The page and what it loads.
    "/": Route(PAGE, "the page"),
    "/config": Route(PAGE, "the page's layout (the page and gradio_client read it)"),
    "/config/": Route(PAGE, "the same"),
    "/theme.css": Route(PAGE, "the page's theme"),
    f"{GRADIO_API}/theme.css": Route(PAGE, "the same"),
    "/assets/{path:path}": Route(PAGE, "the page's scripts and styles (Gradio's own files)"),
    "/static/{path:path}": Route(PAGE, "Gradio's static files"),
    "/svelte/{path:path}": Route(PAGE, "Gradio's Svelte runtime"),
    "/favicon.ico": Route(PAGE, "the page's icon"),
    "/robots.txt": Route(PAGE, "a crawler's rules"),
    "/manifest.json": Route(PAGE, "the web app manifest the page links"),
    "/pwa_icon": Route(PAGE, "its icon"),
    "/pwa_icon/{size}": Route(PAGE, "its icon, sized"),
    f"{GRADIO_API}/info": Route(PAGE, "the API's description (gradio_client, the page's API view)"),
    f"{GRADIO_API}/info/": Route(PAGE, "the same"),
    f"{GRADIO_API}/openapi.json": Route(PAGE, "the same, as OpenAPI"),
    f"{GRADIO_API}/startup-events": Route(PAGE, "the page asks it once as it opens"),
    f"{GRADIO_API}/app_id": Route(PAGE, "the app's id, for the page"),
    # The queue: every translation goes through it.
    f"{GRADIO_API}/queue/join": Route(("POST",), "a request joins the queue (the page, gradio_client, the REST API)"),
    f"{GRADIO_API}/queue/data": Route(("GET",), "the queue's answers, streamed"),
    f"{GRADIO_API}/cancel": Route(("POST",), "a client cancels its request"),
    f"{GRADIO_API}/heartbeat/{{session_hash}}": Route(("GET",), "the page says it is still open"),
    f"{GRADIO_API}/reset": Route(("POST",), "a no-op that clients send"),
    f"{GRADIO_API}/reset/": Route(("POST",), "the same"),
    f"{GRADIO_API}/run/{{api_name}}": Route(("POST",), "the page's small unqueued events (changing the model); every "
                                                        "handler that takes a file is queued (guard.guard_inputs)"),
    f"{GRADIO_API}/run/{{api_name}}/": Route(("POST",), "the same"),
    f"{GRADIO_API}/call/{{api_name}}": Route(("POST",), "the REST API: joins the queue"),
    f"{GRADIO_API}/call/{{api_name}}/": Route(("POST",), "the same"),
    f"{GRADIO_API}/call/{{api_name}}/{{event_id}}": Route(("GET",), "the REST API's answer"),
    # Files: uploads in, results and examples out.
    f"{GRADIO_API}/upload": Route(("POST",), "an upload (its length said, the disk budget kept)"),
    f"{GRADIO_API}/upload_progress": Route(("GET",), "an upload's progress, for the page"),
    f"{GRADIO_API}/file={{path_or_url:path}}": Route(PAGE, "results, uploads and examples by path (Gradio keeps them "
                                                           "to its folders); a web address is refused here, never "
                                                           "fetched"),
    # The MCP server (python app.py --mcp).
    f"{GRADIO_API}/mcp": Route(("GET", "POST", "DELETE"), "the MCP server (its own routes inside)"),
    # Refused: what this app does not use.
    "/openapi.json": Route(REFUSED, "FastAPI's own schema; the API's is at /gradio_api/info"),
    "/login": Route(REFUSED, "no login: the app has no auth"),
    "/login/": Route(REFUSED, "the same"),
    "/logout": Route(REFUSED, "the same"),
    f"{GRADIO_API}/user": Route(REFUSED, "the same"),
    f"{GRADIO_API}/user/": Route(REFUSED, "the same"),
    f"{GRADIO_API}/login_check": Route(REFUSED, "the same"),
    f"{GRADIO_API}/login_check/": Route(REFUSED, "the same"),
    f"{GRADIO_API}/token": Route(REFUSED, "the same"),
    f"{GRADIO_API}/token/": Route(REFUSED, "the same"),
    f"{GRADIO_API}/app_id/": Route(REFUSED, "the unslashed one is enough"),
    f"{GRADIO_API}/dev/reload": Route(REFUSED, "Gradio's reload mode, for development"),
    f"{GRADIO_API}/deep_link": Route(REFUSED, "deep links would keep a copy of a session's values; none are offered"),
    f"{GRADIO_API}/proxy={{url_path:path}}": Route(REFUSED, "a proxy to other Spaces (gr.load), which the app never "
                                                           "loads"),
    f"{GRADIO_API}/file/{{path:path}}": Route(REFUSED, "the deprecated spelling of file="),
    f"{GRADIO_API}/stream/{{event_id}}": Route(REFUSED, "streaming inputs; the app has none"),
    f"{GRADIO_API}/stream/{{event_id}}/close": Route(REFUSED, "the same"),
    f"{GRADIO_API}/stream/{{session_hash}}/{{run}}/{{component_id}}/playlist.m3u8": Route(
        REFUSED, "streaming outputs; the app has none"),
    f"{GRADIO_API}/stream/{{session_hash}}/{{run}}/{{component_id}}/{{segment_id}}.{{ext}}": Route(REFUSED, "the same"),
    f"{GRADIO_API}/stream/{{session_hash}}/{{run}}/{{component_id}}/playlist-file": Route(REFUSED, "the same"),
    f"{GRADIO_API}/api/{{api_name}}": Route(REFUSED, "the older spelling of run/; the page and clients use the "
                                                     "queue"),
    f"{GRADIO_API}/api/{{api_name}}/": Route(REFUSED, "the same"),
    f"{GRADIO_API}/call/v2/{{api_name}}": Route(REFUSED, "a second REST API; call/ is the documented one"),
    f"{GRADIO_API}/call/v2/{{api_name}}/": Route(REFUSED, "the same"),
    f"{GRADIO_API}/call/v2/{{api_name}}/{{event_id}}": Route(REFUSED, "the same"),
    f"{GRADIO_API}/queue/status": Route(REFUSED, "queue statistics"),
    f"{GRADIO_API}/component_server": Route(REFUSED, "server functions of components (a file explorer's); the app "
                                                     "has none"),
    f"{GRADIO_API}/component_server/": Route(REFUSED, "the same"),
    f"{GRADIO_API}/process_recording": Route(REFUSED, "an ffmpeg transcode per effect, for screen recordings"),
    f"{GRADIO_API}/custom_component/{{id}}/{{environment}}/{{type}}/{{file_name}}": Route(
        REFUSED, "custom components' files; the app has none"),
    f"{GRADIO_API}/runs": Route(REFUSED, "the run history of Gradio's monitoring"),
    f"{GRADIO_API}/runs/": Route(REFUSED, "the same"),
    f"{GRADIO_API}/run-history/connect": Route(REFUSED, "the same"),
    f"{GRADIO_API}/run-history/buckets": Route(REFUSED, "the same"),
    f"{GRADIO_API}/run-history/records": Route(REFUSED, "the same"),
    f"{GRADIO_API}/run-history/records/{{endpoint}}/{{record_id}}/assets/{{asset_id}}": Route(REFUSED, "the same"),
    "/monitoring": Route(REFUSED, "Gradio's monitoring dashboard"),
    "/monitoring/summary": Route(REFUSED, "the same"),
    "/monitoring/{key}": Route(REFUSED, "the same"),
    f"{GRADIO_API}/vibe-edit": Route(REFUSED, "Gradio's AI editor of the app's own code"),
    f"{GRADIO_API}/vibe-edit/": Route(REFUSED, "the same"),
    f"{GRADIO_API}/undo-vibe-edit": Route(REFUSED, "the same"),
    f"{GRADIO_API}/undo-vibe-edit/": Route(REFUSED, "the same"),
    f"{GRADIO_API}/vibe-code": Route(REFUSED, "the same"),
    f"{GRADIO_API}/vibe-code/": Route(REFUSED, "the same"),
    f"{GRADIO_API}/vibe-starter-queries": Route(REFUSED, "the same"),
    f"{GRADIO_API}/vibe-starter-queries/": Route(REFUSED, "the same"),
}


def pattern(template: str) -> re.Pattern:
    """A route template as a regular expression: ``{name:path}`` matches anything, ``{name}`` one path segment."""
    parts = re.split(r"(\{[^}]+\})", template)
    out = "".join(("(.*)" if p.endswith(":path}") else "([^/]+)") if p.startswith("{") else re.escape(p)
                  for p in parts)
    return re.compile(out + ("(/.*)?" if template == f"{GRADIO_API}/mcp" else ""))


_PATTERNS = [(pattern(t), route) for t, route in ROUTES.items()]


def route_for(path: str) -> Route | None:
    """The entry of ``ROUTES`` that ``path`` falls under (the first whose template matches it whole); None if none."""
    for regex, route in _PATTERNS:
        if regex.fullmatch(path):
            return route
    return None


WEB_ADDRESS = re.compile(r"^\s*([a-z][a-z0-9+.\-]*:|[/\\]{2})", re.IGNORECASE)


def refusal(method: str, path: str) -> tuple[int, str] | None:
    """Why ``method path`` is refused before Gradio sees it, as (status, message); None when it may pass."""
    raw = path.encode("utf-8", "surrogateescape")
    if len(raw) > MAX_PATH_BYTES or any(len(part) > MAX_NAME_BYTES for part in raw.split(b"/")):
        return 414, "Path too long: no file here has a name over 255 bytes"
    route = route_for(path)
    if route is None or not route.methods:
        return 404, "Not found"
    if method not in route.methods:
        return 405, "Method not allowed"
    if path.startswith(f"{GRADIO_API}/file="):
        named = urllib.parse.unquote(path[len(f"{GRADIO_API}/file="):])
        if WEB_ADDRESS.match(named):
            return 404, "Not found: this app serves its own files, never a web address"
    return None


class Gate:
    """ASGI middleware in front of Gradio: ``refusal`` for every request, then the body's cap (by its route) and, for
    an upload, ``admit(length)``: whether the app's temp folder can take it (``uploads.DiskBudget.admit``)."""

    def __init__(self, app, limits: UploadLimits = UploadLimits(), admit: Callable[[int], bool] | None = None,
                 log: Callable[[str], None] | None = print):
        self.app, self.limits, self.admit, self.log = app, limits, admit, log
        self.upload_cap = max(limits.max_bytes, limits.max_video_bytes) + 1024 ** 2  # the form's own bytes
        self.mcp_cap = limits.max_bytes * 4 // 3 + 64 * 1024  # an inline file, base64

    def cap(self, path: str) -> int:
        if path.startswith(f"{GRADIO_API}/upload"):
            return self.upload_cap
        if path.startswith(f"{GRADIO_API}/mcp"):
            return self.mcp_cap
        return self.limits.max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self.app(scope, receive, send)
        if scope["type"] != "http":  # no websocket is served
            return await send({"type": "websocket.close", "code": 1008})
        method, path = scope.get("method", "GET"), scope.get("path", "")
        refused = refusal(method, path)
        headers = dict(scope.get("headers", []))
        length = headers.get(b"content-length")
        cap = self.cap(path)
        if refused is None and method == "POST":
            try:
                declared = int(length) if length is not None else None
            except ValueError:
                declared = -1
            if declared is not None and not 0 <= declared:
                refused = (400, "Bad request: a malformed Content-Length")
            elif declared is not None and declared > cap:
                refused = (413, f"Request too large: {declared:,} bytes > limit of {cap:,} for {path}")
            elif path == f"{GRADIO_API}/upload":
                if declared is None:
                    refused = (411, "Length required: an upload must say its length")
                elif self.admit is not None and not self.admit(declared):
                    refused = (507, "The server's upload space is full: try again in a few minutes")
        if refused is None and method == "POST" and length is None:
            # Chunked: no length said. Read it here, up to the cap (HTTP's framing holds a body to the length it
            # declares, so only these need counting), and hand it on whole.
            body, more = b"", True
            while more and len(body) <= cap:
                message = await receive()
                if message["type"] != "http.request":
                    return
                body += message.get("body", b"")
                more = message.get("more_body", False)
            if len(body) > cap:
                refused = (413, f"Request too large: more than {cap:,} bytes for {path}")
            else:
                receive = self._replay(body, receive)
        if refused is not None:
            return await self._refuse(scope, receive, send, *refused)
        return await self.app(scope, receive, send)

    @staticmethod
    def _replay(body: bytes, receive):
        """``receive`` that gives ``body`` first, then what the client sends (a disconnect)."""
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()
        return replay

    async def _refuse(self, scope, receive, send, status: int, message: str) -> None:
        if self.log is not None and status not in (404,):
            self.log(f"* refused {scope.get('method')} {scope.get('path', '')[:120]!r}: {message}")
        body = json.dumps({"detail": message}).encode()
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

