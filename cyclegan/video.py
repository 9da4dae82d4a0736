"""Translate videos, steady from frame to frame: PyAV (FFmpeg inside its wheels) decodes and writes H.264 MP4 with
the audio kept, and the frames stream through one at a time, so memory does not grow with the clip's length.

Frame by frame, CycleGAN flickers: instance normalisation takes each frame's own statistics, so a small change in
one place (a moving hand, a blinking light) shifts the colours of the whole picture, and the generator's texture
follows the camera's noise. Two remedies, each switchable in ``VideoConfig``:

- **shared statistics**: every instance norm uses statistics averaged over the last frames
  (``cyclegan.frozen_stats``, asked for with ``Translator.image_stats`` and ``generate(x, direction, stats)``);
- **temporal smoothing**: where the input did not move, the output is blended with the previous output, by a
  weight that falls to 0 where the input changed, so that moving things are followed at once.

    Translator.from_pretrained("checkpoints/monet2photo").translate_video("clip.mp4", "monet.mp4")
    python -m cyclegan.translate --model checkpoints/monet2photo --input clip.mp4 --output out/
"""
from __future__ import annotations

import math
import os
import uuid
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Protocol

import av
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from .config import VideoConfig
from .direction import Direction
from .errors import BadVideo
from .frozen_stats import StatsGenerator
from .images import to_pil, to_tensor

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".mpg", ".mpeg", ".ogv", ".3gp")
REMUXED_AUDIO = ("aac", "mp3")  # MP4 carries these as they are; other audio is re-encoded to AAC
AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)  # what AAC takes
FALLBACK_FPS = Fraction(25)


class FrameTranslator(Protocol):
    """What the video path needs of a translator (``cyclegan.Translator`` is one): its generators with given
    instance-norm statistics, those statistics for a frame, and the size it translates a frame at."""

    default_direction: Direction

    def check_direction(self, direction: Direction | str) -> Direction: ...

    def working_size(self, size: tuple[int, int]) -> tuple[int, int]: ...

    def image_stats(self, x: torch.Tensor, direction: Direction | str) -> torch.Tensor: ...

    def generate(self, x: torch.Tensor, direction: Direction | str, stats: torch.Tensor | None = None
                 ) -> torch.Tensor: ...


