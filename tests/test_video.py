"""Tests for cyclegan/video.py: steady video translation, its round trip through PyAV, memory, and bad inputs.

Clips are made here: a still example photo with camera noise, a blinking light and a passing car
(benchmarks/video_steady.py makes the same scene, bigger), and tiny noise clips for the round trips.
"""
from __future__ import annotations

import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from cyclegan import Translator
from cyclegan.config import VideoConfig
from cyclegan.images import to_tensor
from cyclegan.steady import Steadier
from cyclegan.testing import (ROOT, blink_scene, flicker, make_tiny_model, many_streams_clip, pan_scene, read_frames,
                              write_video)
from cyclegan.video import BadVideo, probe, translate_video

MONET = ROOT / "checkpoints" / "monet2photo"
PHOTO = ROOT / "examples" / "photo_coffee.jpg"


def noise_clip(path: Path, n: int, size: tuple[int, int] = (48, 32), fps: float = 12, tone: bool = True) -> Path:
    rng = np.random.default_rng(0)
    return write_video(path, (rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8) for _ in range(n)), fps,
                       tone_hz=440 if tone else None)


def pcm_clip(path: Path, frames: int, fps: int, rate: int, wave: np.ndarray, codec: str = "libx264") -> Path:
    """A Matroska clip of ``frames`` 32x32 grey frames and ``wave`` (int16 samples) as mono PCM sound at ``rate``."""
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
        sound = container.add_stream("pcm_s16le", rate=rate, layout="mono")
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 20 * i % 256, np.uint8), format="rgb24")
            container.mux(video.encode(frame))
        for start in range(0, len(wave), 4096):
            chunk = av.AudioFrame.from_ndarray(wave[None, start:start + 4096], format="s16", layout="mono")
            chunk.sample_rate, chunk.pts = rate, start
            container.mux(sound.encode(chunk))
        container.mux(video.encode(None))
        container.mux(sound.encode(None))
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Translator:
    return Translator.from_pretrained(make_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny"))


@pytest.fixture(scope="module")
def monet() -> Translator:
    return Translator.from_pretrained(MONET)


def test_steady_translation_flickers_less_where_nothing_moves_and_still_follows_what_moves(tmp_path, monet):
    frames, static = blink_scene(PHOTO, size=(96, 72), frames=24)
    clip = write_video(tmp_path / "blink.mp4", frames, 24, crf=4)  # near-lossless: the camera noise stays
    steady = translate_video(monet, clip, tmp_path / "steady.mp4", progress=False)
    assert steady.frames == 24
    translate_video(monet, clip, tmp_path / "by_frame.mp4", config=VideoConfig.frame_by_frame(), progress=False)
    s = flicker(clip, tmp_path / "steady.mp4", static, ~static)
    f = flicker(clip, tmp_path / "by_frame.mp4", static, ~static)
    assert s["static_input"] == f["static_input"] > 1  # the same input, with its noise
    assert s["static_output"] < 0.5 * f["static_output"], (s, f)
    assert s["moving_output"] > 0.5 * f["moving_output"], (s, f)  # the light and the car are still followed
    # The first frame has no history: both settings give the same picture, up to H.264 (whose rate control looks
    # ahead at the frames that follow); the next test checks the translations themselves, before encoding.
    first_s, first_f = next(read_frames(tmp_path / "steady.mp4")), next(read_frames(tmp_path / "by_frame.mp4"))
    assert np.abs(first_s.astype(int) - first_f.astype(int)).mean() < 3.0


def test_the_first_frame_is_the_frame_by_frame_translation_and_onnx_matches_eager(tiny, tmp_path):
    frames = [to_tensor(Image.fromarray(f))
              for f in pan_scene(PHOTO, (40, 32), frames=4)]
    eager = Translator(*tiny.generators.values(), tiny.manifest, backend="eager")
    outputs = {}
    for name, t in (("onnx", tiny), ("eager", eager)):
        steady = Steadier(t, t.default_direction, VideoConfig())
        outputs[name] = [steady(x) for x in frames]
    assert tiny.backend == "onnx"
    first_alone = eager.generate(frames[0], eager.default_direction)
    torch.testing.assert_close(outputs["eager"][0], first_alone, atol=1e-5, rtol=0)
    for a, b in zip(outputs["onnx"], outputs["eager"]):  # the ONNX graph with frozen statistics, frame after frame
        torch.testing.assert_close(a, b, atol=2e-4, rtol=0)
    assert not torch.equal(outputs["eager"][3], eager.generate(frames[3], eager.default_direction))  # shared stats


def test_steady_video_takes_one_pass_a_frame_and_follows_a_cut_to_the_new_scenes_own_statistics(tiny):
    """After the first frame (its statistics measured whole, then translated), each frame is one pass of the generator:
    the shared statistics move towards those each layer saw. After a cut they become the new scene's own, and the
    output its plain translation (smoothing off, to see the statistics alone)."""
    calls = {"image_stats": 0, "generate": 0, "generate_following": 0}

    class Counting:
        default_direction = tiny.default_direction

        def __getattr__(self, name):
            if name in calls:
                calls[name] += 1
            return getattr(tiny, name)

    gen = torch.Generator().manual_seed(0)
    before, after = torch.rand(1, 3, 32, 40, generator=gen) * 2 - 1, torch.rand(1, 3, 32, 40, generator=gen)
    after = after * 0.4 - 0.6  # a darker, flatter scene: statistics far from the first one's
    steady = Steadier(Counting(), tiny.default_direction, VideoConfig(smoothing=0.0))
    for _ in range(3):
        steady(before)
    own, plain = tiny.image_stats(after, "AtoB"), tiny.generate(after, "AtoB")
    errors = [(float((steady.stats - own).abs().max()), float((steady(after) - plain).abs().max()))
              for _ in range(60)]
    assert calls == {"image_stats": 0, "generate": 0, "generate_following": 63}, calls
    assert errors[0][0] > 0.1 and errors[0][1] > 0.05, errors[0]  # far off just after the cut
    assert errors[-1][0] < 0.1 * errors[0][0] and errors[-1][1] < 0.3 * errors[0][1], (errors[0], errors[-1])  # 0.06, 0.22


def test_frames_rate_size_and_sound_survive_the_round_trip(tiny, tmp_path):
    clip = noise_clip(tmp_path / "in.mp4", 15, (50, 34), fps=15)
    info = tiny.translate_video(clip, tmp_path / "out.mp4", progress=False)
    got = probe(tmp_path / "out.mp4")
    assert (got.width, got.height, got.fps, got.frames, got.audio) == (50, 34, Fraction(15), 15, "aac")
    assert (info.frames, info.audio) == (15, "aac")
    assert abs(got.duration - 1.0) < 0.1
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        audio = c.streams.audio[0]
        assert float(audio.duration * audio.time_base) == pytest.approx(1.0, abs=0.1)


def test_side_by_side_max_side_and_a_one_frame_clip(tiny, tmp_path):
    clip = noise_clip(tmp_path / "in.mp4", 1, (64, 40), tone=False)
    info = tiny.translate_video(clip, tmp_path / "pair.mp4", side_by_side=True, max_side=33, progress=False)
    got = probe(tmp_path / "pair.mp4")
    assert (got.width, got.height, got.frames, got.audio) == (64, 20, 1, None) == (info.width, info.height, 1, None)
    left = next(read_frames(tmp_path / "pair.mp4"))[:, :32]
    source = np.asarray(Image.fromarray(next(read_frames(clip))).resize((32, 20)))
    assert np.abs(left.astype(int) - source.astype(int)).mean() < 20  # the real half is the input


def test_sound_of_a_codec_ffmpeg_cannot_decode_is_left_out(tiny, tmp_path):
    """A sound stream of an unknown codec has no decoder (found by the fuzzer: it raised AttributeError, a traceback
    in the server's log): the clip is translated without it."""
    path = pcm_clip(tmp_path / "odd.mkv", 4, 8, 8000, np.zeros(4000, np.int16))
    data = path.read_bytes()
    assert data.count(b"A_PCM/INT/LIT") == 1
    path.write_bytes(data.replace(b"A_PCM/INT/LIT", b"A_ZZZ/INT/LIT"))  # the sound's codec: one nobody knows
    assert probe(path).audio is None
    info = translate_video(tiny, path, tmp_path / "out.mp4", progress=False)
    assert (info.frames, info.audio, probe(tmp_path / "out.mp4").audio) == (4, None, None)


def test_a_picture_stream_of_a_codec_ffmpeg_cannot_decode_is_refused_in_one_line(tmp_path):
    path = noise_clip(tmp_path / "in.mp4", 2, (32, 32), tone=False)
    with av.open(str(path)) as src, av.open(str(tmp_path / "odd.mkv"), "w") as dst:  # the same H.264, in Matroska
        out = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = out
                dst.mux(packet)
    data = (tmp_path / "odd.mkv").read_bytes()
    assert data.count(b"V_MPEG4/ISO/AVC") == 1
    (tmp_path / "odd.mkv").write_bytes(data.replace(b"V_MPEG4/ISO/AVC", b"V_ZZZZZ/ISO/AVC"))
    with pytest.raises(BadVideo, match="cannot decode the video of odd.mkv: its codec is unknown"):
        probe(tmp_path / "odd.mkv", max_frame_pixels=10_000)


def test_sound_that_changes_its_rate_mid_clip_ends_there(tiny, tmp_path):
    """Two MPEG-TS clips joined (TS is made to be concatenated) whose sound changes from 44.1 to 32 kHz at the seam
    (found by the fuzzer: the resampler raised ValueError): the clip is translated, its sound cut at the change."""
    def segment(rate: int) -> bytes:
        path = tmp_path / f"{rate}.ts"
        with av.open(str(path), "w", format="mpegts") as c:
            video = c.add_stream("mpeg2video", rate=8)
            video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
            sound = c.add_stream("mp2", rate=rate, layout="mono")
            for i in range(8):
                frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 30 * i, np.uint8), format="rgb24")
                frame.pts = i
                c.mux(video.encode(frame))
            c.mux(video.encode(None))
            for start in range(0, rate, 1152):
                chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1152), np.int16), format="s16", layout="mono")
                chunk.sample_rate, chunk.pts = rate, start
                c.mux(sound.encode(chunk))
            c.mux(sound.encode(None))
        return path.read_bytes()
    joined = tmp_path / "joined.ts"
    joined.write_bytes(segment(44100) + segment(32000))
    info = translate_video(tiny, joined, tmp_path / "out.mp4", progress=False)
    assert (info.frames, info.audio) == (16, "aac")
    with av.open(str(tmp_path / "out.mp4")) as out:
        sound = out.streams.audio[0]
        assert float(sound.duration * sound.time_base) < 1.5  # the first second's sound, not the second's


