import dataclasses
import importlib.util
import warnings
import subprocess
import sys
from pathlib import Path

import pytest

from cyclegan.config import ModelConfig, TrainConfig, build_parser, parse_args
from cyclegan.testing import write_images

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("train_cli", ROOT / "train.py")
_train = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_train)
train_main = _train.main


def test_defaults_are_the_papers():
    train, model = parse_args(["--dataroot", "x"])
    assert (train.lr, train.beta1, train.lambda_cycle, train.lambda_identity, train.pool_size) == (2e-4, 0.5, 10, 0.5, 50)
    assert (train.load_size, train.crop_size, train.gan_mode, train.batch_size) == (286, 256, "lsgan", 1)
    assert (model.ngf, model.ndf, model.n_blocks, model.norm, model.dropout) == (64, 64, 9, "instance", False)


def test_every_field_has_a_flag_with_help():
    help_text = build_parser().format_help()
    for cls in (TrainConfig, ModelConfig):
        for f in dataclasses.fields(cls):
            assert "--" + f.name.replace("_", "-") in help_text
            assert f.metadata["help"].split("(")[0].strip()[:20] in " ".join(help_text.split())


def test_seed_cli_aliases():
    train, model = parse_args([
        "--dataset_dir", "d", "--decay_epoch", "7", "--batch_size", "4", "--lamda", "5", "--idt_coef", "0.1",
        "--load_height", "70", "--crop_width", "64", "--checkpoint_dir", "ck", "--gpu_ids", "-1",
        "--ngf", "32", "--ndf", "16", "--norm", "batch", "--no_dropout"])
    assert (train.dataroot, train.decay_epochs, train.batch_size, train.lambda_cycle, train.lambda_identity) == \
        ("d", 7, 4, 5.0, 0.1)
    assert (train.load_size, train.crop_size, train.out, train.device) == (70, 64, "ck", "cpu")
    assert (model.ngf, model.ndf, model.norm, model.dropout) == (32, 16, "batch", False)
    assert parse_args(["--dataroot", "d", "--gpu_ids", "1"])[0].device == "cuda:1"
    assert parse_args(["--dataroot", "d", "--results_dir", "r"])[0].out == "r"
    assert parse_args(["--dataroot", "d", "--dropout"])[1].dropout is True


def test_cli_rejects_missing_data_and_bad_sizes(capsys):
    with pytest.raises(SystemExit):
        parse_args([])
    assert "--dataroot DIR, --dataset NAME" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--dataroot", "d", "--load-size", "64", "--crop-size", "128"])
    assert "must not exceed" in capsys.readouterr().err


TINY = ["--device", "cpu", "--workers", "0", "--ngf", "8", "--ndf", "8", "--n-blocks", "2", "--load-size", "32",
        "--crop-size", "32", "--epochs", "1", "--decay-epochs", "0"]


def run_train(*args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args, *TINY], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


@pytest.mark.parametrize("case,message", [
    ("missing", "error: dataroot not found: {root}"),
    ("no_train_b", "error: {root} lacks trainB/: expected the CycleGAN layout trainA/ trainB/ [testA/ testB/]"),
    ("empty_domain", "error: no images in {root}/trainB or its subfolders "
     "(looked for .bmp, .jpeg, .jpg, .png, .ppm, .tif, .tiff, .webp)"),
    ("no_images", "error: no images in {root}/trainA or its subfolders "
     "(looked for .bmp, .jpeg, .jpg, .png, .ppm, .tif, .tiff, .webp)"),
    ("unreadable_only", "error: no readable images in {root}/trainB"),
])
def test_bad_data_gives_one_line_errors(tmp_path, case, message, capsys, monkeypatch):
    root = tmp_path / "data"
    if case != "missing":
        write_images(root / "trainA", 2, (0, 0, 0), size=8)
        (root / "trainB").mkdir()
    if case == "no_train_b":
        (root / "trainB").rmdir()
    if case == "no_images":
        for p in (root / "trainA").iterdir():
            p.rename(p.with_suffix(".txt"))
    if case == "unreadable_only":
        (root / "trainB" / "x.png").write_bytes(b"garbage")
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert train_main(["--dataroot", str(root), *TINY]) == 2
    assert capsys.readouterr().err.strip() == message.format(root=root)