def is_video(path: str | Path) -> bool:
    """Whether ``path`` is named like a video file (what the translate CLI sends to ``translate_video``)."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


@dataclass(frozen=True)
class VideoInfo:
    """What ``probe`` reads from a video: the displayed size (rotation applied), frame rate, frame count (0 when
    the container does not say), duration in seconds and the audio codec (None without sound)."""

    width: int
    height: int
    fps: Fraction
    frames: int
    duration: float
    audio: str | None
    rotation: int = 0


MAX_FPS = 1000  # a rate at or above this is not believed: the frames' own times decide (see translate_video)
MAX_STREAMS = 16  # streams a clip may have: FFmpeg decodes a frame of each as it opens the clip


def _fps(stream: av.video.stream.VideoStream) -> Fraction:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return Fraction(rate) if rate and 0 < rate < MAX_FPS else FALLBACK_FPS


def too_big(width: int, height: int, limit: int) -> BadVideo:
    return BadVideo(f"video frames too large: {width}×{height} = {width * height:,} pixels > limit of {limit:,} "
                    "pixels")


def open_clip(path: str | Path, max_frame_pixels: int = 0) -> av.container.InputContainer:
    """``av.open`` for reading, where opening (FFmpeg decodes a frame of each stream to learn their formats) already
    refuses frames over ``max_frame_pixels`` (0: no limit) instead of decoding them whole, so that a huge clip costs
    its header's bytes. FFmpeg keeps at most ``MAX_STREAMS`` streams (``max_streams``), and each of them gets the
    frame-size option, so no stream is opened unchecked however many the file declares."""
    options = [{"max_pixels": str(max_frame_pixels)}] * MAX_STREAMS if max_frame_pixels else None
    return av.open(str(path), options={"max_streams": str(MAX_STREAMS)}, stream_options=options)


def probe(path: str | Path, name: str | None = None, max_frame_pixels: int = 0) -> VideoInfo:
    """Open ``path`` and decode its first frame; ``BadVideo`` for a file that is not a video or whose first frame
    cannot be read (a truncated or corrupted file), or, before any frame is decoded, whose frames have more than
    ``max_frame_pixels`` pixels (0: no limit)."""
    name = name or Path(path).name
    try:
        size = os.path.getsize(path)
    except OSError as e:
        raise BadVideo(f"cannot read {name}: {e.strerror}") from None
    if size == 0:
        raise BadVideo(f"empty file: {name} has 0 bytes")
    try:
        with open_clip(path, max_frame_pixels) as container:
            if not container.streams.video:
                raise BadVideo(f"no video in {name}: it has no picture stream")
            stream = container.streams.video[0]
            if max_frame_pixels:
                width, height = stream.codec_context.width, stream.codec_context.height
                if width * height > max_frame_pixels:
                    raise too_big(width, height, max_frame_pixels)
                stream.codec_context.options = {"max_pixels": str(max_frame_pixels)}  # the decoder checks too
            first = next(container.decode(stream), None)
            if first is None:
                raise BadVideo(f"corrupted or truncated video: no frame of {name} can be decoded")
            rotation = int(round(first.rotation or 0)) % 360
            w, h = (first.height, first.width) if rotation in (90, 270) else (first.width, first.height)
            if stream.duration and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            else:
                duration = (container.duration or 0) / av.time_base
            audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
            return VideoInfo(w, h, _fps(stream), stream.frames or 0, duration, audio, rotation)
    except BadVideo:
        raise
    except av.error.MemoryError:  # what FFmpeg answers when a clip declares more than max_streams streams
        raise BadVideo(f"too many streams: {name} has more than {MAX_STREAMS} (or it is damaged)") from None
    except av.error.InvalidDataError:
        with open(path, "rb") as f:
            head = f.read(12)
        if head[4:8] == b"ftyp":  # an MP4 or MOV whose index (written last) is missing: cut short
            raise BadVideo(f"truncated video: {name} is an MP4 whose end is missing (was the upload cut short?)"
                           ) from None
        raise BadVideo(f"not a video: cannot read {name} as a video (MP4, WebM, MOV, MKV, AVI, ...)") from None
    except (av.error.FFmpegError, StopIteration, ValueError) as e:
        raise BadVideo(f"corrupted or truncated video: {name}: {e}") from None


def frame_size(width: int, height: int, max_side: int = 0) -> tuple[int, int]:
    """The (width, height) frames are translated and written at: the long side at most ``max_side`` (0: no limit),
    aspect kept, both even (H.264 in 4:2:0 needs it) and at least 2."""
    scale = min(1.0, max_side / max(width, height)) if max_side else 1.0
    even = lambda v: max(2, int(v * scale) // 2 * 2)  # noqa: E731
    return even(width), even(height)


def local_change(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """How much a 1x3xHxW picture changed at each pixel: the signed change averaged over 5x5 pixels (camera noise
    cancels out, a moving edge does not), its largest channel; 1x1xHxW, on the pictures' scale."""
    return F.avg_pool2d(after - before, 5, stride=1, padding=2, count_include_pad=False).abs().amax(1, True)


def stats_rate(frames: int, window: int) -> float:
    """How far the shared statistics move towards a frame's own: their mean over the frames so far, then a running
    mean over the last ``window`` (the first frame is its own)."""
    return max(1 / frames, 1 / window)


def smoothed(fake: torch.Tensor, last: torch.Tensor, before: torch.Tensor, x: torch.Tensor,
             smoothing: float | torch.Tensor, motion_levels: float | torch.Tensor) -> torch.Tensor:
    """``fake`` blended with the previous output ``last`` where the input did not change from ``before`` to ``x``:
    by up to ``smoothing`` where it stood still, by nothing where it changed by ``motion_levels`` of 255 or more."""
    keep = smoothing * (1 - local_change(before, x) / (2 * motion_levels / 255)).clamp(0, 1)
    return keep * last + (1 - keep) * fake