def test_other_sound_is_reencoded_to_aac(tiny, tmp_path):
    src = pcm_clip(tmp_path / "in.mkv", 10, 10, 8000, np.zeros(8000, np.int16), codec="libvpx-vp9")
    info = tiny.translate_video(src, tmp_path / "out.mp4", progress=False)
    got = probe(tmp_path / "out.mp4")
    assert (got.frames, got.audio, info.audio) == (10, "aac", "aac")


PEAK = """
from cyclegan.testing import peak_rss_mb
from cyclegan import Translator
Translator.from_pretrained({model!r}).translate_video({clip!r}, {out!r}, progress=False)
print(peak_rss_mb())
"""


def test_memory_stays_flat_whatever_the_clip_length(tiny, tmp_path):
    model = make_tiny_model(tmp_path / "model")
    peaks = {}
    for n in (20, 240):
        clip = noise_clip(tmp_path / f"clip{n}.mp4", n, (96, 64), fps=24)
        code = PEAK.format(model=str(model), clip=str(clip),
                           out=str(tmp_path / f"out{n}.mp4"))
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert r.returncode == 0, r.stderr[-2000:]
        peaks[n] = float(r.stdout.split()[-1])
        assert probe(tmp_path / f"out{n}.mp4").frames == n
    assert peaks[240] < peaks[20] + 25, peaks  # 12x the frames, the same memory (a list of frames would add 4 MB)


