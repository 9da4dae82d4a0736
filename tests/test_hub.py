import json
import os
import shutil
import subprocess
import sys
import time

import pytest
import torch
from PIL import Image

from cyclegan import Generator
from cyclegan.hub import (ModelNotFoundError, export_model, generator_folders, is_complete, missing_files, push_model,
                          read_manifest)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def model_folder(tmp_path):
    sample = tmp_path / "s.png"
    Image.new("RGB", (8, 8)).save(sample)
    return export_model(Generator(ngf=8, n_blocks=2), Generator(ngf=8, n_blocks=2), tmp_path / "model",
                        name="horse2zebra", domain_a="horse", domain_b="zebra", train_config={"crop_size": 32},
                        model_config={"ngf": 8, "n_blocks": 2}, sample=sample, train_seconds=7200,
                        hardware="test CPU", epochs_done=3, dataset="horse2zebra")


def test_export_writes_a_complete_model_folder(model_folder):
    files = sorted(str(p.relative_to(model_folder)) for p in model_folder.rglob("*") if p.is_file())
    assert files == ["G_AB/README.md", "G_AB/config.json", "G_AB/model.safetensors", "G_BA/README.md",
                     "G_BA/config.json", "G_BA/model.safetensors", "README.md", "manifest.json", "samples.png"]
    manifest = read_manifest(model_folder)
    # no license given: "unknown", never a made-up one (the weights follow their training data's terms)
    assert (manifest["domain_a"], manifest["domain_b"], manifest["license"]) == ("horse", "zebra", "unknown")
    card = (model_folder / "README.md").read_text()
    front = card.split("---")[1]
    for line in ("library_name: cyclegan", "license: unknown", "- cyclegan", "datasets:\n- horse2zebra"):
        assert line in front
    assert "2.00 h on test CPU" in card and "horse" in card and "![samples](samples.png)" in card
    from safetensors import safe_open
    with safe_open(model_folder / "G_AB" / "model.safetensors", "pt") as f:
        assert f.get_tensor("model.1.weight").dtype == torch.float16


def test_model_folder_is_readable_by_all(model_folder, tmp_path):
    """Files 0644 and folders 0755 whatever the umask: safetensors alone writes the weights 0600, which breaks
    serving a model folder as another user or from a container."""
    old = os.umask(0o077)  # the most private umask: nothing may depend on it
    try:
        folder = export_model(Generator(ngf=8, n_blocks=2), Generator(ngf=8, n_blocks=2), tmp_path / "private",
                              name="p", domain_a="a", domain_b="b", train_config={"crop_size": 32},
                              model_config={"ngf": 8, "n_blocks": 2})
    finally:
        os.umask(old)
    for root in (model_folder, folder):
        entries = [root, *root.rglob("*")]
        assert any(p.name == "model.safetensors" for p in entries)
        for p in entries:
            assert p.stat().st_mode & 0o777 == (0o755 if p.is_dir() else 0o644), p


def test_push_uploads_both_generators(model_folder, monkeypatch):
    calls = []

    class FakeApi:
        def __init__(self, token=None):
            calls.append(("init", token))

        def create_repo(self, repo_id, **kw):
            calls.append(("create_repo", repo_id, kw))
            return f"https://huggingface.co/{repo_id}"

        def upload_folder(self, *, repo_id, folder_path, **kw):
            files = sorted(str(p.relative_to(folder_path)) for p in __import__("pathlib").Path(folder_path).rglob("*")
                           if p.is_file())
            calls.append(("upload_folder", repo_id, files, kw))

    import huggingface_hub
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    monkeypatch.setenv("HF_TOKEN", "hf_env_token")
    url = push_model(model_folder, "me/horse2zebra", private=True)
    assert url == "https://huggingface.co/me/horse2zebra"
    assert calls[0] == ("init", "hf_env_token")
    assert calls[1] == ("create_repo", "me/horse2zebra", {"repo_type": "model", "private": True, "exist_ok": True})
    assert calls[2][1] == "me/horse2zebra"
    assert calls[2][2] == ["G_AB/README.md", "G_AB/config.json", "G_AB/model.safetensors", "G_BA/README.md",
                           "G_BA/config.json", "G_BA/model.safetensors", "README.md", "manifest.json", "samples.png"]
    push_model(model_folder, "me/x", token="explicit")
    assert ("init", "explicit") in calls


def test_push_refuses_an_incomplete_folder(model_folder):
    shutil.rmtree(model_folder / "G_BA")
    with pytest.raises(ModelNotFoundError, match="G_BA"):
        push_model(model_folder, "me/x")


def test_what_makes_a_model_folder_complete(model_folder, tmp_path):
    """One rule for the app's discovery, the zoo's reuse and the push: weights and config for each direction the
    manifest lists."""
    assert is_complete(model_folder) and missing_files(model_folder) == []
    assert list(generator_folders(model_folder)) == ["AtoB", "BtoA"]
    (model_folder / "G_BA" / "model.safetensors").unlink()
    assert not is_complete(model_folder)
    assert missing_files(model_folder) == [model_folder / "G_BA" / "model.safetensors"]
    # a one-direction model is complete with G_AB alone, because its manifest says so
    one = export_model(Generator(ngf=8, n_blocks=2), None, tmp_path / "one", name="one", domain_a="a", domain_b="b",
                       train_config={}, model_config={"ngf": 8, "n_blocks": 2})
    assert is_complete(one) and list(generator_folders(one)) == ["AtoB"]
    # a manifest listing no known direction is refused with the reason
    (one / "manifest.json").write_text(json.dumps({"directions": ["sideways"]}))
    assert not is_complete(one)
    with pytest.raises(ModelNotFoundError, match="directions must list 'AtoB' and/or 'BtoA'"):
        generator_folders(one)
    # a folder without generator subfolders is not a model folder, whatever else it holds
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "manifest.json").write_text("{not json")
    assert not is_complete(tmp_path / "other")


def fill_cache(cache, repo_id, model_folder, commit="0123456789abcdef0123456789abcdef01234567"):
    """The HF cache layout: models--owner--name/{refs/main, snapshots/<commit>/...}."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    shutil.copytree(model_folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)


LOAD = ("import sys; from cyclegan import Translator; from cyclegan.hub import ModelNotFoundError\n"
        "try:\n t = Translator.from_pretrained(sys.argv[1]); print('loaded', t.manifest['domain_b'])\n"
        "except ModelNotFoundError as e:\n print('error:', e); sys.exit(2)\n")


def run_offline(repo_id, cache):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "HF_HOME": str(cache.parent / "home")}
    start = time.monotonic()
    r = subprocess.run([sys.executable, "-c", LOAD, repo_id], capture_output=True, text=True, env=env, cwd=ROOT,
                       timeout=60)
    return r, time.monotonic() - start


def test_load_by_repo_id_from_a_prefilled_cache_offline(model_folder, tmp_path):
    cache = tmp_path / "hub"
    fill_cache(cache, "someone/horse2zebra", model_folder)
    r, _ = run_offline("someone/horse2zebra", cache)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("loaded zebra")


def test_uncached_repo_id_offline_fails_clearly(tmp_path):
    r, seconds = run_offline("someone/not-cached", tmp_path / "hub")
    assert r.returncode == 2
    assert "error: Hub model 'someone/not-cached' is not in the local cache" in r.stdout
    assert seconds < 30  # no waiting on the network: most of this is Python start-up