class SteadyFrame(nn.Module):
    """One step of the steady translation as one graph, for a page that translates a camera live (exported by
    ``cyclegan.export``): the frame's own statistics measured on ``small`` (the frame itself, as ``Steadier`` does;
    anything small with ``rate`` 0, when a frame's statistics are not taken), the shared ones moved towards them by
    ``rate``, the frame translated with those (``StatsGenerator``, the video path's mechanism), then smoothed
    against the previous input and output. Returns (output, the new shared statistics). With ``small`` the frame,
    ``rate`` 1 and ``smoothing`` 0 it is the plain generator, frame by frame."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.frozen = StatsGenerator(generator)

    def forward(self, x: torch.Tensor, small: torch.Tensor, stats: torch.Tensor, rate: torch.Tensor,
                previous_x: torch.Tensor, previous_y: torch.Tensor, smoothing: torch.Tensor,
                motion_levels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        stats = stats + rate * (self.frozen.measure(small) - stats)
        return smoothed(self.frozen(x, stats), previous_y, previous_x, x, smoothing, motion_levels), stats


class Steadier:
    """The per-frame state of one video's translation: the running instance-norm statistics and the previous input
    and output. ``__call__`` takes a frame as a 1x3xHxW tensor in [-1, 1] and returns its translation."""

    def __init__(self, translator: FrameTranslator, direction: Direction, config: VideoConfig):
        self.translator, self.direction, self.config = translator, direction, config
        self.stats: torch.Tensor | None = None
        self.frames = 0
        self.previous: tuple[torch.Tensor, torch.Tensor] | None = None  # (input, output)

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        cfg, t = self.config, self.translator
        self.frames += 1
        if cfg.shared_stats:
            own = t.image_stats(x, self.direction)
            rate = stats_rate(self.frames, cfg.stats_window)
            self.stats = own if self.stats is None else self.stats + rate * (own - self.stats)
            fake = t.generate(x, self.direction, self.stats)
        else:
            fake = t.generate(x, self.direction)
        if cfg.smoothing and self.previous is not None and self.previous[0].shape == x.shape:
            fake = smoothed(fake, self.previous[1], self.previous[0], x, cfg.smoothing, cfg.motion_levels)
        self.previous = (x, fake)
        return fake


def _rgb(frame: av.VideoFrame, rotation: int) -> Image.Image:
    """A decoded frame as an upright RGB picture (a phone's portrait clip carries its rotation as metadata)."""
    image = frame.to_image()
    return image.rotate(rotation, expand=True) if rotation else image


class _Encoder:
    """H.264 MP4 output: frames in, packets muxed; the audio of the source copied or re-encoded to AAC."""

    def __init__(self, path: Path, size: tuple[int, int], fps: Fraction, crf: int,
                 audio: av.audio.stream.AudioStream | None = None):
        self.container = av.open(str(path), "w", format="mp4")
        self.video = self.container.add_stream("libx264", rate=fps)
        self.video.width, self.video.height = size
        self.video.pix_fmt = "yuv420p"
        self.video.options = {"crf": str(crf), "preset": "veryfast"}
        self.time_base, self.count = Fraction(1) / fps, 0
        self.audio, self.resampler = None, None
        self.audio_codec = None if audio is None else audio.codec_context.name  # what the output's sound is in
        if audio is not None:
            if audio.codec_context.name in REMUXED_AUDIO:
                self.audio = self.container.add_stream_from_template(audio)
            else:
                self.audio_codec = "aac"
                rate = audio.codec_context.sample_rate or 48000
                rate = rate if rate in AAC_RATES else 48000  # 192 kHz sound, say: resampled, not refused
                layout = "mono" if audio.codec_context.channels == 1 else "stereo"
                self.audio = self.container.add_stream("aac", rate=rate, layout=layout)
                self.resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)

    def write(self, image: Image.Image) -> None:
        frame = av.VideoFrame.from_image(image)
        frame.pts, frame.time_base = self.count, self.time_base  # constant frame rate, from 0
        self.count += 1
        self.container.mux(self.video.encode(frame))

    def audio_packet(self, packet: av.Packet) -> None:
        if self.audio is None or packet.dts is None:  # a demuxer's flush packet
            return
        if self.resampler is None:
            packet.stream = self.audio
            self.container.mux(packet)
            return
        for frame in packet.decode():
            for resampled in self.resampler.resample(frame):
                self.container.mux(self.audio.encode(resampled))

    def close(self) -> None:
        self.container.mux(self.video.encode(None))
        if self.resampler is not None:
            for resampled in self.resampler.resample(None):
                self.container.mux(self.audio.encode(resampled))
            self.container.mux(self.audio.encode(None))
        self.container.close()


