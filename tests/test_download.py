"""--dataset and cyclegan.zoo against files served by the test on 127.0.0.1."""
import functools
import http.server
import threading
import zipfile

import pytest
import torch

from cyclegan import Translator
from cyclegan.download import DownloadError, download_dataset
from cyclegan.zoo import fetch
from cyclegan.testing import write_images
from cyclegan.testing import reference_layout


@pytest.fixture
def server(tmp_path):
    """Serves tmp_path/www on a free port; yields (base URL, folder)."""
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


def make_dataset_zip(www, name, tmp_path):
    src = tmp_path / "src" / name
    for sub in ("trainA", "trainB", "testA", "testB"):
        write_images(src / sub, 2, (10, 200, 10), size=16)
    with zipfile.ZipFile(www / f"{name}.zip", "w") as z:
        for p in src.rglob("*.png"):
            z.write(p, p.relative_to(src.parent))


def test_dataset_download_unpacks_and_reuses(server, tmp_path):
    url, www = server
    make_dataset_zip(www, "horse2zebra", tmp_path)
    root = download_dataset("horse2zebra", tmp_path / "datasets", base_url=url)
    assert root == tmp_path / "datasets" / "horse2zebra"
    assert sorted(p.name for p in root.iterdir()) == ["testA", "testB", "trainA", "trainB"]
    assert sorted(p.name for p in (tmp_path / "datasets").iterdir()) == ["horse2zebra"]  # no leftovers
    (www / "horse2zebra.zip").unlink()
    assert download_dataset("horse2zebra", tmp_path / "datasets", base_url=url) == root  # reused, no download


def test_dataset_download_failures_leave_nothing(server, tmp_path):
    url, www = server
    with pytest.raises(DownloadError, match="could not download .*apple2orange.zip"):
        download_dataset("apple2orange", tmp_path / "d", base_url=url)  # 404
    (www / "monet2photo.zip").write_bytes(b"this is not a zip")
    with pytest.raises(DownloadError, match="not a valid zip"):
        download_dataset("monet2photo", tmp_path / "d", base_url=url)
    assert list((tmp_path / "d").iterdir()) == []
    with pytest.raises(DownloadError, match="unknown dataset 'horses'"):
        download_dataset("horses", tmp_path / "d", base_url=url)


def test_dataset_names_match_the_reference_script():
    """The names of the reference's datasets/download_cyclegan_dataset.sh, written out; cityscapes is refused."""
    from cyclegan.download import DATASETS, RESTRICTED
    reference = {"apple2orange", "summer2winter_yosemite", "horse2zebra", "monet2photo", "cezanne2photo",
                 "ukiyoe2photo", "vangogh2photo", "maps", "cityscapes", "facades", "iphone2dslr_flower", "ae_photos",
                 "mini", "mini_pix2pix", "mini_colorization"}
    assert set(DATASETS) | set(RESTRICTED) == reference and not set(DATASETS) & set(RESTRICTED)


def test_cityscapes_explains_the_licence_without_downloading(server, tmp_path):
    url, www = server
    make_dataset_zip(www, "cityscapes", tmp_path)  # even if a mirror had it, it is not fetched
    with pytest.raises(DownloadError, match=r"cityscapes: due to license issue.*cityscapes-dataset\.com"
                                            r".*prepare_cityscapes_dataset\.py"):
        download_dataset("cityscapes", tmp_path / "d", base_url=url)
    assert not (tmp_path / "d").exists()


def test_mini_set_downloads(server, tmp_path):
    url, www = server
    make_dataset_zip(www, "mini", tmp_path)
    assert (download_dataset("mini", tmp_path / "d", base_url=url) / "trainB").is_dir()


def test_set_without_trainA_gets_a_clear_message_and_keeps_its_files(server, tmp_path):
    url, www = server
    write_images(tmp_path / "src" / "ae_photos" / "photos", 2, (10, 10, 10), size=16)
    with zipfile.ZipFile(www / "ae_photos.zip", "w") as z:
        for p in (tmp_path / "src").rglob("*.png"):
            z.write(p, p.relative_to(tmp_path / "src"))
    message = r"dataset 'ae_photos' in .*ae_photos has no trainA/ and trainB/ \(it holds photos/\).*--domain-a"
    with pytest.raises(DownloadError, match=message):
        download_dataset("ae_photos", tmp_path / "d", base_url=url)
    assert len(list((tmp_path / "d" / "ae_photos" / "photos").iterdir())) == 2  # usable with --domain-a
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["ae_photos"]  # no archive or staging left
    (www / "ae_photos.zip").unlink()
    with pytest.raises(DownloadError, match=message):  # the second time: the same message, no download
        download_dataset("ae_photos", tmp_path / "d", base_url=url)


