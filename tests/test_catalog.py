"""Tests for cyclegan.catalog: which models the demo lists, how it labels them, and loading them once.

No gradio here: the app's handling of ``CatalogError`` (toasts) is tested in test_app.py.
"""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
from PIL import Image

from cyclegan.testing import free_port, make_tiny_model, prefill_hub_cache

from cyclegan import catalog  # noqa: E402
from cyclegan.catalog import (  # noqa: E402
    CatalogError, ModelCache, ModelSpec, check_direction, direction_choices, discover_models, download_failure,
    examples_cache_dir, load_examples, model_ids_from_env, model_info, reconstructed_label, zoo_reachable)
from cyclegan.download import DownloadError  # noqa: E402
from cyclegan.model_folder import domain_rates, kid_ratio, write_eval_results  # noqa: E402
from cyclegan.results import Evaluation, Probe, Ratio, Scores  # noqa: E402
from cyclegan.zoo import ZOO  # noqa: E402


def test_discover_models(tmp_path):
    make_tiny_model(tmp_path / "ckpt" / "b-model", "Bee", "bee", "wasp")
    make_tiny_model(tmp_path / "ckpt" / "a-model", "Ant", "ant", "termite")
    (tmp_path / "ckpt" / "empty").mkdir()
    make_tiny_model(tmp_path / "ckpt" / ".hidden")
    specs = discover_models(tmp_path / "ckpt", ["user/repo", "a-model"])
    assert [s.key for s in specs[:3]] == ["a-model", "b-model", "user/repo"]
    assert specs[0].label == "Ant (ant ↔ termite)" and specs[0].kind == "local"
    assert specs[2].kind == "hub" and "Hub" in specs[2].label
    zoo = [s for s in specs if s.kind == "zoo"]
    assert zoo and zoo[0].key == "zoo:horse2zebra" and zoo[0].label == "Reference horse2zebra (download, ~90 MB)"
    assert direction_choices(zoo[0]) == [("horse → zebra", "AtoB"), ("zebra → horse", "BtoA")]
    assert [s.key for s in discover_models(tmp_path / "missing", [], zoo=False)] == []


def measured(kid: tuple[float, float, float], rates: tuple[float, float] | None, n: int = 300) -> Evaluation:
    """An evaluation of ``n`` test inputs whose KID ratio to the untranslated inputs is ``kid`` (ratio, low, high)
    and whose probe calls ``rates`` (translated, untranslated) of them the target domain."""
    scores = lambda rate: Scores(80.0, 0.01, 0.001, 0.01, 0.008, 0.012, domain_rate=rate)
    return Evaluation(
        direction="AtoB", input_dir="testA", target_dir="testB", num_input=n, num_target=n, paired=False, size=None,
        native_size=None, reference_dirs=["testB"], kid_subsets=100, kid_subset_size=100, bootstrap_rounds=200,
        translated=scores(rates and rates[0]), identity=scores(rates and rates[1]), ratio=Ratio(*kid, "-"),
        domain_rate_target=rates and 0.8, probe=rates and Probe("trainA", "trainB", n, n))


def test_the_demo_lists_a_model_its_card_measures_better_than_doing_nothing(tmp_path):
    """KID's interval below 1 lists a model; where KID cannot tell (its interval holds 1), a domain rate measurably
    above the untranslated inputs' (the Wilson intervals apart) lists it; KID measurably worse never does; a card
    with no evaluation is listed (nothing says it is worse)."""
    cases = {"kid-lower": ((0.5, 0.4, 0.7), None), "kid-same-rate-higher": ((1.05, 0.8, 1.4), (0.65, 0.14)),
             "kid-same-rate-close": ((1.05, 0.8, 1.4), (0.22, 0.14)), "kid-same-no-rate": ((1.05, 0.8, 1.4), None),
             "kid-higher-rate-higher": ((2.5, 2.1, 3.5), (0.35, 0.1)),
             "rate-higher-of-few": ((1.0, 0.5, 1.5), (0.4, 0.1)), "kid-touching-1-rate-higher": ((1.3, 1.0, 1.7), (0.65, 0.14))}
    for name, (kid, rates) in cases.items():
        folder = make_tiny_model(tmp_path / "ckpt" / name, name)
        write_eval_results(folder, measured(kid, rates, 10 if "few" in name else 300))
    make_tiny_model(tmp_path / "ckpt" / "unmeasured", "unmeasured")
    # Two test sets on one card: KID and the rates are read from the same one (here neither lists it).
    two = make_tiny_model(tmp_path / "ckpt" / "two-sets", "two-sets")
    write_eval_results(two, measured((1.05, 0.8, 1.4), (0.22, 0.14)), dataset="a-set")
    write_eval_results(two, measured((2.5, 2.1, 3.5), (0.65, 0.14)), dataset="b-set")
    assert domain_rates(two)["translated"][0] == 0.22 and kid_ratio(two)[0] == 1.05
    assert domain_rates(tmp_path / "ckpt" / "kid-same-rate-higher")["translated"] == pytest.approx(
        (0.65, 0.5944, 0.7018), abs=1e-4)  # scipy.stats.binomtest(195, 300).proportion_ci(method="wilson")
    left_out: list[str] = []
    listed = [s.key for s in discover_models(tmp_path / "ckpt", [], zoo=False, left_out=left_out)]
    assert listed == ["kid-lower", "kid-same-rate-higher", "kid-touching-1-rate-higher", "unmeasured"]
    assert left_out == ["kid-higher-rate-higher", "kid-same-no-rate", "kid-same-rate-close", "rate-higher-of-few",
                        "two-sets"]


