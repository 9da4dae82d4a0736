"""Video translation on the CPU: frames per second, and flicker frame by frame against the steady translation.

    python benchmarks/video_steady.py                      # table + benchmarks/results/video_steady.json
    python benchmarks/video_steady.py --docs docs/         # also the side-by-side clip and the strip of frames

Speed: the shipped models' photo -> target direction on a generated clip at 256 and 512 px (long side), ONNX
Runtime and eager PyTorch, steady, all cores (run it on an otherwise idle machine).

Flicker: the mean absolute change of the output from frame to frame in the static region of the scene, beside the
input's change there (its camera noise), for three settings: frame by frame (the reference's way), shared
statistics only, and shared statistics + smoothing (the default). Two scenes, both made here from the example
photos: ``blink`` (a still photo with camera noise, a blinking light and a passing car; its static region is known)
and ``pan`` (a slow pan across a photo with camera noise; static pixels are found from the input). ``followed`` is
the output's change where the scene moves, as a fraction of the frame-by-frame output's change there: near 1, the
steady output still follows what moves.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from common import RESULTS, ROOT, hardware, markdown_table

from cyclegan import Translator
from cyclegan.config import VideoConfig
from cyclegan.video import flicker, read_frames, translate_video, write_video

SETTINGS = {
    "frame by frame": VideoConfig.frame_by_frame(),
    "shared statistics": VideoConfig(smoothing=0.0),
    "shared statistics + smoothing (default)": VideoConfig(),
}


def blink_scene(photo: Path, size: tuple[int, int] = (256, 192), frames: int = 48, noise: float = 3.0,
                seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """A still photo with camera noise (gaussian, ``noise`` levels), a light blinking red / green every 4 frames
    and a dark car passing left to right; returns the frames and the static region's mask (away from both)."""
    w, h = size
    base = np.asarray(Image.open(photo).convert("RGB").resize(size, Image.Resampling.LANCZOS), np.float32)
    rng = np.random.default_rng(seed)
    light = (slice(h // 8, h // 8 + h // 10), slice(w // 10, w // 10 + h // 10))
    car_y, car_h, car_w = slice(h * 5 // 8, h * 5 // 8 + h // 8), h // 8, w // 5
    out = []
    for t in range(frames):
        f = base + rng.normal(0, noise, base.shape)
        f[light] = (255, 60, 40) if (t // 4) % 2 else (40, 220, 80)
        x = round(t * (w - car_w) / max(1, frames - 1))
        f[car_y, x:x + car_w] = (40, 40, 60)
        out.append(np.clip(np.round(f), 0, 255).astype(np.uint8))
    moving = np.zeros((h, w), bool)
    pad = 12  # the generator's receptive field spreads a change a few pixels around
    moving[max(0, light[0].start - pad):light[0].stop + pad, max(0, light[1].start - pad):light[1].stop + pad] = True
    moving[max(0, car_y.start - pad):car_y.stop + pad, :] = True
    return out, ~moving


def pan_scene(photo: Path, size: tuple[int, int] = (256, 192), frames: int = 48, noise: float = 3.0,
              seed: int = 0) -> list[np.ndarray]:
    """A slow pan (a pixel every other frame) across a photo, with camera noise."""
    w, h = size
    wide = np.asarray(Image.open(photo).convert("RGB").resize((w + frames // 2 + 1, h), Image.Resampling.LANCZOS),
                      np.float32)
    rng = np.random.default_rng(seed)
    return [np.clip(np.round(wide[:, t // 2:t // 2 + w] + rng.normal(0, noise, (h, w, 3))), 0, 255).astype(np.uint8)
            for t in range(frames)]


def measure_flicker(translator: Translator, clip: Path, work: Path, static: np.ndarray | None) -> list[dict]:
    rows, base = [], None
    for name, config in SETTINGS.items():
        out = work / f"{clip.stem}-{name.split()[0]}-{len(rows)}.mp4"
        translate_video(translator, clip, out, config=config, progress=False)
        f = flicker(clip, out, static, None if static is None else ~static)
        base = base or f
        rows.append({"setting": name, "static_output": round(f["static_output"], 3),
                     "static_input": round(f["static_input"], 3),
                     "vs_frame_by_frame": round(f["static_output"] / base["static_output"], 3),
                     "followed": round(f["moving_output"] / base["moving_output"], 3), "file": str(out)})
    return rows


def speed(model: str, backend: str, side: int, frames: int = 48) -> dict:
    translator = Translator.from_pretrained(ROOT / "checkpoints" / model, backend=backend)
    with tempfile.TemporaryDirectory() as tmp:
        photo = ROOT / "examples" / "photo_coffee.jpg"
        clip = write_video(Path(tmp) / "clip.mp4", pan_scene(photo, (side, side * 3 // 4), frames), 24)
        translate_video(translator, clip, Path(tmp) / "warm.mp4", progress=False)  # export, first-run costs
        t0 = time.perf_counter()
        translate_video(translator, clip, Path(tmp) / "out.mp4", progress=False)
        seconds = time.perf_counter() - t0
    return {"model": model, "backend": translator.backend, "size": f"{side}x{side * 3 // 4}",
            "native_size": translator.native_size, "fps": round(frames / seconds, 2)}


def strip(clips: list[tuple[str, Path]], picks: list[int], path: Path, height: int = 120) -> None:
    """One row per clip, the frames ``picks`` side by side, labelled on the left."""
    from common import labelled_grid, save_picture
    rows = []
    for label, clip in clips:
        frames = [f for i, f in enumerate(read_frames(clip)) if i in picks]
        rows.append((label, [Image.fromarray(f).resize((height * f.shape[1] // f.shape[0], height)) for f in frames]))
    save_picture(labelled_grid(rows, height, label_w=150, width=height * 4 // 3), path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("--frames", type=int, default=48, help="frames of each generated clip")
    p.add_argument("--out", type=Path, default=RESULTS / "video_steady.json")
    p.add_argument("--docs", type=Path, help="also write the side-by-side clip and the strip of frames here")
    p.add_argument("--no-speed", action="store_true", help="flicker only")
    args = p.parse_args(argv)
    speeds = [] if args.no_speed else [speed(m, b, s, args.frames) for m in ("monet2photo", "emoji")
                                       for b in ("onnx", "eager") for s in (256, 512)]
    translator = Translator.from_pretrained(ROOT / "checkpoints" / "monet2photo")
    work = Path(tempfile.mkdtemp(prefix="video-steady-"))
    photo = ROOT / "examples" / "photo_coffee.jpg"
    frames, static = blink_scene(photo, frames=args.frames)
    blink = write_video(work / "blink.mp4", frames, 24, crf=4)  # near-lossless: the camera noise survives
    pan = write_video(work / "pan.mp4", pan_scene(ROOT / "examples" / "photo_rocket.jpg", frames=args.frames), 24,
                      crf=4)
    flick = {"blink": measure_flicker(translator, blink, work, static), "pan": measure_flicker(translator, pan, work, None)}
    result = {"hardware": hardware(), "speed": speeds, "flicker": flick, "frames": args.frames,
              "command": "python benchmarks/video_steady.py" + (f" --frames {args.frames}" if args.frames != 48 else "")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    if speeds:
        print(markdown_table(speeds, [("model", "model"), ("backend", "backend"), ("size", "frame size"),
                                      ("native_size", "native scale"), ("fps", "frames/s")]))
        print()
    for scene, rows in flick.items():
        print(f"{scene}:")
        print(markdown_table(rows, [("setting", "setting"), ("static_output", "output change, static (levels)"),
                                    ("static_input", "input change, static"), ("vs_frame_by_frame", "× frame by frame"),
                                    ("followed", "moving: × frame by frame")]))
        print()
    if args.docs:
        args.docs.mkdir(parents=True, exist_ok=True)
        by_frame, steady = flick["blink"][0]["file"], flick["blink"][-1]["file"]
        pairs = (Image.fromarray(np.concatenate([a, b, c], 1)) for a, b, c in
                 zip(read_frames(blink), read_frames(by_frame), read_frames(steady)))
        write_video(args.docs / "video_steady.mp4", pairs, 24, crf=26)
        strip([("input", blink), ("frame by frame", Path(by_frame)), ("steady", Path(steady))],
              list(range(8, 16)), args.docs / "video_steady_frames.jpg")
        print(f"wrote {args.docs / 'video_steady.mp4'} and {args.docs / 'video_steady_frames.jpg'}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
