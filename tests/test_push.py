"""Pushing a run to the Hub while it trains, against a stand-in Hub on 127.0.0.1 (never the network)."""
from __future__ import annotations

import io

import pytest
import torch

from hub_server import FakeHub


@pytest.fixture
def fake_hub(monkeypatch):
    import huggingface_hub.constants
    with FakeHub() as hub:
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", hub.endpoint)
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setenv("HF_TOKEN", "hf_test_token_not_real")
        yield hub


def test_pusher_commits_the_model_folder_and_checkpoint_in_the_background(fake_hub, tmp_path):
    from cyclegan.hub import RunPusher
    model = tmp_path / "model"
    (model / "G_AB").mkdir(parents=True)
    (model / "G_AB" / "config.json").write_text("{}")
    (model / "manifest.json").write_text('{"name": "x"}')
    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes(b"state")
    pusher = RunPusher("user/run")
    pusher.push(model, ckpt, "Step 2")
    assert pusher.future is not None  # in flight while the caller goes on
    assert pusher.wait() and pusher.pushed == 1
    assert fake_hub.files["user/run"] == {"G_AB/config.json": b"{}", "manifest.json": b'{"name": "x"}',
                                          "checkpoint.pt": b"state"}


def test_a_failed_push_warns_and_the_next_one_goes_through(fake_hub, tmp_path, capsys):
    from cyclegan.hub import RunPusher
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "manifest.json").write_text("{}")
    pusher = RunPusher("user/run")
    fake_hub.fail_next_commit = True
    pusher.push(tmp_path / "model")
    assert not pusher.wait()
    assert "pushing to user/run failed" in capsys.readouterr().err
    pusher.push(tmp_path / "model")
    assert pusher.wait() and fake_hub.files["user/run"]["manifest.json"] == b"{}"


def test_training_pushes_at_every_save_and_another_machine_resumes_from_the_hub(fake_hub, dataroot, tmp_path,
                                                                               monkeypatch):
    """--push-to-hub --push-checkpoints --save-every-steps 4: a commit per save; then --resume USER/NAME, served
    from a pre-filled Hub cache (HF_HUB_OFFLINE=1), continues that checkpoint on a fresh machine."""
    from cyclegan.testing import tiny_configs
    from cyclegan.training import Trainer
    cfg, model_cfg = tiny_configs(dataroot, tmp_path / "run", push_to_hub="user/run", push_checkpoints=True,
                                  save_every_steps=4)
    assert Trainer(cfg, model_cfg).fit(max_steps=9) is None  # saves at steps 4, 6 (epoch end), 8, and 9 (stop)
    steps = [int(message.split()[1]) for _, message, _ in fake_hub.commits]
    assert steps == [4, 6, 8, 9]
    pushed = fake_hub.files["user/run"]
    assert {"G_AB/model.safetensors", "G_BA/model.safetensors", "README.md", "manifest.json",
            "checkpoint.pt"} <= set(pushed)
    assert torch.load(io.BytesIO(pushed["checkpoint.pt"]), weights_only=True)["step"] == 9

    # A fresh machine: only the Hub's copy of the checkpoint, in the local Hub cache.
    import huggingface_hub.constants
    cache = tmp_path / "hf-cache"
    snapshot = cache / "models--user--run" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "checkpoint.pt").write_bytes(pushed["checkpoint.pt"])
    (cache / "models--user--run" / "refs").mkdir()
    (cache / "models--user--run" / "refs" / "main").write_text("a" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    cfg, model_cfg = tiny_configs(dataroot, tmp_path / "elsewhere", resume="user/run")
    trainer = Trainer(cfg, model_cfg)
    assert trainer.fit(max_steps=1) is None
    assert trainer.step == 10 and trainer.epoch == 1  # went on from step 9 (epoch 2's third step)
