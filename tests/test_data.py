import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from cyclegan.data import (DataError, Domains, UnpairedDataset, UnpairedSampler, list_images, readable_images,
                           train_transform)
from cyclegan.images import load_image
from cyclegan.testing import write_images


def test_list_images_filters_and_sorts(tmp_path):
    write_images(tmp_path, 2, (0, 0, 0))
    Image.new("RGB", (4, 4)).save(tmp_path / "x.JPG")
    Image.new("RGB", (4, 4)).save(tmp_path / "y.webp")
    Image.new("RGB", (4, 4)).save(tmp_path / "z.bmp")
    (tmp_path / "notes.txt").write_text("hi")
    assert [p.name for p in list_images(tmp_path)] == ["000.png", "001.png", "x.JPG", "y.webp", "z.bmp"]


def test_list_images_walks_subfolders_and_reads_the_reference_formats(tmp_path):
    """As the reference's make_dataset: subfolders and .tif/.tiff/.ppm count; hidden debris does not."""
    Image.new("RGB", (4, 4), (255, 0, 0)).save(tmp_path / "a.ppm")
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    Image.new("RGB", (4, 4), (0, 255, 0)).save(tmp_path / "sub" / "b.TIF")
    Image.new("RGB", (4, 4), (0, 0, 255)).save(tmp_path / "sub" / "deeper" / "c.tiff")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / ".ipynb_checkpoints" / "d.png")
    (tmp_path / "sub" / "._b.TIF").write_bytes(b"macOS resource fork")
    files = list_images(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in files] == ["a.ppm", "sub/b.TIF", "sub/deeper/c.tiff"]
    assert [load_image(p).getpixel((0, 0)) for p in files] == [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


def test_list_images_says_what_it_passed_over(tmp_path):
    """The folder CLI lists what it left out: hidden folders and files, other file types, dangling links."""
    write_images(tmp_path / "sub", 1, (0, 0, 0))
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "README").write_text("hi")
    (tmp_path / ".hidden.png").write_bytes(b"x")
    (tmp_path / ".cache").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / ".cache" / "d.png")
    (tmp_path / "gone.png").symlink_to(tmp_path / "missing.png")
    skipped = []
    assert list_images(tmp_path, skipped) == [tmp_path / "sub" / "000.png"]
    why = {path.relative_to(tmp_path).as_posix(): reason for path, reason in skipped}
    assert why.pop(".cache") == "hidden folder, not searched" and why.pop(".hidden.png") == "hidden file"
    assert why.pop("gone.png") == "not a file"
    assert why.pop("notes.txt").startswith("not an image type (.txt; reads .bmp, .jpeg")
    assert why.pop("README").startswith("not an image type (no extension;")
    assert why == {}
    assert list_images(tmp_path) == [tmp_path / "sub" / "000.png"]  # the same files without the report


def test_transparent_tiff_in_a_subfolder_goes_on_white(tmp_path):
    (tmp_path / "x").mkdir()
    Image.new("RGBA", (4, 4), (255, 0, 0, 0)).save(tmp_path / "x" / "clear.tiff")
    [path] = list_images(tmp_path)
    assert load_image(path).getpixel((1, 1)) == (255, 255, 255)


def test_unreadable_files_in_subfolders_are_named_by_relative_path(tmp_path):
    write_images(tmp_path / "ok", 2, (10, 10, 10))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "broken.tif").write_bytes(b"not a tiff")
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image\(s\) in .*: bad/broken.tif"):
        assert len(readable_images(tmp_path)) == 2