class Soundtrack:
    """The clip's sound on its way to the encoder, held until the picture has reached its time, so that the output's
    sound ends where its picture does: a packet past the last frame is never written (nor decoded). What runs ahead
    of the picture is held up to ``ahead`` packets (about 10 s of AAC at 48 kHz) and ``ahead_bytes``; beyond that
    it is dropped."""

    def __init__(self, ahead: int = 500, ahead_bytes: int = 8 * 1024 ** 2):
        self.waiting: list[av.Packet] = []
        self.ahead, self.ahead_bytes, self.bytes = ahead, ahead_bytes, 0

    def hold(self, packet: av.Packet) -> None:
        if (packet.dts is not None and packet.pts is not None and len(self.waiting) < self.ahead
                and self.bytes + packet.size <= self.ahead_bytes):
            self.waiting.append(packet)
            self.bytes += packet.size

    def release(self, until: float, encoder: _Encoder) -> None:
        """Write the held packets that start before ``until`` (seconds), in order."""
        ready = [p for p in self.waiting if float(p.pts * p.time_base) < until]
        if ready:
            self.waiting = [p for p in self.waiting if float(p.pts * p.time_base) >= until]
            self.bytes = sum(p.size for p in self.waiting)
            for packet in ready:
                encoder.audio_packet(packet)