def bad_clips(folder: Path) -> dict[str, tuple[Path, str]]:
    folder.mkdir(parents=True, exist_ok=True)
    text = folder / "notes.mp4"
    text.write_text("not a video at all\n")
    good = noise_clip(folder / "good.mp4", 12)
    truncated = folder / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    long = noise_clip(folder / "long.mp4", 60, fps=12)  # 5 s
    return {"text": (text, "not a video: cannot read notes.mp4"), "truncated": (truncated, "truncated video"),
            "empty": (empty, "empty file"), "long": (long, "video too long: 5.0 s > limit of 2 s")}


def test_bad_videos_get_one_line_and_leave_nothing_behind(tiny, tmp_path):
    out = tmp_path / "out"
    for name, (path, message) in bad_clips(tmp_path / "bad").items():
        with pytest.raises(BadVideo) as e:
            translate_video(tiny, path, out / f"{name}.mp4", config=VideoConfig(max_seconds=2), progress=False)
        assert str(e.value).startswith(message) and "\n" not in str(e.value), (name, str(e.value))
    assert not out.exists() or not any(out.iterdir())
    with pytest.raises(ValueError, match="smoothing must be in"):
        VideoConfig(smoothing=1.5).check()


def test_translate_cli_writes_the_video_and_refuses_bad_ones_in_one_line(tmp_path):
    clip = noise_clip(tmp_path / "clip.mp4", 6)
    model = make_tiny_model(tmp_path / "model")
    run = lambda *a: subprocess.run([sys.executable, "-m", "cyclegan.translate", "--model", str(model),  # noqa: E731
                                     "--output", str(tmp_path / "out"), *a], capture_output=True, text=True,
                                    cwd=ROOT, timeout=300)
    r = run("--input", str(clip), "--frame-by-frame", "--side-by-side")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "wrote" in r.stdout and "6 frames, 96x32" in r.stdout and "sound (aac)" in r.stdout
    assert probe(tmp_path / "out" / "clip.mp4").frames == 6
    (tmp_path / "bad.mp4").write_text("hello")
    r = run("--input", str(tmp_path / "bad.mp4"))
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith("error: not a video"), r.stderr[-1000:]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["clip.mp4"]


