"""Tests for cyclegan/export.py: the browser's model files, the static site, the app's page assets, the export CLI."""
from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from cyclegan.testing import ROOT, make_site, make_tiny_model

from cyclegan import export, onnx_export  # noqa: E402
from cyclegan.config import UploadLimits  # noqa: E402
from cyclegan.model_folder import load_generator  # noqa: E402


def test_export_web_writes_fp16_weight_onnx_that_matches_the_generator(tmp_path):
    import onnx
    import onnxruntime as ort
    model = make_tiny_model(tmp_path / "m", native_size=48, default_direction="BtoA")
    out = export.export_web(model, tmp_path / "web")
    meta = json.loads((out / "web.json").read_text())
    assert meta["directions"] == ["AtoB", "BtoA"] and meta["default_direction"] == "BtoA"
    assert meta["native_size"] == 48 and (meta["domain_a"], meta["domain_b"]) == ("apple", "orange")
    for direction, sub in (("AtoB", "G_AB"), ("BtoA", "G_BA")):
        path = out / meta["files"][direction]["file"]
        assert meta["files"][direction]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        graph = onnx.load(path).graph
        big = [i for i in graph.initializer if np.prod(i.dims) >= onnx_export.MIN_FP16_ELEMENTS]
        assert big and all(i.data_type == onnx.TensorProto.FLOAT16 for i in big)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        x = torch.rand(1, 3, 36, 44) * 2 - 1
        with torch.no_grad():
            expected = load_generator(model / sub).eval()(x).numpy()
        assert np.abs(session.run(None, {"input": x.numpy()})[0] - expected).max() < 1e-4
        # the camera's graph: shared statistics and smoothing in one step; with rate 1 and no smoothing, the plain
        # generator (its statistics the frame's own, measured on the small copy)
        steady = ort.InferenceSession(str(out / meta["files"][direction]["steady"]), providers=["CPUExecutionProvider"])
        size = meta["files"][direction]["stats_size"]
        one = lambda v: np.full(1, v, np.float32)  # noqa: E731
        y, stats = steady.run(None, {"x": x.numpy(), "small": x.numpy(), "stats": np.zeros(size, np.float32),
                                     "rate": one(1), "follow": one(0), "previous_x": x.numpy(), "previous_y": x.numpy(),
                                     "smoothing": one(0), "motion_levels": one(6)})
        assert stats.shape == (size,) and np.abs(y - expected).max() < 1e-4


def test_the_camera_graph_is_the_video_paths_steady_translation_frame_after_frame(tmp_path):
    """One mechanism: the exported camera graph, fed as the page feeds it (the first frame's statistics measured,
    then `follow` at the rate of a running mean, smoothing after the first frame), gives what the video path's
    Steadier gives, frame after frame, output and shared statistics alike (1e-5: measured 3e-6 at most), even where
    the translator measures a picture's statistics on a downscaled copy (a video's first frame is measured whole, as
    the page measures it); a frame whose statistics are neither taken nor followed (rate 0 with a tiny `small`,
    follow 0) leaves them as they were."""
    import onnxruntime as ort
    from cyclegan import Translator
    from cyclegan.config import VideoConfig
    from cyclegan.direction import Direction
    from cyclegan.steady import Steadier, stats_rate
    model = make_tiny_model(tmp_path / "m")
    meta = json.loads((export.export_web(model, tmp_path / "web") / "web.json").read_text())["files"]["AtoB"]
    graph = ort.InferenceSession(str(tmp_path / "web" / meta["steady"]), providers=["CPUExecutionProvider"])
    config = VideoConfig()
    translator = Translator.from_pretrained(model, backend="eager", stats_pixels=256)  # 40x56 frames: downscaled
    steadier = Steadier(translator, Direction.AtoB, config)
    torch.manual_seed(0)
    base, one = torch.rand(1, 3, 40, 56) * 2 - 1, (lambda v: np.full(1, v, np.float32))  # noqa: E731
    stats, previous = np.zeros(meta["stats_size"], np.float32), None
    for n in range(1, 7):
        x = base.clone()
        x[..., 10:20, 4 * n:4 * n + 12] = 0.8  # something moving over a still, slightly noisy scene
        x += torch.randn_like(x) * 0.01
        expected = steadier(x).numpy()
        before_x, before_y = previous or (x.numpy(), x.numpy())
        first = n == 1
        feeds = {"x": x.numpy(), "small": x.numpy() if first else np.zeros((1, 3, 16, 16), np.float32),
                 "stats": stats, "rate": one(1 if first else 0),
                 "follow": one(0 if first else stats_rate(n, config.stats_window)), "previous_x": before_x, "previous_y": before_y,
                 "smoothing": one(config.smoothing if previous else 0),
                 "motion_levels": one(config.motion_levels)}
        y, stats = graph.run(None, feeds)
        assert np.abs(y - expected).max() < 1e-5, n
        assert np.abs(stats - steadier.stats.numpy().ravel()).max() < 1e-5, n
        previous = (x.numpy(), y)
    kept = graph.run(None, {**feeds, "stats": stats, "follow": one(0)})[1]
    assert np.array_equal(kept, stats)