def translate_video(translator: FrameTranslator, src: str | Path, dst: str | Path,
                    direction: Direction | str | None = None, config: VideoConfig | None = None, *,
                    name: str | None = None, progress: bool = True) -> VideoInfo:
    """Translate the video ``src`` into the H.264 MP4 ``dst`` (the audio kept) and return what was written.

    ``config`` (default ``VideoConfig()``: steady) says how; ``VideoConfig.frame_by_frame()`` is the reference's
    frame-by-frame translation. ``BadVideo`` says in one line what is wrong with the input (not a video, truncated,
    too long); nothing is left at ``dst`` or beside it then. ``progress`` shows a tqdm bar of frames."""
    from tqdm.auto import tqdm
    cfg = config or VideoConfig()
    cfg.check()
    direction = translator.default_direction if direction is None else translator.check_direction(direction)
    src, dst = Path(src), Path(dst)
    name = name or src.name
    info = probe(src, name, cfg.max_frame_pixels)
    if cfg.max_seconds and info.duration > cfg.max_seconds:
        raise BadVideo(f"video too long: {info.duration:.1f} s > limit of {cfg.max_seconds:g} s")
    claimed = info.frames or round(info.duration * float(info.fps))
    if cfg.max_frames and claimed > cfg.max_frames:
        raise BadVideo(f"video has too many frames: {claimed:,} ({float(info.fps):g} fps) > limit of "
                       f"{cfg.max_frames:,}")
    size = frame_size(info.width, info.height, cfg.max_side)
    work = translator.working_size(size)
    steady = Steadier(translator, direction, cfg)
    # A faster clip is thinned to max_fps by its frames' own times, whatever rate its header claims (one that claims
    # MAX_FPS or more is not believed, and is written at max_fps): the output keeps the clip's length and sound.
    fps = info.fps
    if cfg.max_fps:
        limit = Fraction(cfg.max_fps).limit_denominator(1001)
        fps = min(fps, limit) if info.fps != FALLBACK_FPS else limit
    step = 1 / float(fps) if cfg.max_fps else 0.0
    tmp = dst.with_name(f".{dst.stem}.{uuid.uuid4().hex[:8]}.part.mp4")
    dst.parent.mkdir(parents=True, exist_ok=True)
    decoded = written = 0
    keep_at = last_at = -math.inf
    sound = Soundtrack()
    try:
        with open_clip(src, cfg.max_frame_pixels) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if cfg.max_frame_pixels:  # a frame that grows mid-stream is refused by the decoder itself
                stream.codec_context.options = {"max_pixels": str(cfg.max_frame_pixels)}
            audio = container.streams.audio[0] if container.streams.audio else None
            out_size = (2 * size[0], size[1]) if cfg.side_by_side else size
            encoder = _Encoder(tmp, out_size, fps, cfg.crf, audio)
            audio_codec = encoder.audio_codec
            try:
                bar = tqdm(total=round(claimed * float(fps / info.fps)) or None, unit="frame", desc=f"{direction} {name}",
                           disable=not progress)
                for packet in container.demux(*(s for s in (stream, audio) if s is not None)):
                    if packet.stream is not stream:
                        sound.hold(packet)
                        continue
                    for frame in packet.decode():
                        decoded += 1
                        # A frame without a time, or one that goes back, is placed after the last one.
                        at = frame.time if frame.time is not None and frame.time > last_at else (
                            max(0.0, last_at) + 1 / float(info.fps))
                        last_at = at
                        if cfg.max_frames and decoded > cfg.max_frames or cfg.max_seconds and at > cfg.max_seconds + 1:
                            raise BadVideo(f"video too long: more than {cfg.max_seconds:g} s or "
                                           f"{cfg.max_frames or math.inf:,} frames")
                        sound.release(at, encoder)
                        if step and at < keep_at - 1e-3:
                            continue  # dropped: the clip is faster than max_fps
                        keep_at = max(keep_at, at) + step
                        encoder.write(translated_frame(steady, _rgb(frame, info.rotation), size, work,
                                                       cfg.side_by_side))
                        written += 1
                        bar.update()
                # The sound as long as the picture, not a packet longer (a 1 s clip may carry 10 minutes of it).
                sound.release(last_at + 1 / float(fps), encoder)
                bar.close()
            finally:
                encoder.close()
        if info.frames and decoded < info.frames * 0.98 - 1:
            raise BadVideo(f"truncated video: only {decoded} of the {info.frames} frames of {name} could be read")
        os.replace(tmp, dst)
    except av.error.ArgumentError as e:  # the decoder's max_pixels: a frame that grew past the limit
        if not cfg.max_frame_pixels:
            raise BadVideo(f"corrupted video: {name} cannot be decoded after frame {decoded} ({e})") from None
        raise BadVideo(f"video frames too large: a frame after the first has more than {cfg.max_frame_pixels:,} "
                       "pixels") from None
    except av.error.FFmpegError as e:
        raise BadVideo(f"corrupted or truncated video: {name} stops being readable after frame {decoded} ({e})"
                       ) from None
    finally:
        tmp.unlink(missing_ok=True)
    return VideoInfo(*out_size, fps, written, written / float(fps), audio_codec)


def translated_frame(steady: Steadier, real: Image.Image, size: tuple[int, int], work: tuple[int, int],
                     side_by_side: bool) -> Image.Image:
    """One frame through ``steady`` at the working size, back at ``size``; beside its input with ``side_by_side``."""
    real = real if real.size == size else real.resize(size, Image.Resampling.LANCZOS)
    x = to_tensor(real if work == size else real.resize(work, Image.Resampling.LANCZOS))
    fake = to_pil(steady(x))
    fake = fake if work == size else fake.resize(size, Image.Resampling.LANCZOS)
    if not side_by_side:
        return fake
    pair = Image.new("RGB", (2 * size[0], size[1]))
    pair.paste(real, (0, 0))
    pair.paste(fake, (size[0], 0))
    return pair