def test_a_clip_beyond_the_bounds_is_refused_or_thinned_at_once(tiny, tmp_path):
    """Frames too big for the app are refused from the header, before one is decoded; a clip that says it holds
    more frames than the app reads is refused from the header too; a clip faster than max_fps is translated at
    max_fps, its extra frames dropped, its length kept."""
    big = noise_clip(tmp_path / "big.mp4", 4, (64, 48))
    for config, message in ((VideoConfig(max_frame_pixels=3000), "video frames too large: 64×48 = 3,072 pixels > "
                                                                  "limit of 3,000 pixels"),
                            (VideoConfig(max_frames=3), "video has too many frames: 4 (12 fps) > limit of 3")):
        started = time.perf_counter()
        with pytest.raises(BadVideo) as e:
            translate_video(tiny, big, tmp_path / "out.mp4", config=config, progress=False)
        assert str(e.value) == message and time.perf_counter() - started < 1
    fast = noise_clip(tmp_path / "fast.mp4", 48, (32, 32), fps=120)  # 0.4 s at 120 fps
    info = translate_video(tiny, fast, tmp_path / "thinned.mp4", config=VideoConfig(max_fps=30), progress=False)
    assert (info.frames, info.fps) == (12, 30)
    out = probe(tmp_path / "thinned.mp4")
    assert (out.frames, out.fps, out.audio) == (12, 30, "aac") and abs(out.duration - 0.4) < 0.05


PROBE_PEAK = """
from cyclegan.testing import peak_rss_mb
from cyclegan.errors import BadVideo
from cyclegan.video import probe
probe({small!r}, max_frame_pixels=1_000_000)
try:
    probe({clip!r}, max_frame_pixels=1_000_000)
except BadVideo as e:
    print(e)
print(peak_rss_mb())
"""


def test_a_clip_of_huge_frames_costs_its_header_not_its_frames(tmp_path):
    """Opening a clip makes FFmpeg decode a frame of it to learn its format: frames over the limit are refused there
    too, so a small file of 36-megapixel frames (a 54 MB frame each) is refused without one being decoded."""
    huge = write_video(tmp_path / "huge.mp4", (np.full((6000, 6000, 3), 90, np.uint8) for _ in range(2)), 12)
    small = noise_clip(tmp_path / "small.mp4", 2, (64, 48), tone=False)
    peaks = {}
    for name, clip in (("small", small), ("huge", huge)):
        code = PROBE_PEAK.format(small=str(small), clip=str(clip))
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert r.returncode == 0, r.stderr[-2000:]
        peaks[name] = float(r.stdout.split()[-1])
    assert "video frames too large: 6000×6000" in r.stdout
    assert peaks["huge"] < peaks["small"] + 25, peaks


