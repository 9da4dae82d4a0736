"""Fuzz the app's decode paths: hostile pictures and clips, made by mutating real files, each through the path the
served app takes, with its time and peak memory recorded.

    python -m benchmarks.fuzz_uploads --minutes 30                 # half pictures, half clips; ~/runs/fuzz
    python -m benchmarks.fuzz_uploads --minutes 2 --only pictures  # a quick look
    python -m benchmarks.fuzz_uploads --replay ~/runs/fuzz/findings/*.bin

Seeds: pictures in every format the app opens (PNG with EXIF and text, baseline and progressive JPEG, WebP, an
animated GIF, BMP, a TIFF of several pages) and clips in several containers (MP4 with H.264 and AAC, Matroska with
PCM sound, MPEG-TS of several streams, AVI of Motion JPEG). Mutations: bytes flipped, a 2- or 4-byte field set to a
large number (sizes, counts, dimensions), a slice repeated many times (chunks, scans, directories, packets), a
truncation, a splice from another seed, and format-aware ones (a JPEG's last scan repeated, a PNG chunk of many
megabytes, a TIFF's directories chained).

A picture goes through ``Sandbox.decode`` with the app's limits, as an upload does: its wall time, the child's peak
memory and CPU time are recorded. A clip goes through ``video.translate_video`` with the app's video limits and a
tiny model, in a worker process that is replaced when it hangs, with the worker's memory sampled every 20 ms. A
case is a finding when it is not bounded: a picture that takes longer than the sandbox's deadline plus a second, a
clip over ``--clip-seconds`` or ``--clip-mb`` of memory growth, or any error other than the one-line refusals
(BadImage, BadVideo), which the server would log as a traceback. Findings are saved (with what they did) under
OUT/findings/ to be replayed. Prints a Markdown table and writes OUT/fuzz.json.
"""
from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import random
import sys
import threading
import time
import traceback
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.common import ROOT, describe, hardware, markdown_table

from cyclegan.config import UploadLimits

OUT = Path.home() / "runs" / "fuzz"
MAX_CASE_BYTES = 4 * 1024 ** 2


# -- seeds ------------------------------------------------------------------------------------------------------------
def picture_seeds() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    photo = Image.open(ROOT / "examples" / "photo_coffee.jpg").convert("RGB").resize((160, 120))
    noise = Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))

    def save(image: Image.Image, fmt: str, **kw) -> bytes:
        buf = io.BytesIO()
        image.save(buf, fmt, **kw)
        return buf.getvalue()
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "camera"
    frames = [noise.rotate(i * 30) for i in range(4)]
    pages = [noise, photo.resize((64, 48)), noise.convert("L")]
    return {
        "png": save(photo, "PNG", exif=exif), "png-rgba": save(noise.convert("RGBA"), "PNG"),
        "png-16bit": save(Image.fromarray((rng.integers(0, 65535, (32, 48))).astype(np.uint16)), "PNG"),
        "png-palette": save(noise.convert("P"), "PNG", transparency=0),
        "jpeg": save(photo, "JPEG", exif=exif), "jpeg-progressive": save(photo, "JPEG", progressive=True),
        "jpeg-cmyk": save(photo.convert("CMYK"), "JPEG"), "webp": save(photo, "WEBP"),
        "gif": save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0),
        "bmp": save(noise, "BMP"), "tiff": save(pages[0], "TIFF", save_all=True, append_images=pages[1:],
                                                compression="tiff_lzw"),
    }