def flicker(source: str | Path, translated: str | Path, static: np.ndarray | None = None,
            moving: np.ndarray | None = None, still_levels: float = 2.0) -> dict[str, float]:
    """How much a translated clip changes from frame to frame, where its source stands still and where it moves.

    ``static`` and ``moving`` are HxW boolean masks of the regions (a made-up scene knows them); without them a
    pixel counts as static for a pair of frames where the source's change there, averaged over 5x5 pixels, stays
    under ``still_levels`` of 255 (camera noise cancels out), and as moving elsewhere. Returns the mean absolute
    change per frame (of 255 levels) of the output and of the source in both regions."""
    from .metrics import frame_change
    sums = dict.fromkeys(("static_output", "static_input", "moving_output", "moving_input"), 0.0)
    pairs, previous = 0, None
    for a, b in zip(read_frames(source), read_frames(translated)):
        a, b = torch.from_numpy(a).float(), torch.from_numpy(b).float()
        if b.shape != a.shape:
            raise ValueError(f"the translated clip's frames ({tuple(b.shape)}) differ in size from the source's "
                             f"({tuple(a.shape)})")
        if previous is not None:
            if static is None:
                chw = lambda f: f.permute(2, 0, 1)[None]  # noqa: E731
                still = local_change(chw(previous[0]), chw(a))[0, 0] < still_levels
                regions = (still, ~still)
            else:
                regions = (torch.from_numpy(static), torch.from_numpy(moving if moving is not None else ~static))
            for region, mask in zip(("static", "moving"), regions):
                sums[f"{region}_output"] += frame_change(previous[1], b, mask)
                sums[f"{region}_input"] += frame_change(previous[0], a, mask)
            pairs += 1
        previous = (a, b)
    return {k: v / max(1, pairs) for k, v in sums.items()}


def read_frames(path: str | Path) -> Iterable[np.ndarray]:
    """The frames of a video as HxWx3 uint8 arrays, one at a time."""
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            yield frame.to_ndarray(format="rgb24")


def write_video(path: str | Path, frames: Iterable[np.ndarray | Image.Image], fps: float | Fraction = 25, *,
                tone_hz: float | None = None, crf: int = 18) -> Path:
    """Write ``frames`` (HxWx3 uint8 arrays or PIL images, of one even size) as an H.264 MP4; with ``tone_hz``
    also an AAC sine tone as long as the video (a clip whose sound can be checked)."""
    path, fps = Path(path), Fraction(fps).limit_denominator(1001)
    frames = iter(frames)
    first = next(frames)
    first = first if isinstance(first, Image.Image) else Image.fromarray(first)
    encoder = _Encoder(path, first.size, fps, crf)
    tone = encoder.container.add_stream("aac", rate=44100, layout="mono") if tone_hz else None
    n = 0
    for image in (first, *(f if isinstance(f, Image.Image) else Image.fromarray(f) for f in frames)):
        encoder.write(image)
        n += 1
    if tone is not None:
        samples = int(44100 * n / fps)
        wave = (0.2 * np.sin(2 * np.pi * tone_hz * np.arange(samples) / 44100)).astype(np.float32)[None]
        for start in range(0, samples, 1024):
            frame = av.AudioFrame.from_ndarray(wave[:, start:start + 1024], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 44100, start
            encoder.container.mux(tone.encode(frame))
        encoder.container.mux(tone.encode(None))
    encoder.close()
    return path


def write_y4m(path: str | Path, frames: Iterable[np.ndarray | Image.Image], fps: int = 10) -> Path:
    """``frames`` (HxWx3 uint8, of one even size) as an uncompressed YUV4MPEG2 clip, 4:2:0 with BT.601 full-range
    colours: what Chromium's fake camera plays (--use-file-for-fake-video-capture), looping."""
    path = Path(path)
    with open(path, "wb") as f:
        for i, frame in enumerate(frames):
            rgb = np.asarray(frame, dtype=np.float32)
            h, w = rgb.shape[:2]
            if i == 0:
                f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg XYSCSS=420JPEG\n".encode())
            r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
            y = 0.299 * r + 0.587 * g + 0.114 * b
            u = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
            v = 0.5 * r - 0.418688 * g - 0.081312 * b + 128
            half = lambda c: c.reshape(h // 2, 2, w // 2, 2).mean((1, 3))  # noqa: E731
            f.write(b"FRAME\n")
            for plane in (y, half(u), half(v)):
                f.write(np.clip(np.rint(plane), 0, 255).astype(np.uint8).tobytes())
    return path
