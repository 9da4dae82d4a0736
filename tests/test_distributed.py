"""DDP with torchrun on CPU: 2 gloo processes on 127.0.0.1 train a tiny model and end with identical weights;
an interrupted run resumed under DDP ends exactly where an uninterrupted one does.

Each run launches the real ``train.py`` through a small driver that, after ``Trainer.fit``, dumps every rank's
weights to OUT/rank{R}.pt (the only thing it adds)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from cyclegan.testing import write_images

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                                reason="needs torch.distributed with gloo")

DRIVER = """
import os, sys
import torch
import cyclegan.training as training

fit = training.Trainer.fit

def fit_and_dump(self, max_steps=None):
    steps = os.environ.get("MAX_STEPS")
    result = fit(self, int(steps) if steps else max_steps)
    torch.save(self.state_dict()["nets"], self.out / f"rank{self.rank}.pt")  # the networks, unwrapped from DDP
    return result

training.Trainer.fit = fit_and_dump
sys.argv[0] = os.path.join(os.environ["PROJECT_ROOT"], "train.py")
import train
sys.exit(train.main(sys.argv[1:]))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(tmp: Path, out: Path, *extra: str, max_steps: int | None = None) -> str:
    driver = tmp / "driver.py"
    driver.write_text(DRIVER)
    # The checkout on the workers' path, as for any script run against it: they import train.py and cyclegan.
    env = {**os.environ, "PROJECT_ROOT": str(ROOT), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "PYTHONUNBUFFERED": "1"}
    env.pop("MAX_STEPS", None)
    if max_steps:
        env["MAX_STEPS"] = str(max_steps)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()), str(driver),
           "--dataroot", str(tmp / "data"), "--load-size", "32", "--crop-size", "32", "--ngf", "8", "--ndf", "8",
           "--n-blocks", "2", "--epochs", "1", "--decay-epochs", "1", "--workers", "0", "--device", "cpu",
           "--seed", "3", "--out", str(out), *extra]
    r = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=180)
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-3000:]
    return log


def load(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    """One uninterrupted DDP run: 6 A / 5 B images, 2 ranks, 2 epochs of 3 steps per rank."""
    tmp = tmp_path_factory.mktemp("ddp")
    write_images(tmp / "data" / "trainA", 6, (200, 60, 60), size=32, seed=1)
    write_images(tmp / "data" / "trainB", 5, (60, 60, 200), size=32, seed=2)
    log = torchrun(tmp, tmp / "full")
    return tmp, log


def test_two_gloo_ranks_end_with_identical_weights(ddp_run):
    tmp, log = ddp_run
    out = tmp / "full"
    rank0, rank1 = load(out / "rank0.pt"), load(out / "rank1.pt")
    assert same(rank0, rank1)
    checkpoint = load(out / "checkpoint.pt")
    assert same(checkpoint["nets"], rank0)  # what rank 0 saved is what every rank holds
    assert checkpoint["step"] == 6 and checkpoint["epoch"] == 2  # 6 pairs / 2 ranks = 3 steps an epoch
    torch.manual_seed(3)
    from cyclegan.config import ModelConfig
    from cyclegan.training import CycleGAN
    initial = CycleGAN(ModelConfig(ngf=8, ndf=8, n_blocks=2)).state_dict()
    assert not torch.equal(initial["G_AB.model.1.weight"], rank0["G_AB.model.1.weight"])  # it did train
    # Rank 0 alone logs and exports; the effective batch size is reported.
    assert log.count("training data on cpu x2") == 1
    assert "effective batch size 2" in log
    assert log.count("done: 6 steps") == 1
    assert (out / "model" / "G_AB" / "model.safetensors").is_file()


def test_resume_under_ddp_matches_an_uninterrupted_run(ddp_run):
    tmp, _ = ddp_run
    out = tmp / "resumed"
    log = torchrun(tmp, out, max_steps=2)  # stop mid-epoch 1, as Ctrl-C would
    assert "stopped at epoch 1, step 2" in log
    assert load(out / "checkpoint.pt")["step"] == 2
    assert same(load(out / "rank0.pt"), load(out / "rank1.pt"))
    torchrun(tmp, out, "--resume")
    rank0, rank1 = load(out / "rank0.pt"), load(out / "rank1.pt")
    assert same(rank0, rank1)
    assert load(out / "checkpoint.pt")["step"] == 6
    assert same(rank0, load(tmp / "full" / "rank0.pt"))
