"""Helpers for the app tests: a tiny model, a pre-filled Hub cache, a slow file server, and `python app.py` in a
subprocess."""
from __future__ import annotations

import functools
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import torch

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A port nothing listens on right now (also good as a 'connection refused' address)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_tiny_model(folder: Path, name: str = "tiny", domain_a: str = "apple", domain_b: str = "orange", **kw) -> Path:
    """A tiny untrained model folder; ``kw`` go to ``export_model`` (native_size, default_direction, ...)."""
    from cyclegan import Generator
    from cyclegan.hub import export_model
    torch.manual_seed(0)
    return export_model(Generator(ngf=8, n_blocks=2), Generator(ngf=8, n_blocks=2), folder, name=name,
                        domain_a=domain_a, domain_b=domain_b, train_config={}, model_config={"ngf": 8, "n_blocks": 2},
                        summary=f"A tiny untrained test model ({name}).", **kw)


def prefill_hub_cache(cache: Path, repo_id: str, model_folder: Path, commit: str = "0" * 39 + "1") -> Path:
    """The layout huggingface_hub's cache uses: models--owner--name/{refs/main, snapshots/<commit>/...}."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(model_folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return repo


class SlowFileServer:
    """Serves a folder on 127.0.0.1 in ``chunk``-byte pieces with a pause after each, so that a download lasts long
    enough (a few seconds) for its progress to be watched. A context manager; ``url`` is its address."""

    def __init__(self, folder: Path, chunk: int = 1 << 20, pause: float = 0.05):
        class Handler(http.server.SimpleHTTPRequestHandler):
            def copyfile(self, source, outputfile):
                while data := source.read(chunk):
                    outputfile.write(data)
                    time.sleep(pause)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     functools.partial(Handler, directory=str(folder)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "SlowFileServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class AppServer:
    """`python app.py ARGS` on a free 127.0.0.1 port, stopped (and its log shown on failure) by ``close``.

    ``timeout`` is generous: importing torch and gradio took 80-90 s on a 2-core machine that other jobs loaded.
    """

    def __init__(self, args: list[str], env: dict[str, str], log: Path, port: int | None = None,
                 port_from_env: bool = False, timeout: float = 240):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        full_env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1", **env}
        full_env.pop("GRADIO_SERVER_NAME", None)
        if port_from_env:
            full_env["GRADIO_SERVER_PORT"] = str(self.port)
        else:
            args = [*args, "--port", str(self.port)]
        self._log_file = open(log, "w")
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), *args], cwd=ROOT, env=full_env,
                                     stdout=self._log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self.close()
                raise RuntimeError(f"app.py exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.url + "/config", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"app.py did not serve {self.url} within {timeout} s:\n{self.output()}")
            time.sleep(0.3)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()