def test_list_images_errors(tmp_path):
    with pytest.raises(DataError, match="folder not found"):
        list_images(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images in"):
        list_images(tmp_path / "empty")


def test_unreadable_files_are_skipped_with_a_count(tmp_path):
    write_images(tmp_path, 3, (10, 10, 10))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.warns(UserWarning, match="skipped 2 unreadable image"):
        files = readable_images(tmp_path)
    assert len(files) == 3
    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    (only_bad / "a.png").write_bytes(b"junk")
    with pytest.raises(DataError, match="no readable images"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        readable_images(only_bad)


def test_exif_orientation_is_applied_in_subfolders(tmp_path):
    image = Image.new("RGB", (8, 4), (255, 0, 0))
    exif = image.getexif()
    exif[0x0112] = 6
    (tmp_path / "day1").mkdir()
    image.save(tmp_path / "day1" / "r.jpg", exif=exif)
    [path] = list_images(tmp_path)
    assert load_image(path).size == (4, 8)


def test_train_resize_is_pil_bicubic_like_the_reference():
    """load_size == crop_size makes the crop the whole image, so the output is the bicubic resize, maybe flipped."""
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    expected = torch.from_numpy(np.asarray(image.resize((24, 24), Image.Resampling.BICUBIC)).copy())
    expected = expected.permute(2, 0, 1).float() / 127.5 - 1
    bilinear = torch.from_numpy(np.asarray(image.resize((24, 24), Image.Resampling.BILINEAR)).copy())
    bilinear = bilinear.permute(2, 0, 1).float() / 127.5 - 1
    torch.manual_seed(0)
    for _ in range(4):
        out = train_transform(24, 24)(image)
        assert out.shape == (3, 24, 24)
        match = min((out - e).abs().max().item() for e in (expected, expected.flip(-1)))
        assert match < 1e-6
        assert min((out - b).abs().max().item() for b in (bilinear, bilinear.flip(-1))) > 0.05  # not bilinear


def test_domains_from_dataroot(dataroot, tmp_path):
    d = Domains.from_dataroot(dataroot)
    assert d.train_a.name == "trainA" and d.test_b.name == "testB"
    with pytest.raises(DataError, match="dataroot not found"):
        Domains.from_dataroot(tmp_path / "nope")
    (tmp_path / "half" / "trainA").mkdir(parents=True)
    with pytest.raises(DataError, match="lacks trainB/"):
        Domains.from_dataroot(tmp_path / "half")


def test_sampler_epoch_is_max_and_b_is_independent():
    s = UnpairedSampler(n_a=4, n_b=10, seed=0)
    items = list(s)
    assert len(items) == len(s) == 10
    a = [i for i, _, _ in items]
    assert sorted(a[:4]) == [0, 1, 2, 3] and sorted(a[4:8]) == [0, 1, 2, 3]  # A cycles through shuffled passes
    s.set_epoch(1)
    assert [t[:2] for t in s] != [t[:2] for t in items]  # a new order each epoch
    s.set_epoch(0, start=3)
    assert list(s) == items[3:] and len(s) == 7  # resumable mid-epoch
    ranks = [list(UnpairedSampler(4, 10, 0, rank=r, world_size=2)) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 5 and set(ranks[0]).isdisjoint(ranks[1])


def test_sampler_epoch_size_shortens_the_epoch_not_the_data():
    s = UnpairedSampler(n_a=4, n_b=100, seed=0, epoch_size=6)
    assert len(s) == 6 and len(list(s)) == 6
    b = set()
    for epoch in range(20):
        s.set_epoch(epoch)
        b |= {j for _, j, _ in s}
    assert max(b) >= 50  # B is drawn from the whole domain, not its first 6 images
    s.set_epoch(0, start=4)
    assert len(s) == len(list(s)) == 2


def test_dataset_items_are_seeded(dataroot):
    files_a, files_b = list_images(dataroot / "trainA"), list_images(dataroot / "trainB")
    ds = UnpairedDataset(files_a, files_b, train_transform(36, 32))
    x, y = ds[(0, 1, 123)], ds[(0, 1, 123)]
    assert x["A"].shape == (3, 32, 32) and x["A"].dtype == torch.float32
    assert -1 <= x["A"].min() and x["A"].max() <= 1
    assert torch.equal(x["A"], y["A"]) and torch.equal(x["B"], y["B"])
    assert any(not torch.equal(ds[(0, 1, s)]["A"], x["A"]) for s in range(5))  # crops and flips vary
