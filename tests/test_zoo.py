"""cyclegan.zoo: the reference's 18 published generators, including the four one-direction ones."""
import pytest
import torch
from PIL import Image

from cyclegan import Translator
from cyclegan.download import DownloadError
from cyclegan.model_folder import read_manifest
from cyclegan.zoo import ZOO, fetch, main
from cyclegan.testing import reference_layout

# scripts/download_cyclegan_model.sh of junyanz/pytorch-CycleGAN-and-pix2pix, written out.
REFERENCE_MODELS = {
    "apple2orange", "orange2apple", "summer2winter_yosemite", "winter2summer_yosemite", "horse2zebra", "zebra2horse",
    "monet2photo", "style_monet", "style_cezanne", "style_ukiyoe", "style_vangogh", "sat2map", "map2sat",
    "cityscapes_photo2label", "cityscapes_label2photo", "facades_photo2label", "facades_label2photo",
    "iphone2dslr_flower",
}
ONE_DIRECTION = {"style_cezanne", "style_ukiyoe", "style_vangogh", "iphone2dslr_flower"}


def test_zoo_covers_all_18_reference_generators():
    files = [f for file_ab, file_ba, _, _ in ZOO.values() for f in (file_ab, file_ba) if f]
    assert len(files) == len(set(files)) == 18 and set(files) == REFERENCE_MODELS
    assert {name for name, entry in ZOO.items() if entry[1] is None} == ONE_DIRECTION
    for name in ONE_DIRECTION:  # photo -> style, so domain A is the photo
        assert ZOO[name][0] == name and "photo" in ZOO[name][2].lower()


def test_one_direction_model_fetches_one_file_and_has_no_reconstruction(server, tmp_path):  # noqa: F811
    url, www = server
    torch.manual_seed(0)
    torch.save({k: torch.randn(s) * 0.02 for k, s in reference_layout(64, 9).items()}, www / "style_cezanne.pth")
    folder = fetch("style_cezanne", tmp_path / "checkpoints", base_url=url)  # a G_BA file would 404
    assert folder == tmp_path / "checkpoints" / "style_cezanne-reference"
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == ["G_AB"]
    manifest = read_manifest(folder)
    assert manifest["directions"] == ["AtoB"] and (manifest["domain_a"], manifest["domain_b"]) == (
        "photo", "Cézanne painting")
    assert "no reconstruction" in manifest["summary"]
    card = (folder / "README.md").read_text()
    assert "(photo → Cézanne painting)" in card and "`G_BA`" not in card and "Only this direction" in card
    (www / "style_cezanne.pth").unlink()
    assert fetch("style_cezanne", tmp_path / "checkpoints", base_url=url) == folder  # reused, no download

    t = Translator.from_pretrained(folder, backend="eager")
    assert list(t.generators) == ["AtoB"]
    real, fake, rec = t(Image.new("RGB", (20, 12), "green"))
    assert real.size == fake.size == (20, 12) and rec is None
    with pytest.raises(ValueError, match=r"no BtoA generator \(Cézanne painting -> photo\).*one-direction"):
        t(Image.new("RGB", (8, 8)), direction="BtoA")


def test_zoo_cli_lists_the_one_direction_models(server, tmp_path, capsys):  # noqa: F811
    with pytest.raises(SystemExit):
        main(["--help"])
    usage = capsys.readouterr().out
    assert all(name in usage for name in ONE_DIRECTION)
    url, _ = server
    with pytest.raises(DownloadError, match="could not download .*style_vangogh.pth"):
        fetch("style_vangogh", tmp_path, base_url=url)
