import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from cyclegan import Generator, Translator
from cyclegan.errors import ModelNotFoundError
from cyclegan.model_folder import save_model_folder
from cyclegan.images import to_pil, to_tensor
from cyclegan.translate import main as translate_main
from cyclegan.testing import write_images


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
    folder = save_model_folder(G_AB, G_BA, tmp_path / "fp16", name="t", domain_a="cat", domain_b="dog",
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
    out = capsys.readouterr().out
    assert "wrote 2 triptych(s)" in out and "skipped 1:" in out
    assert f"{tmp_path / 'in' / 'broken.png'}: unreadable: " in out


def test_cli_takes_a_single_file_and_says_what_it_skipped(model_dir, tmp_path, capsys):
    write_images(tmp_path / "in", 1, (100, 150, 200), size=24)
    single = tmp_path / "in" / "000.png"
    assert translate_main(["--model", str(model_dir[0]), "--input", str(single), "--output", str(tmp_path / "o1")]) == 0
    assert [p.name for p in (tmp_path / "o1").iterdir()] == ["000.png"]
    assert "wrote 1 triptych(s)" in capsys.readouterr().out
    # a folder: the files it passes over are listed with the reason
    (tmp_path / "in" / "notes.txt").write_text("hi")
    (tmp_path / "in" / ".hidden.png").write_bytes(single.read_bytes())
    (tmp_path / "in" / ".cache").mkdir()
    assert translate_main(["--model", str(model_dir[0]), "--input", str(tmp_path / "in"), "--output",
                           str(tmp_path / "o2")]) == 0
    out = capsys.readouterr().out
    assert "wrote 1 triptych(s)" in out and "skipped 3:" in out
    assert f"{tmp_path / 'in' / 'notes.txt'}: not an image type (.txt;" in out
    assert f"{tmp_path / 'in' / '.hidden.png'}: hidden file" in out
    assert f"{tmp_path / 'in' / '.cache'}: hidden folder, not searched" in out
    # a file that is no image: said, and the exit code says nothing was translated
    with pytest.warns(UserWarning, match="unreadable"):
        assert translate_main(["--model", str(model_dir[0]), "--input", str(tmp_path / "in" / "notes.txt"),
                               "--output", str(tmp_path / "o3")]) == 2
    captured = capsys.readouterr()
    assert "notes.txt: unreadable" in captured.out and "error: no image could be translated" in captured.err
    # a path that does not exist
    assert translate_main(["--model", str(model_dir[0]), "--input", str(tmp_path / "nope.png"),
                           "--output", str(tmp_path / "o4")]) == 2
    assert "error: input not found:" in capsys.readouterr().err


def test_folder_cli_errors_are_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "cyclegan.translate", "--model", str(tmp_path / "missing"),
                        "--input", str(tmp_path), "--output", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: model folder not found: {tmp_path / 'missing'}"


def test_one_direction_model(tmp_path, capsys):
    """A folder whose manifest lists only AtoB (the reference's style_* models): no reconstruction, clear errors."""
    torch.manual_seed(0)
    folder = save_model_folder(Generator(ngf=8, n_blocks=2), None, tmp_path / "m", name="style", domain_a="photo",
                          domain_b="painting", train_config={}, model_config={"ngf": 8, "n_blocks": 2})
    assert not (folder / "G_BA").exists()
    t = Translator.from_pretrained(folder, backend="eager")
    real, fake, rec = t(Image.new("RGB", (16, 8)))
    assert fake.size == (16, 8) and rec is None
    with pytest.raises(ValueError, match=r"no BtoA generator \(painting -> photo\)"):
        t.generate(torch.zeros(1, 3, 8, 8), "BtoA")
    write_images(tmp_path / "in", 1, (100, 150, 200), size=24)
    args = ["--model", str(folder), "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out")]
    assert translate_main(args) == 0
    assert Image.open(tmp_path / "out" / "000.png").size == (48, 24)  # real | generated, no reconstruction
    assert translate_main([*args, "--direction", "BtoA"]) == 2
    assert "no BtoA generator" in capsys.readouterr().err
    # A folder that lost G_BA/ without saying it is one-direction is still refused.
    (folder / "manifest.json").write_text('{"name": "x"}')
    with pytest.raises(ModelNotFoundError, match="G_BA"):
        Translator.from_pretrained(folder)