def clip_seeds(folder: Path) -> dict[str, bytes]:
    import av
    from cyclegan.testing import write_video
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (32, 48, 3), dtype=np.uint8) for _ in range(8)]
    seeds = {"mp4": write_video(folder / "seed.mp4", frames, 8, tone_hz=440).read_bytes()}
    for name, fmt, vcodec, acodec in (("mkv-pcm", "matroska", "libx264", "pcm_s16le"), ("ts", "mpegts", "mpeg2video",
                                                                                        "mp2"),
                                      ("avi-mjpeg", "avi", "mjpeg", None)):
        path = folder / f"seed-{name}"
        with av.open(str(path), "w", format=fmt) as c:
            streams = [c.add_stream(vcodec, rate=8) for _ in range(2 if name == "ts" else 1)]
            for s in streams:
                s.width, s.height = 48, 32
                s.pix_fmt = "yuvj420p" if vcodec == "mjpeg" else "yuv420p"
            sound = c.add_stream(acodec, rate=48000, layout="mono") if acodec else None
            for i, f in enumerate(frames):
                for s in streams:
                    frame = av.VideoFrame.from_ndarray(f, format="rgb24")
                    frame.pts = i
                    c.mux(s.encode(frame))
            for s in streams:
                c.mux(s.encode(None))
            if sound is not None:
                wave = (0.2 * np.sin(np.arange(48000) / 20)).astype(np.float32)[None]
                fmt_ = "s16" if acodec == "pcm_s16le" else "s16p" if acodec == "mp2" else "fltp"
                samples = (wave * 30000).astype(np.int16) if fmt_.startswith("s16") else wave
                step = 1152 if acodec == "mp2" else 1024
                for start in range(0, samples.shape[1] - step, step):
                    chunk = av.AudioFrame.from_ndarray(samples[:, start:start + step], format=fmt_, layout="mono")
                    chunk.sample_rate, chunk.pts = 48000, start
                    c.mux(sound.encode(chunk))
                c.mux(sound.encode(None))
        seeds[name] = path.read_bytes()
    return seeds


# -- mutations --------------------------------------------------------------------------------------------------------
def flip(data: bytes, rng: random.Random, seeds: list[bytes]) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 20)):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def big_field(data: bytes, rng: random.Random, seeds: list[bytes]) -> bytes:
    out = bytearray(data)
    width = rng.choice((2, 4))
    at = rng.randrange(max(1, len(out) - width))
    value = rng.choice((0xFFFF, 0x7FFF, 0x3FFF, 0x7FFFFFFF, 0xFFFFFFFF, 0x10000, 13000))
    value &= (1 << (8 * width)) - 1
    out[at:at + width] = value.to_bytes(width, rng.choice(("big", "little")))
    return bytes(out)


