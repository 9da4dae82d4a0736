"""Tests for cyclegan.datasets: Hub datasets in both layouts (image folders; parquet files of image columns or
configurations), read from a pre-filled Hugging Face cache with the Hub offline, trained on by name; and the one
line for each way a dataset cannot be had."""
from __future__ import annotations

import io

import pytest
from PIL import Image

from cyclegan.config import parse_args
from cyclegan.datasets import dataset_folder, is_hub_dataset
from cyclegan.errors import DownloadError
from cyclegan.testing import write_images

pa = pytest.importorskip("pyarrow", reason="parquet datasets need pyarrow (pip install pyarrow)")
import pyarrow.parquet as pq  # noqa: E402

COMMIT = "0" * 39 + "2"


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache, the Hub offline: a dataset is read from the cache or not at all."""
    import huggingface_hub.constants as constants
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def snapshot(cache, repo_id: str):
    """The cache's folder of the dataset ``repo_id`` at COMMIT, its main branch pointing there."""
    repo = cache / f"datasets--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    folder = repo / "snapshots" / COMMIT
    folder.mkdir(parents=True)
    return folder


def png(colour, size: int = 36) -> dict:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buf, "PNG")
    return {"bytes": buf.getvalue(), "path": None}


def write_parquet(path, columns: dict[str, list[dict]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    pq.write_table(pa.table({k: pa.array(v, type=image) for k, v in columns.items()}), path)


def test_names(tmp_path):
    assert is_hub_dataset("huggan/horse2zebra") and is_hub_dataset("me/my-set@v1.0")
    assert not is_hub_dataset("horse2zebra") and not is_hub_dataset("../shared/data")


def test_a_hub_dataset_of_image_folders_trains_by_name(hub_cache, tmp_path):
    folder = snapshot(hub_cache, "me/apples")
    for sub, colour in (("trainA", (200, 60, 60)), ("trainB", (60, 60, 200)), ("testA", (200, 60, 60)),
                        ("testB", (60, 60, 200))):
        write_images(folder / sub, 4, colour, size=36)
    assert dataset_folder("me/apples", tmp_path / "ds") == folder  # the cached snapshot itself: nothing copied
    from cyclegan.training import Trainer
    cfg, model_cfg = parse_args(["--dataset", "me/apples", "--data-dir", str(tmp_path / "ds"), "--ngf", "8",
                                 "--ndf", "8", "--n-blocks", "2", "--load-size", "32", "--crop-size", "32",
                                 "--device", "cpu", "--workers", "0", "--out", str(tmp_path / "run")])
    assert cfg.run_name() == "apples"
    trainer = Trainer(cfg, model_cfg)
    assert trainer.domains.train_a == folder / "trainA" and trainer.domains.test_b == folder / "testB"
    trainer.fit(max_steps=1)
    assert (tmp_path / "run" / "model" / "G_AB" / "model.safetensors").is_file()


def test_a_parquet_dataset_of_two_image_columns(hub_cache, tmp_path):
    """The domains guessed as the two image columns, in the order of the schema; written once to DATA_DIR/hub/."""
    folder = snapshot(hub_cache, "me/pairs")
    write_parquet(folder / "data" / "train-00000-of-00001.parquet",
                  {"imageA": [png("red")] * 3, "imageB": [png("blue")] * 3})
    write_parquet(folder / "data" / "test-00000-of-00001.parquet",
                  {"imageA": [png("red")], "imageB": [png("blue")]})
    root = dataset_folder("me/pairs", tmp_path / "ds")
    assert root == tmp_path / "ds" / "hub" / f"me--pairs@{COMMIT}"
    assert {d.name: len(list(d.iterdir())) for d in root.iterdir()} == {"trainA": 3, "trainB": 3, "testA": 1,
                                                                       "testB": 1}
    assert Image.open(next((root / "trainB").iterdir())).getpixel((0, 0)) == (0, 0, 255)
    assert dataset_folder("me/pairs", tmp_path / "ds") == root  # written once
    swapped = dataset_folder("me/pairs", tmp_path / "other", domains="imageB,imageA")  # A and B named
    assert Image.open(next((swapped / "trainA").iterdir())).getpixel((0, 0)) == (0, 0, 255)


def test_a_parquet_dataset_of_two_configurations(hub_cache, tmp_path):
    """One configuration a domain (the Hub's folders), one image column each: guessed in the repository's order,
    or named with --domains."""
    folder = snapshot(hub_cache, "me/animals")
    for config, colour in (("horse", "brown"), ("zebra", "white")):
        write_parquet(folder / config / "train-00000-of-00001.parquet", {"image": [png(colour)] * 2})
    root = dataset_folder("me/animals", tmp_path / "ds")
    assert Image.open(next((root / "trainA").iterdir())).getpixel((0, 0)) == (165, 42, 42)  # horse: brown
    root = dataset_folder("me/animals", tmp_path / "ds2", domains="zebra,horse")
    assert Image.open(next((root / "trainA").iterdir())).getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize("name, domains, message", [
    ("me/missing", "", "not in the local cache and the Hub cannot be reached"),
    ("me/empty", "", "has neither trainA/ and trainB/ folders nor parquet files of images"),
    ("me/three", "", "say which are domain A and B with --domains A,B (it has image columns a, b, c)"),
    ("me/three", "a", "--domains takes two names"),
    ("me/text", "", "has parquet files but no image column"),
    ("me/apples", "x,y", "holds trainA/ and trainB/ folders"),
])
def test_a_dataset_that_cannot_be_had_gets_one_line(hub_cache, tmp_path, name, domains, message):
    (snapshot(hub_cache, "me/empty") / "notes.txt").write_text("no images")
    write_parquet(snapshot(hub_cache, "me/three") / "train-00000-of-00001.parquet",
                  {k: [png("red")] for k in "abc"})
    pq.write_table(pa.table({"text": ["a"]}), snapshot(hub_cache, "me/text") / "train-00000-of-00001.parquet")
    write_images(snapshot(hub_cache, "me/apples") / "trainA", 1, (1, 2, 3))
    write_images(hub_cache / "datasets--me--apples" / "snapshots" / COMMIT / "trainB", 1, (1, 2, 3))
    with pytest.raises(DownloadError, match=message.replace("(", r"\(").replace(")", r"\)")):
        dataset_folder(name, tmp_path / "ds", domains=domains)


def test_a_failed_download_from_the_mirror_names_the_hub(tmp_path, monkeypatch):
    """The reference's server is often down: the line says so and says how to find the set on the Hub."""
    from cyclegan.testing import free_port
    monkeypatch.setattr("cyclegan.download.DATASETS_URL", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(DownloadError, match=r"could not download .*horse2zebra\.zip.* on the Hugging Face Hub too: "
                                            r"find one at https://huggingface\.co/datasets\?search=horse2zebra"):
        dataset_folder("horse2zebra", tmp_path / "ds")
    with pytest.raises(DownloadError, match="--domains names a Hub dataset's"):
        dataset_folder("horse2zebra", tmp_path / "ds", domains="a,b")


def test_a_private_dataset_without_a_token_gets_one_line(tmp_path, monkeypatch):
    """The Hub answers 401 for a private (or missing) repository to a client without a token: one line that says
    to log in. The Hub here is a server this test starts on 127.0.0.1."""
    import http.server
    import threading
    import huggingface_hub.constants as constants

    class Hub(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(401)
            self.send_header("X-Error-Code", "RepoNotFound")
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error": "Repository not found"}')
        do_HEAD = do_GET

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
        monkeypatch.delenv("HF_TOKEN", raising=False)
        with pytest.raises(DownloadError, match=r"no Hub dataset 'me/private' \(or it is private: log in"):
            dataset_folder("me/private", tmp_path / "ds", token=False)
    finally:
        server.shutdown()