def test_folder_cli_mirrors_subfolders(model_dir, tmp_path):
    """list_images walks subfolders: two x.png in different subfolders get a triptych each."""
    for sub in ("a", "b"):
        write_images(tmp_path / "in" / sub, 1, (100, 150, 200), size=16)
    assert translate_main(["--model", str(model_dir[0]), "--input", str(tmp_path / "in"),
                           "--output", str(tmp_path / "out")]) == 0
    outs = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png"))
    assert outs == ["a/000.png", "b/000.png"]


def test_native_scale_translates_at_the_models_scale_and_returns_the_input_size(model_dir, tmp_path):
    """A model folder with a native_size: each picture goes through the generators at about that many pixels
    (aspect kept), and comes back at its own size; native_size=0 (or none) translates at full size."""
    _, G_AB, G_BA = model_dir
    folder = save_model_folder(G_AB, G_BA, tmp_path / "native", name="t", domain_a="cat", domain_b="dog",
                          train_config={}, model_config={"ngf": 8, "n_blocks": 2}, native_size=32,
                          default_direction="BtoA")
    seen: list[tuple[str, tuple[int, int]]] = []
    t = Translator.from_pretrained(folder, backend="eager")
    assert t.native_size == 32 and t.default_direction == "BtoA"
    for d, G in t.generators.items():
        G.register_forward_hook(lambda m, args, out, d=d: seen.append((d, tuple(args[0].shape[-2:]))))
    picture = Image.effect_noise((128, 64), 64).convert("RGB")  # 128 x 64: 8192 px, 8x 32 x 32
    real, fake, rec = t(picture)  # the manifest's direction: BtoA, then AtoB back
    assert real.size == fake.size == rec.size == (128, 64)
    assert seen == [("BtoA", (24, 48)), ("AtoB", (24, 48))]  # 45 x 23, padded to multiples of 4
    assert t.working_size((128, 64)) == (45, 23)
    assert t.working_size((33, 31)) == (33, 31)  # within 2%: no resampling
    # the result is the translation at 45 x 23, scaled up to the picture's size
    work = picture.resize((45, 23), Image.Resampling.LANCZOS)
    small = to_pil(t.generate(to_tensor(work), "BtoA")).resize((128, 64), Image.Resampling.LANCZOS)
    assert np.array_equal(np.asarray(fake), np.asarray(small))
    seen.clear()
    full = Translator.from_pretrained(folder, backend="eager", native_size=0)
    for d, G in full.generators.items():
        G.register_forward_hook(lambda m, args, out, d=d: seen.append((d, tuple(args[0].shape[-2:]))))
    assert full(picture, "AtoB")[1].size == (128, 64) and seen == [("AtoB", (64, 128)), ("BtoA", (64, 128))]
    with pytest.raises(ValueError, match="native_size"):
        Translator(G_AB, G_BA, native_size=-1)


def test_cli_takes_the_models_direction_and_native_scale(model_dir, tmp_path, capsys):
    _, G_AB, G_BA = model_dir
    folder = save_model_folder(G_AB, G_BA, tmp_path / "native", name="t", domain_a="cat", domain_b="dog",
                          train_config={}, model_config={"ngf": 8, "n_blocks": 2}, native_size=16,
                          default_direction="BtoA")
    Image.effect_noise((64, 48), 64).convert("RGB").save(tmp_path / "in.png")
    assert translate_main(["--model", str(folder), "--input", str(tmp_path / "in.png"), "--output",
                           str(tmp_path / "out")]) == 0
    assert Image.open(tmp_path / "out" / "in.png").size == (3 * 64, 48)
    assert "BtoA" in capsys.readouterr().err  # the progress bar names the direction it took
    expected = Translator.from_pretrained(folder, backend="auto")(Image.open(tmp_path / "in.png"), "BtoA")[1]
    got = Image.open(tmp_path / "out" / "in.png").convert("RGB").crop((64, 0, 128, 48))
    assert np.array_equal(np.asarray(got), np.asarray(expected))
    assert translate_main(["--model", str(folder), "--input", str(tmp_path / "in.png"), "--output",
                           str(tmp_path / "full"), "--native-size", "0", "--direction", "AtoB"]) == 0
    assert "AtoB" in capsys.readouterr().err