def test_the_first_model_and_each_models_default_direction(tmp_path):
    """The demo opens on ``first`` (moved to the front, the others keep their order), in that model's
    manifest's default direction."""
    make_tiny_model(tmp_path / "ckpt" / "emoji", "emoji", "Noto emoji", "Twemoji")
    make_tiny_model(tmp_path / "ckpt" / "monet2photo", "monet2photo", "Monet painting", "photo",
                    default_direction="BtoA")
    specs = discover_models(tmp_path / "ckpt", ["user/repo"], zoo=False, first="monet2photo")
    assert [s.key for s in specs] == ["monet2photo", "emoji", "user/repo"]
    assert [s.default_direction for s in specs] == ["BtoA", "AtoB", "AtoB"]
    assert [s.key for s in discover_models(tmp_path / "ckpt", ["user/repo"], zoo=False, first="user/repo")] == [
        "user/repo", "emoji", "monet2photo"]
    assert [s.key for s in discover_models(tmp_path / "ckpt", [], zoo=False, first="not-listed")] == [
        "emoji", "monet2photo"]
    cache = ModelCache(specs, tmp_path / "zoo")
    assert cache.get("monet2photo").default_direction == "BtoA"


def test_zoo_models_offline(tmp_path):
    """Offline, only the reference models already downloaded are listed, and without "(download)"."""
    zoo_dir = tmp_path / "zoo"
    assert len([s for s in discover_models(None, [], zoo_dir=zoo_dir, online=True) if s.kind == "zoo"]) == len(ZOO)
    assert discover_models(None, [], zoo_dir=zoo_dir, online=False) == []
    make_tiny_model(zoo_dir / "monet2photo-reference")
    make_tiny_model(tmp_path / "ckpt" / "monet2photo", "monet2photo", "Monet painting", "photo")
    specs = discover_models(tmp_path / "ckpt", [], zoo_dir=zoo_dir, online=False)
    assert [s.label for s in specs] == ["monet2photo (Monet painting ↔ photo)",
                                        "Reference monet2photo (Monet painting ↔ photo)"]
    assert len({s.label for s in discover_models(tmp_path / "ckpt", [], zoo_dir=zoo_dir)}) == 1 + len(ZOO)


def test_zoo_lists_the_one_direction_reference_models():
    specs = {s.key: s for s in discover_models(None, [], zoo=True, online=True)}
    for name in ("style_cezanne", "style_ukiyoe", "style_vangogh", "iphone2dslr_flower"):
        assert specs[f"zoo:{name}"].directions == ("AtoB",) and "~45 MB" in specs[f"zoo:{name}"].label
    assert direction_choices(specs["zoo:style_vangogh"]) == [("photo → Van Gogh painting", "AtoB")]
    assert specs["zoo:horse2zebra"].directions == ("AtoB", "BtoA")


def test_model_ids_from_env(monkeypatch):
    monkeypatch.setenv("CYCLEGAN_MODELS", " a/b, c/d  e/f,")
    assert model_ids_from_env() == ["a/b", "c/d", "e/f"]
    monkeypatch.delenv("CYCLEGAN_MODELS")
    assert model_ids_from_env() == []


