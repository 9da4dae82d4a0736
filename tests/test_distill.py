"""Tests for cyclegan/distill.py: the camera's students learn the teacher's translation, are written as a model
folder inside the teacher's and named in its manifest, and the browser export builds the camera's graph from them
while pictures keep the teacher."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from cyclegan.config import DistillConfig
from cyclegan.data import Domains
from cyclegan.distill import distill, main
from cyclegan.errors import ModelNotFoundError
from cyclegan.model_folder import camera_folder, load_generator, read_manifest, set_camera
from cyclegan.testing import make_tiny_model, write_images


@pytest.fixture
def data(tmp_path):
    write_images(tmp_path / "data" / "trainA", 6, (200, 60, 60), size=40)
    write_images(tmp_path / "data" / "trainB", 6, (60, 60, 200), size=40)
    return Domains.from_dataroot(tmp_path / "data")


def test_the_students_learn_the_teachers_translation(tmp_path, data):
    """A few steps bring the student's output near the teacher's on a photo of the domain: much nearer than at
    the start (a short average here: the default 0.999 would keep most of the initial weights)."""
    from cyclegan.networks import Generator
    teacher = make_tiny_model(tmp_path / "m", native_size=32, default_direction="BtoA")
    cfg = DistillConfig(ngf=4, n_blocks=1, prune=False, ndf=4, crop_size=32, max_steps=150, lr=2e-3, ema=0.5)
    # at the scale it learns from (the native 32 px)
    photo = np.asarray(Image.open(tmp_path / "data" / "trainA" / "000.png").resize((32, 32), Image.BICUBIC))
    x = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 127.5 - 1
    G = load_generator(teacher / "G_AB").eval()
    torch.manual_seed(cfg.seed)
    untrained = Generator(ngf=4, n_blocks=1).eval()
    with torch.no_grad():
        before = (untrained(x) - G(x)).abs().mean().item()
    out = distill(teacher, data, cfg, log=lambda line: None)
    assert out == teacher / "camera" and camera_folder(teacher) == out.resolve()
    student = load_generator(out / "G_AB").eval()
    assert sum(p.numel() for p in student.parameters()) < sum(p.numel() for p in G.parameters()) / 3
    with torch.no_grad():
        after = (student(x) - G(x)).abs().mean().item()
    assert after < 0.7 * before, (before, after)
    manifest = read_manifest(out)
    assert manifest["default_direction"] == "BtoA" and manifest["native_size"] == 32
    assert read_manifest(teacher)["camera"] == "camera"
    card = (out / "README.md").read_text()
    assert "distilled from tiny's" in card and "150 steps of distillation" in card and "samples.png" not in card


def test_pruned_students_start_from_the_teachers_strongest_channels(tmp_path, data):
    """By default each student starts as its teacher narrowed (networks.narrow), not from random weights: with
    nothing learnt (a learning rate of 0) the saved student is exactly that."""
    from cyclegan.networks import narrow
    teacher = make_tiny_model(tmp_path / "m")
    out = distill(teacher, data, DistillConfig(ngf=4, n_blocks=2, ndf=4, crop_size=32, max_steps=2, lr=0.0),
                  log=lambda line: None)
    for sub in ("G_AB", "G_BA"):
        expected = narrow(load_generator(teacher / sub), 4).state_dict()
        got = load_generator(out / sub).state_dict()
        assert got.keys() == expected.keys()
        assert all(torch.allclose(got[k].float(), expected[k].float(), atol=1e-3) for k in got)  # fp16 weights
    assert "started from its strongest channels" in (out / "README.md").read_text()


def test_the_camera_graph_is_the_students_and_pictures_keep_the_teacher(tmp_path, data):
    import onnxruntime as ort
    from cyclegan import export
    teacher = make_tiny_model(tmp_path / "m")
    distill(teacher, data, DistillConfig(ngf=4, n_blocks=2, ndf=4, crop_size=32, max_steps=2), log=lambda line: None)
    out = export.export_web(teacher, tmp_path / "web")
    meta = json.loads((out / "web.json").read_text())
    x = torch.rand(1, 3, 36, 44) * 2 - 1
    for direction, sub in (("AtoB", "G_AB"), ("BtoA", "G_BA")):
        entry = meta["files"][direction]
        assert entry["steady_from"] == "camera"
        with torch.no_grad():
            expected = {k: load_generator(folder / sub).eval()(x).numpy() for k, folder in
                        (("teacher", teacher), ("student", teacher / "camera"))}
        plain = ort.InferenceSession(str(out / entry["file"]), providers=["CPUExecutionProvider"])
        assert np.abs(plain.run(None, {"input": x.numpy()})[0] - expected["teacher"]).max() < 1e-4
        steady = ort.InferenceSession(str(out / entry["steady"]), providers=["CPUExecutionProvider"])
        one = lambda v: np.full(1, v, np.float32)  # noqa: E731
        y, stats = steady.run(None, {"x": x.numpy(), "small": x.numpy(), "stats": np.zeros(entry["stats_size"],
                                     np.float32), "rate": one(1), "follow": one(0), "previous_x": x.numpy(),
                                     "previous_y": x.numpy(),
                                     "smoothing": one(0), "motion_levels": one(6)})
        assert np.abs(y - expected["student"]).max() < 1e-3  # fp16 weights


def test_a_camera_name_that_leads_nowhere_is_refused(tmp_path):
    model = make_tiny_model(tmp_path / "m")
    with pytest.raises(ModelNotFoundError, match="not a complete model folder inside it"):
        set_camera(model, "../elsewhere")
    assert "camera" not in read_manifest(model)  # nothing written
    set_camera(model, None)
    assert camera_folder(model) is None


def test_the_command_line(tmp_path, data, capsys):
    teacher = make_tiny_model(tmp_path / "m")
    args = [str(teacher), "--dataroot", str(tmp_path / "data"), "--ngf", "4", "--n-blocks", "1", "--ndf", "4",
            "--crop-size", "32", "--max-steps", "2"]
    assert main(args) == 2  # pruning needs the teacher's blocks
    assert "needs the teacher's 2 blocks" in capsys.readouterr().err
    assert main([*args, "--no-prune"]) == 0
    assert (teacher / "camera" / "G_BA" / "model.safetensors").is_file()
    assert main([str(tmp_path / "nowhere"), "--dataroot", str(tmp_path / "data"), "--max-steps", "1"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert main([str(teacher), "--dataset", "no_such_set", "--data-dir", str(tmp_path / "d"), "--max-steps", "1"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