def test_sound_the_encoder_cannot_take_is_resampled(tiny, tmp_path):
    """192 kHz sound (PCM in Matroska, say) is more than AAC takes: the output carries it resampled to 48 kHz."""
    wave = (3000 * np.sin(np.arange(192000) / 30)).astype(np.int16)
    path = pcm_clip(tmp_path / "hifi.mkv", 12, 12, 192000, wave)
    info = translate_video(tiny, path, tmp_path / "out.mp4", progress=False)
    assert info.audio == "aac" and info.frames == 12
    with av.open(str(tmp_path / "out.mp4")) as out:
        assert out.streams.audio[0].codec_context.sample_rate == 48000


OPEN_PEAK = """
from cyclegan.testing import peak_rss_mb
from cyclegan.errors import BadVideo
from cyclegan.video import probe
probe({small!r}, max_frame_pixels=4096 * 2160)
before = peak_rss_mb()
try:
    probe({clip!r}, max_frame_pixels=4096 * 2160)
except BadVideo as e:
    print(e)
print(peak_rss_mb() - before)
"""


def test_a_clip_of_many_streams_opens_none_unchecked(tmp_path):
    """Opening a clip makes FFmpeg decode a frame of every stream: past the first 16 streams none would get the
    frame-size check, so a 1 MB file of 64 tiny streams and two of 36 megapixels cost hundreds of MB. FFmpeg now
    keeps at most 16 streams, each checked: the clip is refused in one line, for next to no memory."""
    clip = many_streams_clip(tmp_path / "many.ts", 64, 6000)
    small = noise_clip(tmp_path / "small.mp4", 2, (64, 48), tone=False)
    code = OPEN_PEAK.format(small=str(small), clip=str(clip))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "too many streams: many.ts has more than 16" in r.stdout
    assert float(r.stdout.split()[-1]) < 30, r.stdout  # MB of growth; opening all 66 streams cost ~110 more


def test_the_sound_ends_with_the_picture(tiny, tmp_path):
    """A one-second clip that carries 30 s of sound comes back one second long, sound included, whether the sound is
    copied (AAC) or re-encoded (PCM): what lies past the last frame is neither written nor decoded."""
    for name, codec, fmt in (("aac.mp4", "aac", "fltp"), ("pcm.mkv", "pcm_s16le", "s16")):
        path = tmp_path / name
        with av.open(str(path), "w") as container:
            video = container.add_stream("libx264", rate=12)
            video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
            sound = container.add_stream(codec, rate=48000, layout="mono")
            for i in range(12):
                frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 20 * i, np.uint8), format="rgb24")
                container.mux(video.encode(frame))
            container.mux(video.encode(None))
            wave = (0.2 * np.sin(np.arange(48000 * 30) / 20)).astype(np.float32)[None]
            wave = wave if fmt == "fltp" else (wave * 30000).astype(np.int16)
            for start in range(0, wave.shape[1], 1024):
                chunk = av.AudioFrame.from_ndarray(wave[:, start:start + 1024], format=fmt, layout="mono")
                chunk.sample_rate, chunk.pts = 48000, start
                container.mux(sound.encode(chunk))
            container.mux(sound.encode(None))
        info = translate_video(tiny, path, tmp_path / f"out-{name}.mp4", progress=False)
        assert info.frames == 12 and info.audio == "aac"
        with av.open(str(tmp_path / f"out-{name}.mp4")) as out:
            audio = out.streams.audio[0]
            seconds = sum(frame.samples for frame in out.decode(audio)) / audio.codec_context.sample_rate
        assert 0.9 < seconds < 1.2, (name, seconds)


def test_a_clip_that_claims_a_thousand_frames_a_second_is_thinned_by_its_frames_times(tiny, tmp_path):
    """A header rate of 1000 fps or more is not believed (FFmpeg's guess falls back to 25), but the frames' own times
    still thin the clip to max_fps: 200 frames a millisecond apart give at most 0.2 s x 30 frames, written at 30 fps."""
    path = tmp_path / "fast.mkv"
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=1000)
        video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
        for i in range(200):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 1000)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
    info = translate_video(tiny, path, tmp_path / "out.mp4", config=VideoConfig(max_fps=30), progress=False)
    assert info.frames <= 7 and info.fps == 30, info