def test_download_failure_says_offline():
    spec = ModelSpec("zoo:horse2zebra", "Reference horse2zebra", "zoo", "horse2zebra")
    offline = DownloadError("could not download http://x.org/horse2zebra.pth: [Errno -2] Name or service not known")
    message = download_failure(spec, offline)
    assert message.startswith("Could not download the model horse2zebra: this machine looks offline ([Errno -2]")
    assert "x.org" not in message
    refused = DownloadError("could not download http://127.0.0.1:9/a.pth: [Errno 111] Connection refused")
    assert download_failure(spec, refused) == "Could not download the model horse2zebra: [Errno 111] Connection refused"


def test_zoo_reachable_gives_up_quickly(monkeypatch):
    """A resolver that hangs (no network) costs the app's start-up at most the timeout."""
    monkeypatch.setattr(catalog.socket, "getaddrinfo", lambda *a: time.sleep(5))
    start = time.monotonic()
    assert zoo_reachable(timeout=0.2) is False
    assert time.monotonic() - start < 2
    monkeypatch.setattr(catalog.socket, "getaddrinfo", lambda *a: [])
    assert zoo_reachable(timeout=2) is True


def test_model_cache_loads_once_and_hub_errors_are_fast(tmp_path, monkeypatch):
    """No HF_HUB_OFFLINE, but the Hub is unreachable: a cached repo still loads, an uncached one fails fast."""
    import huggingface_hub.constants as hf
    prefill_hub_cache(tmp_path / "hub", "owner/cached", make_tiny_model(tmp_path / "m"))
    monkeypatch.setattr(hf, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hf, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf, "ENDPOINT", f"http://127.0.0.1:{free_port()}")  # connection refused
    cache = ModelCache(discover_models(None, ["owner/cached", "owner/gone"], zoo=False), tmp_path / "zoo")
    assert not cache.loaded("owner/cached")
    first = cache.get("owner/cached")
    assert cache.get("owner/cached") is first and cache.specs["owner/cached"].domain_a == "apple"
    assert cache.loaded("owner/cached (Hugging Face Hub)")  # the label works as the key too
    start = time.monotonic()
    with pytest.raises(CatalogError, match="Could not load model owner/gone .*not in the local cache") as excinfo:
        cache.get("owner/gone")
    assert time.monotonic() - start < 5
    assert excinfo.value.__cause__ is None  # the user's to fix: no traceback wanted
    with pytest.raises(CatalogError, match=r"Unknown model 'nope'\. Available: owner/cached, owner/gone"):
        cache.spec("nope")


def test_model_cache_reports_a_broken_model_with_its_cause(tmp_path):
    """A corrupted download is no user error: the message names the exception, which stays chained for the log."""
    folder = make_tiny_model(tmp_path / "broken")
    (folder / "manifest.json").write_text("{half a manifest")
    cache = ModelCache([ModelSpec("broken", "Broken model", "local", str(folder))], tmp_path / "zoo")
    with pytest.raises(CatalogError, match=r"^Could not load model Broken model: JSONDecodeError: ") as excinfo:
        cache.get("broken")
    assert excinfo.value.__cause__ is not None and not cache.loaded("broken")


def test_one_direction_model_offers_one_direction_and_says_no_reconstruction(tmp_path):
    import torch
    from cyclegan import Generator
    from cyclegan.model_folder import save_model_folder
    torch.manual_seed(0)
    save_model_folder(Generator(ngf=8, n_blocks=2), None, tmp_path / "ckpt" / "style", name="style", domain_a="photo",
                 domain_b="painting", train_config={}, model_config={"ngf": 8, "n_blocks": 2})
    make_tiny_model(tmp_path / "ckpt" / "tiny")
    style, tiny = discover_models(tmp_path / "ckpt", [], zoo=False)
    assert style.directions == ("AtoB",) and style.label == "style (photo → painting)"
    assert direction_choices(style) == [("photo → painting", "AtoB")]
    assert "no reconstruction" in model_info(style) and "no reconstruction" not in model_info(tiny)
    assert reconstructed_label(style) == "Reconstructed: none (this model has no painting → photo generator)"
    assert reconstructed_label(tiny) == "Reconstructed"
    check_direction(style, "AtoB")
    check_direction(tiny, "BtoA")
    with pytest.raises(CatalogError, match=r"translates photo → painting only.*use direction 'AtoB'"):
        check_direction(style, "BtoA")


