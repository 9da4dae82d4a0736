import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from cyclegan import Generator
from cyclegan.errors import ModelNotFoundError
from cyclegan.hub import push_model
from cyclegan.model_folder import save_model_folder
from cyclegan.model_folder import generator_folders, is_complete, missing_files, read_manifest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def model_folder(tmp_path):
    sample = tmp_path / "s.png"
    Image.new("RGB", (8, 8)).save(sample)
    return save_model_folder(Generator(ngf=8, n_blocks=2), Generator(ngf=8, n_blocks=2), tmp_path / "model",
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
        folder = save_model_folder(Generator(ngf=8, n_blocks=2), Generator(ngf=8, n_blocks=2), tmp_path / "private",
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
    one = save_model_folder(Generator(ngf=8, n_blocks=2), None, tmp_path / "one", name="one", domain_a="a", domain_b="b",
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


LOAD = ("import sys; from cyclegan import Translator; from cyclegan.errors import ModelNotFoundError\n"
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


# ------------------------------------------------------------------------------------------------------------------
# The cards: every card of a model folder carries the model's license; links; evaluation results in model-index
# ------------------------------------------------------------------------------------------------------------------

from huggingface_hub import ModelCard  # noqa: E402

from cyclegan.project import DOCS_URL, REPOSITORY_URL  # noqa: E402
from cyclegan.card import LINKS  # noqa: E402
from cyclegan.results import Evaluation, Ratio, Scores  # noqa: E402
from cyclegan.model_folder import main, set_defaults, update_cards, write_eval_results  # noqa: E402

CHECKPOINTS = sorted(p for p in (Path(ROOT) / "checkpoints").iterdir() if (p / "manifest.json").is_file())


def cards(folder: Path) -> dict[str, ModelCard]:
    """Every card of a model folder, read back with huggingface_hub: the model's and each generator's."""
    found = {str(p.relative_to(folder)): ModelCard.load(p) for p in sorted(folder.rglob("README.md"))}
    assert "README.md" in found and "G_AB/README.md" in found
    return found


def check_cards(folder: Path, license: str, name: str | None = None, link: str | None = None) -> None:
    for path, card in cards(folder).items():
        assert card.data.license == license, path
        assert (card.data.license_name, card.data.license_link) == (name, link), path
        assert card.data.library_name == "cyclegan" and card.data.pipeline_tag == "image-to-image", path
        assert "More Information Needed" not in card.content, path
        if REPOSITORY_URL:  # pyproject.toml's [project.urls]: links only to an address the project has
            assert REPOSITORY_URL in card.text and DOCS_URL in card.text, path
        else:
            assert "Made with the" not in card.text and "- Code:" not in card.text, path
        assert "cyclegan-project" not in card.text, path  # an address that never existed


def export_tiny(folder: Path, **kw) -> Path:
    return save_model_folder(Generator(ngf=8, n_blocks=2), Generator(ngf=8, n_blocks=2), folder, name="horse2zebra",
                        domain_a="horse", domain_b="zebra", train_config={"crop_size": 32},
                        model_config={"ngf": 8, "n_blocks": 2}, **kw)


def test_project_urls_come_from_pyproject_and_are_empty_when_unset(tmp_path):
    from cyclegan.project import project_urls
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "cyclegan"\n\n[project.urls]\n'
                                             'Repository = "https://example.org/cyclegan"\n')
    assert project_urls(tmp_path / "pyproject.toml") == {"Repository": "https://example.org/cyclegan"}
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "cyclegan"\n')
    assert project_urls(tmp_path / "pyproject.toml") == {}
    assert project_urls() == ({} if REPOSITORY_URL is None else project_urls())  # this checkout's own


def test_every_card_carries_the_models_license_and_links(tmp_path):
    """The generators' own cards (written by PyTorchModelHubMixin) said `license: mit` whatever the weights'."""
    check_cards(export_tiny(tmp_path / "cc", license="cc-by-4.0"), "cc-by-4.0")
    folder = export_tiny(tmp_path / "other", license="other", license_name="my-data-research-only",
                         license_link="https://example.org/terms")
    check_cards(folder, "other", "my-data-research-only", "https://example.org/terms")
    assert read_manifest(folder)["license_link"] == "https://example.org/terms"
    g_ba = ModelCard.load(folder / "G_BA" / "README.md")
    assert "`G_BA` turns **zebra** into **horse**" in g_ba.text and "(../README.md)" in g_ba.text


def test_license_name_and_link_come_from_train_py(tmp_path):
    """train.py's --license-name / --license-link reach the cards through the training config."""
    train_config = {"crop_size": 32, "license": "other", "license_name": "kaggle-rules", "license_link": "https://x.y/r"}
    folder = save_model_folder(Generator(ngf=8, n_blocks=2), None, tmp_path / "m", name="m", domain_a="a", domain_b="b",
                          train_config=train_config, model_config={"ngf": 8, "n_blocks": 2}, license="other")
    check_cards(folder, "other", "kaggle-rules", "https://x.y/r")
    with pytest.warns(UserWarning, match="license 'other' without a license name and link"):
        export_tiny(tmp_path / "unnamed", license="other")


def test_native_scale_and_default_direction_go_into_the_manifest_and_card(tmp_path, model_folder):
    folder = export_tiny(tmp_path / "native", native_size=256, default_direction="BtoA")
    manifest = read_manifest(folder)
    assert manifest["native_size"] == 256 and manifest["default_direction"] == "BtoA"
    card = (folder / "README.md").read_text()
    assert "about 256×256 pixels" in card and 'direction="BtoA")  # zebra -> horse' in card
    # without them: neither key, no scale paragraph, and the card's example is AtoB
    assert "native_size" not in read_manifest(model_folder) and "default_direction" not in read_manifest(model_folder)
    plain = (model_folder / "README.md").read_text()
    assert "training scale" not in plain and 'direction="AtoB")  # horse -> zebra' in plain
    with pytest.raises(ValueError, match="Unknown direction"):
        export_tiny(tmp_path / "bad", default_direction="sideways")


def test_set_defaults_after_export_gives_the_folder_export_would_have_written(tmp_path, model_folder):
    """A native scale is chosen after looking at a trained model: setting it (and the default direction) on the
    exported folder gives the manifest and card that exporting with them gives."""
    direct = export_tiny(tmp_path / "direct", native_size=224, default_direction="BtoA")
    later = export_tiny(tmp_path / "later")
    assert main([str(later), "--native-size", "224", "--default-direction", "BtoA"]) == 0
    for name in ("manifest.json", "README.md"):
        assert (later / name).read_text() == (direct / name).read_text(), name
    set_defaults(later, native_size=0)  # off again: the plain card, in the direction kept
    assert "native_size" not in read_manifest(later) and "training scale" not in (later / "README.md").read_text()
    assert read_manifest(later)["default_direction"] == "BtoA"
    one_way = save_model_folder(Generator(ngf=8, n_blocks=2), None, tmp_path / "one", name="m", domain_a="a",
                           domain_b="b", train_config={"crop_size": 32}, model_config={"ngf": 8, "n_blocks": 2})
    with pytest.raises(ValueError, match="has no BtoA generator"):
        set_defaults(one_way, default_direction="BtoA")
    with pytest.raises(ModelNotFoundError, match="manifest.json is missing"):
        set_defaults(tmp_path / "nowhere", native_size=128)
    with pytest.raises(SystemExit):
        main([str(later)])  # nothing to set


def test_update_cards_fixes_a_folder_written_before(model_folder):
    """A folder exported by an older version: generator cards with `license: mit` and no code or docs links."""
    old = "---\nlibrary_name: cyclegan\nlicense: mit\n---\n\n- Code: [More Information Needed]\n"
    for sub in ("G_AB", "G_BA"):
        (model_folder / sub / "README.md").write_text(old)
    manifest = read_manifest(model_folder)
    manifest.update(license="other", license_name="n", license_link="https://l")
    (model_folder / "manifest.json").write_text(json.dumps(manifest))
    card = model_folder / "README.md"
    # ... but links to an address that was never the project's, as an earlier version wrote them
    old_links = "Made with the [`cyclegan`](https://github.com/cyclegan-project/cyclegan) package ([docs](x)).\n\n"
    text = card.read_text().replace(f"{LINKS}\n\n", "") if LINKS else card.read_text()
    card.write_text(text.replace("## Use\n", old_links + "## Use\n", 1))
    assert "cyclegan-project" in card.read_text()
    weights = (model_folder / "G_AB" / "model.safetensors").read_bytes()
    update_cards(model_folder)
    check_cards(model_folder, "other", "n", "https://l")
    assert (model_folder / "G_AB" / "model.safetensors").read_bytes() == weights


def eval_run(direction: str, fid: float, paired: bool = True) -> Evaluation:
    """What cyclegan.evaluate.evaluate returns, with made-up figures."""
    return Evaluation(
        direction=direction, input_dir="/data/emoji/testA", target_dir="/data/emoji/testB", num_input=9, num_target=9,
        paired=paired, size=None, native_size=None, reference_dirs=["/data/emoji/testB"], kid_subsets=100,
        kid_subset_size=9, bootstrap_rounds=200,
        translated=Scores(fid, 0.0260712, 0.001234, 0.0261, 0.0201, 0.0322, l1=0.155449 if paired else None),
        identity=Scores(93.581, 0.00821, 0.0, 0.0082, 0.0061, 0.0107, l1=0.166949 if paired else None),
        ratio=Ratio(3.18, 2.2, 4.5, "higher"))


def metrics(card: ModelCard, direction: str) -> dict[tuple[str, str], float]:
    """(metric, translated | identity) -> value, for one direction of the card's model-index."""
    return {(e.metric_type, e.metric_config): e.metric_value for e in card.data.eval_results
            if e.dataset_config == direction}


def test_eval_results_go_into_the_model_index(model_folder):
    text = ModelCard.load(model_folder / "README.md").text
    write_eval_results(model_folder, eval_run("AtoB", 120.344))
    write_eval_results(model_folder, eval_run("BtoA", 117.6, paired=False))  # keeps AtoB's
    card = ModelCard.load(model_folder / "README.md")
    assert card.text == text  # the card's body is left as it was
    assert card.data.model_name == "horse2zebra" and card.data.license == "unknown"
    for e in card.data.eval_results:
        assert (e.task_type, e.dataset_type, e.dataset_split) == ("image-to-image", "horse2zebra", "test")
    # the figures as the evaluation's table prints them, each with its identity baseline beside it
    assert metrics(card, "AtoB") == {("fid", "translated"): 120.34, ("fid", "identity"): 93.58,
                                     ("kid", "translated"): 26.07, ("kid", "identity"): 8.21,
                                     ("l1", "translated"): 0.1554, ("l1", "identity"): 0.1669}
    assert metrics(card, "BtoA") == {("fid", "translated"): 117.6, ("fid", "identity"): 93.58,
                                     ("kid", "translated"): 26.07, ("kid", "identity"): 8.21}  # unpaired: no L1
    names = {e.task_name for e in card.data.eval_results}
    assert names == {"horse → zebra", "zebra → horse"}
    kid = next(e for e in card.data.eval_results if e.metric_type == "kid" and e.metric_config == "translated")
    assert kid.metric_name == "KID ×10³" and kid.metric_args == {
        "std": 1.23, "subsets": 100, "subset_size": 9, "whole": 26.1, "interval_95": [20.1, 32.2], "bootstrap": 200,
        "ratio_to_identity": 3.18, "ratio_interval_95": [2.2, 4.5], "reading": "higher"}
    write_eval_results(model_folder, [eval_run("AtoB", 99.0)])  # a new evaluation replaces the old one
    card = ModelCard.load(model_folder / "README.md")
    assert len(card.data.eval_results) == 10 and metrics(card, "AtoB")[("fid", "translated")] == 99.0


def test_eval_results_dataset_name(tmp_path):
    """No training dataset on the card: the folder that holds testA/ and testB/ names the test data."""
    folder = export_tiny(tmp_path / "m")
    write_eval_results(folder, eval_run("AtoB", 1.0))
    assert {e.dataset_type for e in ModelCard.load(folder / "README.md").data.eval_results} == {"emoji"}
    write_eval_results(folder, eval_run("AtoB", 1.0), dataset="user/my-test-set")
    assert {e.dataset_type for e in ModelCard.load(folder / "README.md").data.eval_results} == {
        "emoji", "user/my-test-set"}
    with pytest.raises(ModelNotFoundError, match="README.md is missing"):
        write_eval_results(tmp_path, eval_run("AtoB", 1.0))


def table_figures(card: ModelCard, direction: str) -> dict[tuple[str, str], float]:
    """The figures of the card's own evaluation table for a direction (as cyclegan.evaluate prints it)."""
    section = card.text[card.text.index(f"\n{direction}: "):]
    rows = {"FID": "fid", "KID": "kid", "L1": "l1"}
    found = {}
    for line in section.split("\n\n", 2)[1].splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        metric = rows.get(cells[0].split()[0]) if "whole sets" not in cells[0] else None  # the interval row: below
        if cells[0].startswith("domain rate"):
            metric = "domain-rate"
        if metric and not cells[1].startswith("n/a"):
            for kind, cell in zip(("translated", "identity"), cells[1:]):
                found[(metric, kind)] = float(cell.split()[0])
    return found


@pytest.mark.parametrize("folder", CHECKPOINTS, ids=lambda p: p.name)
def test_shipped_cards(folder):
    """The shipped models' cards: the model's license on every card, and the evaluation in the model-index, with
    the same figures as the card's tables."""
    manifest = read_manifest(folder)
    if manifest["license"] == "other":
        assert manifest["license_link"].startswith("https://") and manifest["license_name"]
    check_cards(folder, manifest["license"], manifest.get("license_name"), manifest.get("license_link"))
    card = ModelCard.load(folder / "README.md")
    assert card.data.eval_results, "no model-index: run python -m cyclegan.evaluate ... --card"
    assert card.data.model_name == manifest["name"]
    tables = {d for d in ("AtoB", "BtoA") if f"\n{d}: " in card.text}
    assert tables and {e.dataset_config for e in card.data.eval_results} == tables  # every direction evaluated
    for direction in tables:
        figures = metrics(card, direction)
        assert {"fid", "kid"} <= {metric for metric, _ in figures}
        table = table_figures(card, direction)
        rates = {kind: v for (metric, kind), v in figures.items() if metric == "domain-rate"}
        assert set(rates) in (set(), {"translated", "identity", "target"})  # the probe's rate on the real targets too
        for kind in ("translated", "identity"):
            if rates:
                assert table.pop(("domain-rate", kind)) == pytest.approx(rates[kind], abs=0.006)  # 2 vs 3 decimals
        assert {kind for (metric, kind) in figures if metric != "domain-rate"} == {"translated", "identity"}
        assert {k: v for k, v in figures.items() if k[0] != "domain-rate"} == table, direction