def test_the_camera_graphs_statistics_follow_what_it_sees_to_the_frames_own(tmp_path):
    """The page's steady frames take no second pass: the shared statistics move by `follow` towards those each
    layer saw. Started from another picture's, they become a still frame's own, and the output its plain
    translation, frame after frame (the first layer's at once, the deeper ones as those upstream settle)."""
    import onnxruntime as ort
    model = make_tiny_model(tmp_path / "m")
    meta = json.loads((export.export_web(model, tmp_path / "web") / "web.json").read_text())["files"]["AtoB"]
    graph = ort.InferenceSession(str(tmp_path / "web" / meta["steady"]), providers=["CPUExecutionProvider"])
    plain = ort.InferenceSession(str(tmp_path / "web" / meta["file"]), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(0)
    x, other = (torch.rand(1, 3, 40, 56, generator=gen).numpy() * 2 - 1 for _ in range(2))
    other = other * 0.3 + 0.5  # a dimmer, flatter picture: statistics far from x's
    one, tiny = (lambda v: np.full(1, v, np.float32)), np.zeros((1, 3, 16, 16), np.float32)  # noqa: E731
    feeds = {"small": other, "stats": np.zeros(meta["stats_size"], np.float32), "rate": one(1), "follow": one(0),
             "previous_x": x, "previous_y": x, "smoothing": one(0), "motion_levels": one(6)}
    stats = graph.run(None, {**feeds, "x": other})[1]  # the shared statistics: the other picture's
    own = graph.run(None, {**feeds, "x": x, "small": x})[1]
    expected = plain.run(None, {"input": x})[0]
    errors = []
    for _ in range(24):
        y, stats = graph.run(None, {**feeds, "x": x, "small": tiny, "rate": one(0), "stats": stats,
                                    "follow": one(0.5)})
        errors.append((float(np.abs(stats - own).max()), float(np.abs(y - expected).max())))
    assert errors[0][0] > 0.1 and errors[0][1] > 0.05, errors[0]  # far off at first
    assert errors[-1][0] < 0.05 and errors[-1][1] < 1e-2, errors  # the frame's own (1/std up to 15), its plain output
    held = graph.run(None, {**feeds, "x": other, "small": tiny, "rate": one(0), "stats": stats, "follow": one(0)})[1]
    assert np.array_equal(held, stats)  # follow 0: the shared statistics as they were


def test_a_model_too_big_for_a_browser_stays_on_the_server(tmp_path, monkeypatch):
    model = make_tiny_model(tmp_path / "m")
    assert export.web_supported(model) and not export.web_supported(tmp_path / "nowhere")
    monkeypatch.setattr(export, "MAX_WEB_BYTES", 1000)
    assert not export.web_supported(model)
    with pytest.raises(ValueError, match="over the 0 MB a page downloads: it stays on the server"):
        export.export_web(model, tmp_path / "web")


def test_export_cli_one_line_errors_and_the_older_onnx_form(tmp_path):
    run = lambda *a: subprocess.run([sys.executable, "-m", "cyclegan.export", *a], capture_output=True,  # noqa: E731
                                    text=True, cwd=ROOT, timeout=300)
    r = run("--web", str(tmp_path / "missing"), str(tmp_path / "out"))
    assert r.returncode == 2 and r.stderr.strip().startswith("error:") and len(r.stderr.strip().splitlines()) == 1
    model = make_tiny_model(tmp_path / "m")
    r = run("--site", str(model), str(tmp_path / "site"), "--examples", str(tmp_path / "none"))
    assert r.returncode == 0 and "python -m cyclegan.serve" in r.stdout, r.stderr
    r = run(str(model), "--onnx")  # the older form of --onnx MODEL
    assert r.returncode == 0 and (model / "G_AB" / "model.onnx").is_file(), r.stderr[-500:]


def test_export_site_is_a_folder_of_plain_files(tmp_path):
    site = make_site(tmp_path)
    names = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    assert {"index.html", "cyclegan.js", "style.css", "models.json", "examples.json", "examples/x.png",
            "models/tiny/web.json", "models/tiny/G_AB.onnx", "models/tiny/G_BA.onnx", "models/tiny/G_AB.steady.onnx",
            "vendor/ort.wasm.min.mjs", "vendor/ort-wasm-simd-threaded.mjs", "vendor/ort-wasm-simd-threaded.wasm",
            "vendor/ort-wasm-simd-threaded.wasm.gz", "vendor/LICENSE-onnxruntime-web.txt", "vendor/VERSION",
            # the camera's WebGPU build ships with every site (its WebAssembly gzipped: the page gunzips it)
            "vendor/webgpu/ort.webgpu.min.mjs", "vendor/webgpu/ort-wasm-simd-threaded.asyncify.mjs",
            "vendor/webgpu/ort-wasm-simd-threaded.asyncify.wasm.gz"} <= names
    assert json.loads((site / "models.json").read_text()) == {"models": ["tiny"], "limits": UploadLimits().page()}
    assert [e["model"] for e in json.loads((site / "examples.json").read_text())] == ["tiny"]  # only exported ones
    wasm = (site / "vendor" / "ort-wasm-simd-threaded.wasm").read_bytes()
    assert wasm[:4] == b"\0asm" and gzip.decompress((site / "vendor" / "ort-wasm-simd-threaded.wasm.gz").read_bytes()) == wasm
    # the page asks nothing of any other host, and writes no text as markup (names come from a model's manifest)
    for page in ("index.html", "cyclegan.js", "camera.js"):
        text = (site / page).read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, page
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text and "document.write" not in text, page


def test_the_pages_own_limits_are_the_servers():
    """Until models.json is read, the page checks a picture against the limits written in cyclegan.js: they are the
    server's (UploadLimits.page()), so that no picture is let through, or refused, by a limit the server has not."""
    import re
    text = (export.WEBAPP / "cyclegan.js").read_text()
    literal = re.search(r"export const limits = (\{.*?\});", text, re.S).group(1)
    literal = re.sub(r"(\d+) \* (\d+)", lambda m: str(int(m[1]) * int(m[2])), literal)
    assert json.loads(re.sub(r"(\w+):", r'"\1":', literal)) == UploadLimits().page()


def test_app_assets_are_exported_once_per_set_of_weights(tmp_path):
    model = make_tiny_model(tmp_path / "m")
    limits = UploadLimits(max_side=96)
    first = export.app_assets({"tiny": model}, limits, cache=tmp_path / "cache")
    assert json.loads((first / "models.json").read_text()) == {"models": ["tiny"], "limits": limits.page()}
    assert (first / "gradio-client.js").is_file() and (first / "models" / "tiny" / "G_AB.onnx").is_file()
    assert (first / "vendor" / "webgpu" / "ort-wasm-simd-threaded.asyncify.wasm.gz").is_file()  # the app's too
    stamp = (first / "models" / "tiny" / "G_AB.onnx").stat().st_mtime_ns
    again = export.app_assets({"tiny": model}, limits, cache=tmp_path / "cache")
    assert again == first and (again / "models" / "tiny" / "G_AB.onnx").stat().st_mtime_ns == stamp  # reused
    assert export.app_assets({"tiny": model}, UploadLimits(max_side=64), cache=tmp_path / "cache") != first


def test_app_assets_follow_the_manifest_too(tmp_path):
    """Setting a model's native scale (or default direction) after export changes what the page must do: the
    assets folder, whose name is what the browser caches by, is a new one."""
    from cyclegan.model_folder import set_defaults
    model = make_tiny_model(tmp_path / "m")
    first = export.app_assets({"tiny": model}, UploadLimits(), cache=tmp_path / "cache")
    set_defaults(model, native_size=48)
    second = export.app_assets({"tiny": model}, UploadLimits(), cache=tmp_path / "cache")
    assert second != first and json.loads((second / "models" / "tiny" / "web.json").read_text())["native_size"] == 48
    set_defaults(model, default_direction="BtoA")
    third = export.app_assets({"tiny": model}, UploadLimits(), cache=tmp_path / "cache")
    assert third not in (first, second)


def test_app_assets_follow_the_export_format(tmp_path, monkeypatch):
    """A cache folder written by an older export (its files differ: no camera graphs, say) is never served to a
    page that expects the new ones: the format is part of the folder's name."""
    model = make_tiny_model(tmp_path / "m")
    current = export.app_assets({"tiny": model}, UploadLimits(), cache=tmp_path / "cache")
    assert json.loads((current / "models" / "tiny" / "web.json").read_text())["format"] == export.WEB_FORMAT
    monkeypatch.setattr(export, "WEB_FORMAT", export.WEB_FORMAT - 1)
    assert export.app_assets({"tiny": model}, UploadLimits(), cache=tmp_path / "cache") != current


def test_the_site_is_a_static_space_and_one_command_pushes_it(tmp_path, monkeypatch, capsys):
    """--site writes the Space's README (static SDK, index.html, the three headers the Hub allows, a license that
    covers every model, each model with its license and data); --push-to-space creates the static Space on the
    (stand-in) Hub and uploads every file of the site."""
    import huggingface_hub.constants
    import yaml
    from hub_server import FakeHub
    one = make_tiny_model(tmp_path / "one", "one", "apple", "orange", license="cc-by-4.0", attribution="Apples, CC0")
    two = make_tiny_model(tmp_path / "two", "two", "pear", "plum", license="other", license_name="my-terms",
                          license_link="https://example.org/terms")
    with FakeHub() as hub:
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", hub.endpoint)
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setenv("HF_TOKEN", "hf_test_token_not_real")
        assert export.main(["--site", str(one), str(two), str(tmp_path / "site"), "--examples", str(tmp_path / "none"),
                            "--push-to-space", "user/cyclegan", "--private"]) == 0
    card = (tmp_path / "site" / "README.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    assert (front["sdk"], front["app_file"], front["license"]) == ("static", "index.html", "other")
    assert front["custom_headers"] == {"cross-origin-embedder-policy": "require-corp",
                                       "cross-origin-opener-policy": "same-origin",
                                       "cross-origin-resource-policy": "cross-origin"}
    assert front["title"] and front["emoji"] and front["short_description"] and "cyclegan" in front["tags"]
    assert "| [one](models/one/README.md) | apple ↔ orange | cc-by-4.0 | Apples, CC0 |" in card
    assert "| [two](models/two/README.md) | pear ↔ plum | other: [my-terms](https://example.org/terms) | see its card |" \
        in card
    assert hub.created["user/cyclegan"]["type"] == "space" and hub.created["user/cyclegan"]["sdk"] == "static"
    assert hub.created["user/cyclegan"]["visibility"] == "private"
    site_files = {p.relative_to(tmp_path / "site").as_posix() for p in (tmp_path / "site").rglob("*") if p.is_file()}
    assert set(hub.files["user/cyclegan"]) == site_files and {"README.md", "index.html", "coi-serviceworker.min.js",
                                                               "models/one/README.md", "models.json"} <= site_files
    out = capsys.readouterr().out
    assert f"pushed to the Space {hub.endpoint}/spaces/user/cyclegan" in out
    for path, data in hub.files["user/cyclegan"].items():
        assert data == (tmp_path / "site" / path).read_bytes(), path
    assert export.covering_license([{"license": "mit"}, {"license": "mit"}]) == {"license": "mit"}
    shared = {"license": "other", "license_name": "my-terms", "license_link": "https://example.org/terms"}
    assert export.covering_license([shared, shared]) == shared  # a Space of models under the same terms names them
    front = yaml.safe_load(export.space_card([{"name": "two", "domain_a": "pear", "domain_b": "plum", **shared,
                                               "directions": ["BtoA"]}]).split("---")[1])
    assert (front["license"], front["license_name"], front["license_link"]) == ("other", "my-terms",
                                                                                 "https://example.org/terms")
    assert "| plum → pear |" in export.space_card([{"name": "two", "domain_a": "pear", "domain_b": "plum",
                                                   "directions": ["BtoA"]}])


def test_a_space_of_the_shipped_monet2photo_names_its_other_terms():
    """monet2photo's weights are under `other` terms (the competition's rules): a Space of it alone says which in
    its front matter, as the Hub reads them."""
    import yaml
    from cyclegan.model_folder import read_manifest
    manifest = read_manifest(ROOT / "checkpoints" / "monet2photo")
    front = yaml.safe_load(export.space_card([manifest]).split("---")[1])
    assert (front["license"], front["license_name"], front["license_link"]) == (
        "other", manifest["license_name"], manifest["license_link"])


def test_push_to_space_goes_with_a_site(tmp_path, capsys):
    with pytest.raises(SystemExit):
        export.main(["--web", str(tmp_path / "m"), str(tmp_path / "o"), "--push-to-space", "user/s"])
    assert "--push-to-space goes with --site" in capsys.readouterr().err