def test_domain_folders_and_skipped_files(tmp_path):
    write_images(tmp_path / "cats", 3, (200, 100, 0), size=32)
    write_images(tmp_path / "dogs", 2, (0, 100, 200), size=32)
    (tmp_path / "dogs" / "bad.jpg").write_bytes(b"\xff\xd8 truncated")
    r = run_train("--domain-a", str(tmp_path / "cats"), "--domain-b", str(tmp_path / "dogs"), "--out", "run",
                  cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "skipped 1 unreadable image(s)" in r.stderr and "bad.jpg" in r.stderr
    assert "training cats2dogs" in r.stderr + r.stdout
    assert (tmp_path / "run" / "model" / "G_AB" / "model.safetensors").is_file()
    assert '"domain_a": "cats"' in (tmp_path / "run" / "model" / "manifest.json").read_text()


def test_help_shows_each_default_once():
    """No "(default: None)" or "(default: )" noise, and no default given twice ("(default runs/NAME) (default: None)")."""
    help_text = " ".join(build_parser().format_help().split())
    assert "(default: None)" not in help_text and "(default: )" not in help_text
    assert "output folder (default runs/NAME) --resume" in help_text
    assert "Adam learning rate (default: 0.0002)" in help_text  # real defaults are still shown


def test_workers_default_fits_the_machine(monkeypatch):
    """Loading a pair takes ~3 ms of a ~400 ms CPU step: on 2 cores worker processes only take cores from training."""
    train, _ = parse_args(["--dataroot", "d"])
    assert train.workers is None
    for cores, workers in ((1, 0), (2, 0), (4, 2), (8, 4), (64, 4)):
        monkeypatch.setattr("os.sched_getaffinity", lambda pid, n=cores: set(range(n)), raising=False)
        assert train.num_workers() == workers
    assert parse_args(["--dataroot", "d", "--workers", "3"])[0].num_workers() == 3
    with pytest.raises(SystemExit):
        parse_args(["--dataroot", "d", "--workers", "-1"])


def test_license_flag_and_domain_names():
    train, _ = parse_args(["--dataroot", "data/emoji"])
    assert train.license == "unknown"  # stated in --help: nobody said what the data's terms are
    assert parse_args(["--dataroot", "d", "--license", "cc-by-4.0"])[0].license == "cc-by-4.0"
    assert train.domain_names() == ("emoji A", "emoji B")  # no "2" in the name: nothing to split
    assert parse_args(["--dataroot", "data/emoji", "--name-a", "Noto", "--name-b", "Twemoji"])[0].domain_names() \
        == ("Noto", "Twemoji")
    assert parse_args(["--dataset", "horse2zebra"])[0].domain_names() == ("horse", "zebra")
    assert parse_args(["--dataset", "summer2winter_yosemite"])[0].domain_names() == ("summer", "winter_yosemite")
    # two folders: their own names, even when they hold a "2"
    assert parse_args(["--domain-a", "x/trainA2", "--domain-b", "y/b2w"])[0].domain_names() == ("trainA2", "b2w")


def test_interrupted_run_card_states_steps_license_and_names(tmp_path):
    """The model folder left by an interrupted run: steps done, the --license given, the domains' names."""
    from cyclegan.model_folder import read_manifest
    from cyclegan.training import Trainer
    root = tmp_path / "emoji"
    for d, color in (("trainA", (200, 0, 0)), ("trainB", (0, 0, 200))):
        write_images(root / d, 4, color, size=32)
    train, model = parse_args(["--dataroot", str(root), "--out", str(tmp_path / "run"), "--license", "cc-by-4.0",
                               "--name-a", "Noto", *TINY])
    assert Trainer(train, model).fit(max_steps=3) is None  # stopped mid-epoch, as by Ctrl-C
    folder = tmp_path / "run" / "model"
    manifest, card = read_manifest(folder), (folder / "README.md").read_text()
    assert (manifest["license"], manifest["domain_a"], manifest["domain_b"]) == ("cc-by-4.0", "Noto", "emoji B")
    assert "license: cc-by-4.0" in card.split("---")[1] and "mit" not in card.split("---")[1]
    assert "0 full epochs, 3 steps in all" in card and "(Noto ↔ emoji B)" in card
    assert manifest["summary"].startswith("Trained for 3 steps")
