"""Translate videos, steady from frame to frame (``cyclegan.steady``): PyAV (FFmpeg inside its wheels) decodes and
writes H.264 MP4 with the audio kept, and the frames stream through one at a time, so memory does not grow with the
clip's length. What a clip may cost is bounded here too: its streams, its frames' size, their number and rate, the
sound's length (see SECURITY.md).

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

import av
from PIL import Image

from .config import VideoConfig
from .direction import Direction
from .errors import BadVideo
from .images import VIDEO_SUFFIXES, is_video, to_pil, to_tensor  # noqa: F401 (their old home)
from .steady import FrameTranslator, Steadier

REMUXED_AUDIO = ("aac", "mp3")  # MP4 carries these as they are; other audio is re-encoded to AAC
AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)  # what AAC takes
FALLBACK_FPS = Fraction(25)


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
            if stream.codec_context is None:  # a codec FFmpeg has no decoder for
                raise BadVideo(f"cannot decode the video of {name}: its codec is unknown")
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
            sound = first_sound(container)
            audio = sound.codec_context.name if sound else None
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


def first_sound(container: av.container.InputContainer) -> av.audio.stream.AudioStream | None:
    """The clip's first sound stream that FFmpeg can decode (one of an unknown codec has no codec context and is
    left out, as no sound), or None."""
    return next((s for s in container.streams.audio if s.codec_context is not None), None)


def frame_size(width: int, height: int, max_side: int = 0) -> tuple[int, int]:
    """The (width, height) frames are translated and written at: the long side at most ``max_side`` (0: no limit),
    aspect kept, both even (H.264 in 4:2:0 needs it) and at least 2."""
    scale = min(1.0, max_side / max(width, height)) if max_side else 1.0
    even = lambda v: max(2, int(v * scale) // 2 * 2)  # noqa: E731
    return even(width), even(height)



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
        self.audio, self.resampler, self.sound_cut = None, None, False
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
        if self.audio is None or packet.dts is None or self.sound_cut:  # dts None: a demuxer's flush packet
            return
        if self.resampler is None:
            packet.stream = self.audio
            self.container.mux(packet)
            return
        for frame in packet.decode():
            try:
                resampled = self.resampler.resample(frame)
            except ValueError:  # the sound changed its format, layout or rate mid-clip: it ends there
                self.sound_cut = True
                return
            for chunk in resampled:
                self.container.mux(self.audio.encode(chunk))

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
            audio = first_sound(container)
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