def test_a_model_with_only_G_BA_reads_the_way_it_translates(tmp_path):
    """A folder may hold G_BA alone: its label, info, choices and messages say B → A, never A → B."""
    import shutil
    folder = make_tiny_model(tmp_path / "ckpt" / "gba", "gba", "apple", "orange")
    shutil.rmtree(folder / "G_AB")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.update(directions=["BtoA"], default_direction="BtoA")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (spec,) = discover_models(tmp_path / "ckpt", [], zoo=False)
    assert spec.directions == ("BtoA",) and spec.default_direction == "BtoA"
    assert spec.label == "gba (orange → apple)" and "**orange → apple**" in model_info(spec)
    assert direction_choices(spec) == [("orange → apple", "BtoA")]
    assert reconstructed_label(spec) == "Reconstructed: none (this model has no apple → orange generator)"
    with pytest.raises(CatalogError, match=r"no AtoB generator \(apple -> orange\).*translates orange → apple only"):
        check_direction(spec, "AtoB")
    assert ModelCache([spec], tmp_path / "zoo").get("gba", "BtoA").default_direction == "BtoA"


def test_model_cache_checks_the_direction_once_where_it_is_known(tmp_path, monkeypatch):
    """A zoo model's directions are known before its download: a missing one is refused without fetching anything.
    A Hub model's are known once it is loaded: it is checked then."""
    import huggingface_hub.constants as hf
    import torch
    from cyclegan import Direction, Generator
    from cyclegan.model_folder import save_model_folder
    fetched = []
    monkeypatch.setattr(catalog, "fetch_zoo_model", lambda *a, **k: fetched.append(a))
    cache = ModelCache(discover_models(None, [], zoo=True, online=True), tmp_path / "zoo")
    with pytest.raises(CatalogError, match=r"translates photo → Van Gogh painting only"):
        cache.get("zoo:style_vangogh", Direction.BtoA)
    assert fetched == [] and not cache.loaded("zoo:style_vangogh")
    torch.manual_seed(0)
    style = save_model_folder(Generator(ngf=8, n_blocks=2), None, tmp_path / "style", name="style", domain_a="photo",
                         domain_b="painting", train_config={}, model_config={"ngf": 8, "n_blocks": 2})
    prefill_hub_cache(tmp_path / "hub", "owner/style", style)
    monkeypatch.setattr(hf, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hf, "HF_HUB_OFFLINE", True)
    cache = ModelCache(discover_models(None, ["owner/style"], zoo=False), tmp_path / "zoo")
    with pytest.raises(CatalogError, match=r"translates photo → painting only"):
        cache.get("owner/style", Direction.BtoA)
    assert cache.loaded("owner/style") and cache.specs["owner/style"].directions == ("AtoB",)
    assert cache.get("owner/style", Direction.AtoB) is cache.get("owner/style")


def test_load_examples(tmp_path):
    assert load_examples(tmp_path / "nothing", ["m"]) == []
    assert load_examples(tmp_path, ["m"]) == []  # no examples.json
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "examples.json").write_text(json.dumps([
        {"file": "a.png", "model": "m", "direction": "BtoA"},
        {"file": "a.png", "model": "m"},  # direction defaults to AtoB
        {"file": "missing.png", "model": "m"},
        {"file": "a.png", "model": "unknown"},
        {"file": "a.png", "model": "m", "direction": "up"},
        {"model": "m"},
    ]))
    with pytest.warns(UserWarning):
        rows = load_examples(tmp_path, ["m"])
    assert rows == [[str(tmp_path / "a.png"), "m", "BtoA"], [str(tmp_path / "a.png"), "m", "AtoB"]]
    (tmp_path / "examples.json").write_text("{not json")
    with pytest.warns(UserWarning):
        assert load_examples(tmp_path, ["m"]) == []


def test_examples_cache_dir_follows_the_weights(tmp_path, monkeypatch):
    """A retrained model (new weights) gets a new cache folder, so that no stale example output is shown."""
    monkeypatch.setenv("GRADIO_EXAMPLES_CACHE", str(tmp_path / "cache"))
    make_tiny_model(tmp_path / "ckpt" / "tiny")
    specs = discover_models(tmp_path / "ckpt", [], zoo=False)
    rows = [["a.png", "tiny", "AtoB"]]
    before = examples_cache_dir(rows, specs, 512)
    assert before.parent == tmp_path / "cache" and before == examples_cache_dir(rows, specs, 512)
    assert examples_cache_dir(rows, specs, 256) != before
    weights = tmp_path / "ckpt" / "tiny" / "G_AB" / "model.safetensors"
    weights.write_bytes(weights.read_bytes() + b" ")
    assert examples_cache_dir(rows, specs, 512) != before