def times(rng: random.Random, most: int, piece: int) -> int:
    """How many times to repeat a piece: up to ``most``, and never past the largest case (made before it is cut)."""
    return rng.randint(1, max(1, min(most, MAX_CASE_BYTES // max(1, piece))))


def repeat_slice(data: bytes, rng: random.Random, seeds: list[bytes]) -> bytes:
    start = rng.randrange(len(data))
    piece = data[start:start + rng.randint(4, 4096)]
    return data[:start] + piece * times(rng, 20000, len(piece)) + data[start:]


def truncate(data: bytes, rng: random.Random, seeds: list[bytes]) -> bytes:
    return data[:rng.randrange(1, len(data))] if len(data) > 1 else data


def splice(data: bytes, rng: random.Random, seeds: list[bytes]) -> bytes:
    other = rng.choice(seeds)
    at, start = rng.randrange(len(data)), rng.randrange(len(other))
    return data[:at] + other[start:start + rng.randint(16, 8192)] + data[at:]


def format_aware(data: bytes, rng: random.Random, seeds: list[bytes]) -> bytes:
    """A JPEG's last scan repeated, a big chunk before a PNG's image data, a TIFF's first directory chained many
    times; any other file: a slice repeated."""
    if data[:2] == b"\xff\xd8" and b"\xff\xda" in data:
        last = data.rfind(b"\xff\xda")
        return data[:-2] + data[last:-2] * times(rng, 2000, len(data) - last) + b"\xff\xd9"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        import struct
        import zlib
        kind = rng.choice((b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"iCCP"))
        body = b"k\x00" + b"\x00" + zeros_compressed(rng.choice((1, 16, 64))) if kind in (
            b"zTXt", b"iCCP") else b"k\x00" + bytes(rng.randint(1, 3) * 1024 ** 2)
        chunk = struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        at = data.find(b"IDAT") - 4
        return data[:at] + chunk * rng.randint(1, 3) + data[at:]
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return data + data[8:] * times(rng, 200, len(data))
    return repeat_slice(data, rng, seeds)


_ZEROS: dict[int, bytes] = {}


def zeros_compressed(megabytes: int) -> bytes:
    """``megabytes`` MB of zeros, deflated (a few kB that inflate to a lot), made once."""
    import zlib
    if megabytes not in _ZEROS:
        _ZEROS[megabytes] = zlib.compress(bytes(megabytes * 1024 ** 2), 9)
    return _ZEROS[megabytes]


MUTATORS = {f.__name__: f for f in (flip, big_field, repeat_slice, truncate, splice, format_aware)}


def png_crcs_fixed(data: bytes) -> bytes:
    """A PNG's chunks with their checksums recomputed, so that a mutation reaches the decoder past Pillow's CRC
    check (chunks whose length runs past the end are left as they are)."""
    import struct
    import zlib
    out, at = bytearray(data[:8]), 8
    while at + 12 <= len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        end = at + 12 + length
        if end > len(data):
            break
        kind_body = data[at + 4:at + 8 + length]
        out += data[at:at + 8 + length] + struct.pack(">I", zlib.crc32(kind_body))
        at = end
    return bytes(out + data[at:])


def mutate(data: bytes, rng: random.Random, seeds: list[bytes]) -> tuple[bytes, str]:
    names = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        name = rng.choice(list(MUTATORS))
        data = MUTATORS[name](data, rng, seeds)[:MAX_CASE_BYTES] or data[:1]
        names.append(name)
    if data[:8] == b"\x89PNG\r\n\x1a\n" and rng.random() < 0.7:
        data, names = png_crcs_fixed(data), names + ["crc"]
    return data, "+".join(names)


# -- running a case ---------------------------------------------------------------------------------------------------
def run_picture(sandbox, data: bytes, limits: UploadLimits) -> dict:
    from cyclegan.errors import BadImage
    start = time.perf_counter()
    try:
        sandbox.decode(data, **limits.decode())
        outcome = "decoded"
    except BadImage as e:
        outcome = f"refused: {str(e)[:60]}"
    except Exception as e:  # not a one-line refusal: the server would log a traceback
        outcome = f"ERROR {type(e).__name__}: {e}"
    return {"seconds": time.perf_counter() - start, "peak_mb": sandbox.last_cost.get("peak_mb", 0.0),
            "cpu_s": sandbox.last_cost.get("cpu_s", 0.0), "outcome": outcome}


def clip_worker(conn, folder: str) -> None:
    """A worker process: clips in, (seconds, memory growth, outcome) out; translate_video as the app calls it."""
    import resource  # noqa: F401
    import torch
    torch.set_num_threads(1)
    from cyclegan.testing import make_tiny_model
    from cyclegan import Translator
    from cyclegan.config import VideoConfig
    from cyclegan.errors import BadVideo
    from cyclegan.video import translate_video
    translator = Translator.from_pretrained(make_tiny_model(Path(folder) / "tiny"), backend="eager", threads=1)
    limits = UploadLimits()
    config = VideoConfig(**limits.video())

    def rss() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 1024 ** 2
    while True:
        try:
            path = conn.recv()
        except EOFError:
            return
        base, peak, running = rss(), [0.0], [True]

        def sample():
            while running[0]:
                peak[0] = max(peak[0], rss())
                time.sleep(0.02)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.perf_counter()
        try:
            info = translate_video(translator, path, Path(folder) / "out.mp4", config=config, progress=False)
            outcome = f"translated: {info.frames} frames"
        except BadVideo as e:
            outcome = f"refused: {str(e)[:60]}"
        except Exception as e:
            outcome = f"ERROR {type(e).__name__}: {e} {traceback.format_exc(limit=3)[-300:]}"
        seconds = time.perf_counter() - start
        running[0] = False
        sampler.join()
        conn.send({"seconds": seconds, "growth_mb": max(0.0, max(peak[0], rss()) - base), "outcome": outcome})


class ClipRunner:
    """The clip worker, replaced when a case hangs past ``timeout`` (a finding in itself)."""

    def __init__(self, folder: Path, timeout: float):
        self.folder, self.timeout, self.proc, self.conn = folder, timeout, None, None

    def run(self, data: bytes) -> dict:
        if self.proc is None or not self.proc.is_alive():
            ctx = multiprocessing.get_context("spawn")
            self.conn, child = ctx.Pipe()
            self.proc = ctx.Process(target=clip_worker, args=(child, str(self.folder)), daemon=True)
            self.proc.start()
        path = self.folder / "case.bin"
        path.write_bytes(data)
        self.conn.send(str(path))
        if self.conn.poll(self.timeout + 60):  # the first case waits for torch to import too
            return self.conn.recv()
        self.proc.kill()
        self.proc.join()
        return {"seconds": self.timeout + 60, "growth_mb": 0.0, "outcome": "ERROR hung: no answer, worker killed"}

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.join()


def finding(kind: str, result: dict, limits: UploadLimits, args) -> str | None:
    """Why a case is not bounded, or None."""
    if result["outcome"].startswith("ERROR"):
        return "an error other than a one-line refusal"
    if kind == "picture" and result["seconds"] > limits.decode_seconds + 1:
        return f"{result['seconds']:.1f} s, over the sandbox's {limits.decode_seconds:g} s"
    if kind == "clip" and result["seconds"] > args.clip_seconds:
        return f"{result['seconds']:.1f} s, over {args.clip_seconds:g} s"
    if kind == "clip" and result["growth_mb"] > args.clip_mb:
        return f"+{result['growth_mb']:.0f} MB, over {args.clip_mb:g} MB"
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("--minutes", type=float, default=30.0, help="how long to fuzz, in all")
    p.add_argument("--only", choices=("pictures", "clips"), help="fuzz one kind (default: half the time each)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--clip-seconds", type=float, default=60.0, help="a clip that takes longer is a finding")
    p.add_argument("--clip-mb", type=float, default=400.0, help="a clip that grows memory more is a finding")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--replay", type=Path, nargs="*", help="run these saved cases again (pictures: .png.bin ...)")
    args = p.parse_args(argv)
    from cyclegan.sandbox import Sandbox
    limits = UploadLimits()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "findings").mkdir(exist_ok=True)
    work = args.out / "work"
    work.mkdir(exist_ok=True)
    sandbox = Sandbox(limits.decode_memory_bytes, limits.decode_seconds)
    clips = ClipRunner(work, args.clip_seconds)
    pictures = picture_seeds()
    videos = clip_seeds(work)
    rng = random.Random(args.seed)
    kinds = [k for k in ("pictures", "clips") if args.only in (None, k)]
    results, findings = [], []
    try:
        if args.replay:
            for path in args.replay:
                kind = "clip" if ".clip." in path.name else "picture"
                data = path.read_bytes()
                result = run_picture(sandbox, data, limits) if kind == "picture" else clips.run(data)
                print(path.name, result, finding(kind, result, limits, args))
            return 0
        for kind in kinds:
            seeds = pictures if kind == "pictures" else videos
            until = time.monotonic() + 60 * args.minutes / len(kinds)
            while time.monotonic() < until:
                seed_name = rng.choice(list(seeds))
                data, how = mutate(seeds[seed_name], rng, list(seeds.values()))
                one = kind[:-1]
                result = run_picture(sandbox, data, limits) if one == "picture" else clips.run(data)
                result.update(kind=one, seed=seed_name, mutation=how, bytes=len(data))
                results.append(result)
                why = finding(one, result, limits, args)
                if why:
                    name = f"{len(findings):03d}-{seed_name}.{one}.bin"
                    (args.out / "findings" / name).write_bytes(data)
                    findings.append({**result, "why": why, "file": name})
                    print(f"FINDING {name}: {why} ({result['outcome'][:100]})", flush=True)
    finally:
        sandbox.close()
        clips.close()
    rows = []
    for one in ("picture", "clip"):
        rs = [r for r in results if r["kind"] == one]
        if not rs:
            continue
        for seed_name in sorted({r["seed"] for r in rs}):
            group = [r for r in rs if r["seed"] == seed_name]
            rows.append({
                "kind": one, "seed": seed_name, "cases": len(group),
                "decoded": sum(not r["outcome"].startswith(("refused", "ERROR")) for r in group),
                "refused": sum(r["outcome"].startswith("refused") for r in group),
                "max_s": round(max(r["seconds"] for r in group), 2),
                "max_mb": round(max(r.get("peak_mb", r.get("growth_mb", 0.0)) for r in group)),
                "findings": sum(1 for f in findings if f["seed"] == seed_name and f["kind"] == one)})
    summary = {"minutes": args.minutes, "seed": args.seed, "cases": len(results), "findings": findings,
               "rows": rows, "hardware": hardware(),
               "command": f"python -m benchmarks.fuzz_uploads --minutes {args.minutes:g} --seed {args.seed}"
                          + (f" --only {args.only}" if args.only else "")}
    (args.out / "fuzz.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"Hardware: {describe(summary['hardware'])}\n")
    print(markdown_table(rows, [("kind", "kind"), ("seed", "seed file"), ("cases", "cases"), ("decoded", "decoded"),
                                ("refused", "refused in one line"), ("max_s", "slowest (s)"),
                                ("max_mb", "most memory (MB: a picture's child at its peak, a clip's growth)"),
                                ("findings", "findings")]))
    print(f"\n{len(results)} cases in {args.minutes:g} min, {len(findings)} findings; wrote {args.out / 'fuzz.json'}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