def test_train_cli_downloads_by_name(server, tmp_path, monkeypatch):
    url, www = server
    make_dataset_zip(www, "apple2orange", tmp_path)
    monkeypatch.setattr("cyclegan.download.DATASETS_URL", url)
    from cyclegan.config import parse_args
    from cyclegan.training import resolve_domains
    cfg, _ = parse_args(["--dataset", "apple2orange", "--data-dir", str(tmp_path / "ds")])
    domains = resolve_domains(cfg)
    assert domains.train_a == tmp_path / "ds" / "apple2orange" / "trainA"


def test_zoo_fetch_converts_reference_weights(server, tmp_path):
    url, www = server
    torch.manual_seed(0)
    for name in ("horse2zebra", "zebra2horse"):
        state = {k: torch.randn(s) * 0.02 for k, s in reference_layout(64, 9).items()}
        state["model.2.running_var"] = torch.ones(64)  # dropped, as the reference does
        torch.save(state, www / f"{name}.pth")
    folder = fetch("horse2zebra", tmp_path / "checkpoints", base_url=url)
    assert folder == tmp_path / "checkpoints" / "horse2zebra-reference"
    t = Translator.from_pretrained(folder)
    assert (t.manifest["domain_a"], t.manifest["domain_b"]) == ("horse", "zebra")
    expected = torch.load(www / "horse2zebra.pth", weights_only=True)["model.1.weight"]
    assert torch.allclose(t.generators["AtoB"].model[1].weight, expected, atol=1e-4)  # via fp16
    assert not list((tmp_path / "checkpoints" / ".downloads").iterdir())


def test_zoo_refuses_unsafe_pickles(server, tmp_path):
    url, www = server

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, www / "apple2orange.pth")
    torch.save({}, www / "orange2apple.pth")
    with pytest.raises(Exception, match="[Ww]eights only"):
        fetch("apple2orange", tmp_path / "c", base_url=url)


def test_zoo_errors(server, tmp_path):
    url, _ = server
    with pytest.raises(DownloadError, match="unknown zoo model"):
        fetch("cat2dog", tmp_path, base_url=url)
    with pytest.raises(DownloadError, match="could not download"):
        fetch("horse2zebra", tmp_path, base_url=url)


def test_summer2winter_by_name_trains_with_its_dated_file_names(server, tmp_path, monkeypatch):
    """summer2winter_yosemite's photos are named by their dates ("2009-12-06 06:58:39.jpg": spaces and colons), as
    the mirror's zip has them: `train.py --dataset summer2winter_yosemite` downloads, unpacks and trains on them with
    no step of the user's."""
    from PIL import Image
    from cyclegan.config import parse_args
    from cyclegan.training import Trainer
    url, www = server
    src = tmp_path / "src" / "summer2winter_yosemite"
    for sub, colour in (("trainA", (40, 160, 40)), ("trainB", (230, 230, 240)), ("testA", (40, 160, 40)),
                        ("testB", (230, 230, 240))):
        (src / sub).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (40, 40), colour).save(src / sub / f"2010-0{i + 1}-21 16:52:3{i}.jpg")
    with zipfile.ZipFile(www / "summer2winter_yosemite.zip", "w") as z:
        for p in src.rglob("*.jpg"):
            z.write(p, p.relative_to(src.parent))
    monkeypatch.setattr("cyclegan.download.DATASETS_URL", url)
    cfg, model_cfg = parse_args(["--dataset", "summer2winter_yosemite", "--data-dir", str(tmp_path / "ds"), "--ngf",
                                 "8", "--ndf", "8", "--n-blocks", "2", "--load-size", "32", "--crop-size", "32",
                                 "--device", "cpu", "--workers", "0", "--out", str(tmp_path / "run")])
    Trainer(cfg, model_cfg).fit(max_steps=2)
    assert sorted(p.name for p in (tmp_path / "ds" / "summer2winter_yosemite" / "trainA").iterdir())[0] == \
        "2010-01-21 16:52:30.jpg"
    assert (tmp_path / "run" / "model" / "G_AB" / "model.safetensors").is_file()
