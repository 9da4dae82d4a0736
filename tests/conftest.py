"""Shared fixtures: tiny image folders, tiny generators and a file server on 127.0.0.1, made in tmp_path. The helpers
behind them, which the benchmarks use too, are in ``cyclegan.testing``."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from cyclegan import Generator
from cyclegan.testing import write_images

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def dataroot(tmp_path: Path) -> Path:
    """A CycleGAN-layout folder: reddish A, bluish B, 6 training and 2 test images each, 40x40."""
    root = tmp_path / "data"
    write_images(root / "trainA", 6, (200, 60, 60), seed=1)
    write_images(root / "trainB", 5, (60, 60, 200), seed=2)
    write_images(root / "testA", 2, (200, 60, 60), seed=3)
    write_images(root / "testB", 2, (60, 60, 200), seed=4)
    return root


# -- tiny generators and a model folder of them (the CPU graph's and the backends' tests) ------------------------------
@pytest.fixture
def generators():
    torch.manual_seed(0)
    return Generator(ngf=8, n_blocks=2).eval(), Generator(ngf=8, n_blocks=2).eval()


@pytest.fixture
def model_dir(tmp_path, generators):
    G_AB, G_BA = generators
    G_AB.save_pretrained(tmp_path / "model" / "G_AB")
    G_BA.save_pretrained(tmp_path / "model" / "G_BA")
    return tmp_path / "model"


# -- a file server on 127.0.0.1 (downloads, the zoo) -------------------------------------------------------------------
@pytest.fixture
def server(tmp_path):
    """Serves tmp_path/www on a free port; yields (base URL, folder)."""
    import functools
    import http.server
    import threading
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", www
    httpd.shutdown()
    httpd.server_close()
