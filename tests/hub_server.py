"""A stand-in for the Hub's upload API on 127.0.0.1, enough for HfApi.create_repo and HfApi.create_commit, for model
repos and Spaces alike (``created`` keeps what each create_repo asked for: its type, a Space's SDK, privacy).

It answers every file as a "regular" (non-LFS) upload, so a commit carries the files' bytes in its body, and
keeps the latest bytes of each path in ``files``. Tests point huggingface_hub at it through ``endpoint``.
"""
from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeHub:
    def __init__(self):
        self.files: dict[str, dict[str, bytes]] = {}  # repo id -> path -> bytes
        self.commits: list[tuple[str, str, list[str]]] = []  # (repo id, message, paths)
        self.created: dict[str, dict] = {}  # repo id -> the create_repo request's body
        self.fail_next_commit = False
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _reply(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts[:3] == ["api", "repos", "create"]:
                    name = json.loads(body)
                    repo = f"{name.get('organization') or 'user'}/{name['name']}"
                    hub.files.setdefault(repo, {})
                    hub.created[repo] = name
                    kind = {"space": "spaces/", "dataset": "datasets/"}.get(name.get("type"), "")
                    return self._reply(200, {"url": f"{hub.endpoint}/{kind}{repo}", "name": repo})
                if parts[:2] == ["api", "validate-yaml"]:
                    return self._reply(200, {})
                if parts[0] == "api" and parts[1] in ("models", "spaces") and parts[4] == "preupload":
                    files = json.loads(body)["files"]
                    return self._reply(200, {"files": [{"path": f["path"], "uploadMode": "regular",
                                                        "shouldIgnore": False} for f in files]})
                if parts[0] == "api" and parts[1] in ("models", "spaces") and parts[4] == "commit":
                    if hub.fail_next_commit:
                        hub.fail_next_commit = False
                        return self._reply(503, {"error": "the Hub is down for a moment"})
                    repo, lines = f"{parts[2]}/{parts[3]}", [json.loads(x) for x in body.splitlines() if x.strip()]
                    header = next(x["value"] for x in lines if x["key"] == "header")
                    paths = []
                    for x in lines:
                        if x["key"] == "file":
                            hub.files.setdefault(repo, {})[x["value"]["path"]] = base64.b64decode(x["value"]["content"])
                            paths.append(x["value"]["path"])
                    hub.commits.append((repo, header["summary"], paths))
                    return self._reply(200, {"commitUrl": f"{hub.endpoint}/{repo}/commit/{len(hub.commits):040x}",
                                             "commitOid": f"{len(hub.commits):040x}", "pullRequestUrl": None})
                return self._reply(404, {"error": f"not served here: {self.path}"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
