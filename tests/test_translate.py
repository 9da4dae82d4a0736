import subprocess
import sys

import pytest
import torch
from PIL import Image

from cyclegan import Generator, Translator
from cyclegan.hub import ModelNotFoundError, export_model
from cyclegan.translate import main as translate_main
from conftest import write_images


@pytest.fixture
def model_dir(tmp_path):
    torch.manual_seed(0)
    G_AB, G_BA = Generator(ngf=8, n_blocks=2), Generator(ngf=8, n_blocks=2)
    G_AB.save_pretrained(tmp_path / "model" / "G_AB")
    G_BA.save_pretrained(tmp_path / "model" / "G_BA")
    return tmp_path / "model", G_AB.eval(), G_BA.eval()


def test_round_trip_gives_identical_outputs(model_dir):
    folder, G_AB, G_BA = model_dir
    t = Translator.from_pretrained(folder, backend="eager")  # bit-exact; the ONNX path is checked in test_export
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(t.generate(x, "AtoB"), G_AB(x))
        assert torch.equal(t.generate(x, "BtoA"), G_BA(x))


def test_fp16_export_loads_as_fp32(model_dir, tmp_path):
    _, G_AB, G_BA = model_dir
    folder = export_model(G_AB, G_BA, tmp_path / "fp16", name="t", domain_a="cat", domain_b="dog",
                          train_config={}, model_config={"ngf": 8, "n_blocks": 2})
    t = Translator.from_pretrained(folder)
    assert t.manifest["domain_a"] == "cat"
    weight = t.generators["AtoB"].model[1].weight
    assert weight.dtype == torch.float32
    assert torch.allclose(weight, G_AB.model[1].weight, atol=1e-3)


@pytest.mark.parametrize("size,mode", [((37, 21), "RGB"), ((1, 1), "RGB"), ((3, 90), "L"), ((16, 16), "RGBA"),
                                       ((10, 7), "P")])
def test_any_size_and_mode(model_dir, size, mode):
    t = Translator.from_pretrained(model_dir[0])
    real, fake, rec = t(Image.new(mode, size), direction="BtoA")
    assert real.size == fake.size == rec.size == size
    assert fake.mode == rec.mode == "RGB"


def test_bad_direction_and_model_paths(model_dir, tmp_path):
    t = Translator.from_pretrained(model_dir[0])
    with pytest.raises(ValueError, match="direction"):
        t(Image.new("RGB", (8, 8)), direction="sideways")
    with pytest.raises(ModelNotFoundError, match="model folder not found"):
        Translator.from_pretrained(tmp_path / "no" / "such" / "model")
    (tmp_path / "notamodel").mkdir()
    with pytest.raises(ModelNotFoundError, match="missing"):
        Translator.from_pretrained(tmp_path / "notamodel")


def test_folder_cli_writes_triptychs(model_dir, tmp_path, capsys):
    write_images(tmp_path / "in", 2, (100, 150, 200), size=24)
    (tmp_path / "in" / "broken.png").write_bytes(b"oops")
    with pytest.warns(UserWarning, match="unreadable"):
        assert translate_main(["--model", str(model_dir[0]), "--input", str(tmp_path / "in"),
                               "--output", str(tmp_path / "out"), "--direction", "BtoA"]) == 0
    outs = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert outs == ["000.png", "001.png"]
    assert Image.open(tmp_path / "out" / "000.png").size == (72, 24)
    assert "skipped 1 unreadable" in capsys.readouterr().out


def test_folder_cli_errors_are_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "cyclegan.translate", "--model", str(tmp_path / "missing"),
                        "--input", str(tmp_path), "--output", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: model folder not found: {tmp_path / 'missing'}"
