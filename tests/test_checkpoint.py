"""The checkpoint file: kept beside the previous one, and a damaged one reported in one line."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cyclegan import checkpoint
from cyclegan.checkpoint import CheckpointError

ROOT = Path(__file__).resolve().parents[1]


def test_save_keeps_the_previous_checkpoint(tmp_path):
    checkpoint.save({"nets": {}, "step": 1}, tmp_path)
    checkpoint.save({"nets": {}, "step": 2}, tmp_path)
    assert checkpoint.load(tmp_path / "checkpoint.pt")["step"] == 2
    assert checkpoint.load(tmp_path / "checkpoint.prev.pt")["step"] == 1
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_damaged_checkpoint_is_one_line_that_names_the_previous_one(tmp_path, damage):
    checkpoint.save({"nets": {}, "step": 1}, tmp_path)
    checkpoint.save({"nets": {}, "step": 2}, tmp_path)
    path = tmp_path / "checkpoint.pt"
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": os.urandom(500), "empty": b""}[damage])
    with pytest.raises(CheckpointError) as e:
        checkpoint.load(path)
    message = str(e.value)
    assert "\n" not in message and "truncated or corrupt" in message
    assert f"--resume {tmp_path / 'checkpoint.prev.pt'}" in message
    assert checkpoint.load(tmp_path / "checkpoint.prev.pt")["step"] == 1  # and it is intact


def test_locate_reads_auto_a_file_and_a_run_folder(tmp_path):
    assert checkpoint.locate("auto", tmp_path) == tmp_path / "checkpoint.pt"
    assert checkpoint.locate(str(tmp_path), tmp_path / "other") == tmp_path / "checkpoint.pt"
    assert checkpoint.locate(str(tmp_path / "x.pt"), tmp_path) == tmp_path / "x.pt"


def run_train(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)


def tiny_args(dataroot: Path, out: Path) -> list[str]:
    return ["--dataroot", str(dataroot), "--out", str(out), "--load-size", "36", "--crop-size", "32", "--ngf", "8",
            "--ndf", "8", "--n-blocks", "2", "--epochs", "8", "--decay-epochs", "2", "--workers", "0",
            "--device", "cpu", "--seed", "3", "--pool-size", "4", "--save-every", "100", "--save-every-steps", "5"]


def test_train_py_reports_a_corrupt_checkpoint_in_one_line(dataroot, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"not a checkpoint")
    p = run_train(*tiny_args(dataroot, out), "--resume", "--name-a", "red", "--name-b", "blue")
    _, err = p.communicate(timeout=300)
    assert p.returncode == 2
    assert err.strip().splitlines() == [f"error: {out / 'checkpoint.pt'} is truncated or corrupt "
                                        "(not a PyTorch checkpoint)"]


def test_a_run_killed_mid_epoch_resumes_from_its_last_step_checkpoint(dataroot, tmp_path):
    """kill -9 after a mid-epoch step checkpoint; --resume ends with the same weights as an uninterrupted run."""
    straight = run_train(*tiny_args(dataroot, tmp_path / "straight"))
    assert straight.wait(timeout=300) == 0, straight.stderr.read()[-2000:]

    out = tmp_path / "killed"
    victim = run_train(*tiny_args(dataroot, out))
    deadline = time.time() + 300
    while time.time() < deadline:  # 6 steps an epoch, 60 in all: wait for the step checkpoint of step 10 or later
        if (out / "checkpoint.pt").is_file():
            with __import__("contextlib").suppress(Exception):
                if checkpoint.load(out / "checkpoint.pt")["step"] >= 10:
                    break
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=60)
    assert victim.returncode == -signal.SIGKILL
    state = checkpoint.load(out / "checkpoint.pt")
    assert state["step"] < 60 and state["epoch_step"] > 0, (state["step"], state["epoch_step"])  # mid-epoch, mid-run
    resumed = run_train(*tiny_args(dataroot, out), "--resume")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()[-2000:]
    a = checkpoint.load(tmp_path / "straight" / "checkpoint.pt")["nets"]
    b = checkpoint.load(out / "checkpoint.pt")["nets"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
