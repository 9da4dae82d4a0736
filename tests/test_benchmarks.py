"""The benchmark scripts still run end to end (tiny settings; their timings are not checked here)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_load_test_starts_the_app_serves_every_client_and_stops_it(tmp_path):
    out = tmp_path / "load.json"
    r = subprocess.run([sys.executable, "-m", "benchmarks.load_test", "--clients", "2", "--requests", "2",
                        "--timeout", "240", "--out", str(out)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["summary"][0]["sent"] == 4 and result["summary"][0]["failures"] == 0
    assert {row["model"] for row in result["requests"]} == {"monet2photo"}  # the examples of the listed models
    assert all(row["server_seconds"] > 0 for row in result["requests"])
    assert "p95 latency" in r.stdout


def test_quality_budget_summary_averages_the_seeds_of_each_recipe():
    from benchmarks import quality_budget

    def result(recipe, seed, kid, l1):
        return {"data": "emoji", "recipe": recipe, "seed": seed, "steps": 100 + seed, "images_per_s": 2.0,
                "l1": l1, "l1_identity": 0.2, "kid": kid, "kid_identity": 0.01, "fid": 50.0 + seed, "fid_identity": 40.0}
    text = quality_budget.seed_summary([result("projected", 1, 0.03, 0.18), result("combined-resnet", 0, 0.02, 0.1),
                                        result("projected", 0, 0.05, 0.22)])
    rows = [line for line in text.splitlines() if line.startswith("| emoji")]
    assert rows[0].startswith("| emoji | combined-resnet | 0 | 100 |") and "20.0 ×2.00 |" in rows[0]
    assert rows[1].startswith("| emoji | projected | 0, 1 | 100 |")  # 100.5 rounds to even
    assert "0.2000 ×1.00 (0.2200, 0.1800)" in rows[1] and "40.0 ×4.00 (50.0, 30.0)" in rows[1]
    assert "50.5 (50.0, 51.0) / 40.0" in rows[1]


def test_native_scale_grid_has_a_row_per_scale(tmp_path):
    from PIL import Image
    from cyclegan.testing import make_tiny_model
    model = make_tiny_model(tmp_path / "tiny")
    Image.new("RGB", (50, 30), "red").save(tmp_path / "a.png")
    out = tmp_path / "grid.png"
    subprocess.run([sys.executable, "-m", "benchmarks.native_scale", "--model", str(model), "--inputs",
                    str(tmp_path / "a.png"), str(tmp_path / "a.png"), "--sizes", "0,16", "--side", "32", "--out",
                    str(out)], check=True, timeout=300, cwd=ROOT)
    assert Image.open(out).size == (90 + 2 * 36, 3 * 36)  # input, full size, at 16 px


def test_native_scale_grid_compares_models_row_by_row(tmp_path):
    from PIL import Image
    from cyclegan.testing import make_tiny_model
    old, new = make_tiny_model(tmp_path / "old"), make_tiny_model(tmp_path / "new")
    Image.new("RGB", (50, 30), "red").save(tmp_path / "a.png")
    out, script = tmp_path / "grid.png", "benchmarks.native_scale"
    subprocess.run([sys.executable, "-m", script, "--model", str(old), str(new), "--labels", "shipped,new", "--inputs",
                    str(tmp_path / "a.png"), "--sizes", "0,16", "--side", "32", "--out", str(out)], check=True,
                   timeout=300, cwd=ROOT)
    assert Image.open(out).size[1] == 5 * 36  # input, then each model at full size and at 16 px
    bad = subprocess.run([sys.executable, "-m", script, "--model", str(old), str(new), "--labels", "one", "--out",
                          str(out)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert bad.returncode == 2 and "--labels names 1 models, --model gives 2" in bad.stderr


def test_the_soak_sends_the_attacks_and_checks_the_disk_budget(tmp_path):
    """The soak's plan holds the attacks a public server gets, each bad one with the line it must be refused with;
    and its disk check counts what the budget must have deleted: old files beyond the budget, never fresh ones."""
    import os
    import time
    from benchmarks import soak
    files = {name: tmp_path / name for name in ("photo", "small", "clip", "hifi_clip", "fast_clip", "huge_clip",
                                                "eps", "notes", "truncated", "bomb", "deep", "fake_clip", "exif_bomb",
                                                "scans", "pages", "pixels_40mp", "pcx", "streams_clip",
                                                "long_sound_clip", "claims_1000fps")}
    for path in files.values():
        path.write_bytes(b"x")  # (gradio_client's handle_file wants them to exist)
    plan = {kind: spec for kind, _, spec in soak.requests(files, tmp_path / "secret.png", tmp_path / "link.png")}
    expected = {"video of 12000² frames": "Video frames too large", "video with 192 kHz sound (resampled)": "good",
                "link out of the uploads": "Not an upload", "video link out of the uploads": "Not an upload",
                "EPS (never Ghostscript)": "Not an image", "not a video": "Not a video",
                "video path, not an upload": "Not an upload", "video web address": "Not an upload",
                "web address as FileData": "Not an upload", "path out as FileData": "Not an upload",
                "JPEG of 1,000 scans": "Too costly to decode", "clip of 66 streams": "Too many streams",
                "triptych handler: a PCX": "Not an image", "a handler of the page alone": "Not an endpoint",
                "2 MB data: URL in a call": "413", "relay of a web address": "404",
                "screen-recording transcode": "404", "clip of 1 s with 30 s of sound (cut)": "good"}
    assert {kind: plan[kind][0] for kind in expected} == expected
    old = tmp_path / "temp" / "upload" / "old.bin"
    old.parent.mkdir(parents=True)
    old.write_bytes(bytes(3000))
    os.utime(old, (time.time() - 200,) * 2)
    (tmp_path / "temp" / "fresh.bin").write_bytes(bytes(5000))  # younger than the grace: the budget may keep it
    block = os.stat(old).st_blocks * 512  # counted as the disk counts it
    assert soak.over_budget(tmp_path / "temp", 1000, 90) == block - 1000
    assert soak.over_budget(tmp_path / "temp", block, 90) == 0


def test_the_fuzzers_mutations_take_any_case_and_stay_within_the_largest():
    """A one-byte case once stopped a 30-minute run (an empty range), and repeating a large scan 2,000 times made
    gigabytes in the harness before the case was cut: every mutation takes any input and builds nothing much
    larger than the largest case."""
    import random

    from benchmarks.fuzz_uploads import MAX_CASE_BYTES, MUTATORS
    jpeg = b"\xff\xd8" + b"\xff\xda" + bytes(MAX_CASE_BYTES) + b"\xff\xd9"  # one scan of the largest size
    tiff = b"II*\x00" + bytes(MAX_CASE_BYTES)
    rng = random.Random(0)
    for data in (b"x", b"\xff\xd8", jpeg, tiff):
        for name, mutate in MUTATORS.items():
            for _ in range(5):
                out = mutate(data, rng, [data, b"seed"])
                assert out and len(out) <= 2 * MAX_CASE_BYTES + 8192 + len(data), (name, len(data), len(out))
