"""Video translation on the CPU: frames per second, and flicker frame by frame against the steady translation.

    python -m benchmarks.video_steady                      # table + benchmarks/results/video_steady.json
    python -m benchmarks.video_steady --docs docs/         # also the side-by-side clip and the strip of frames

Speed: the demo's models' default direction on a generated clip at 256 and 512 px (long side), ONNX
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

from benchmarks.common import RESULTS, ROOT, hardware, markdown_table

from cyclegan import Translator
from cyclegan.config import VideoConfig
from cyclegan.testing import blink_scene, flicker, pan_scene, read_frames, write_video
from cyclegan.video import translate_video

SETTINGS = {
    "frame by frame": VideoConfig.frame_by_frame(),
    "shared statistics": VideoConfig(smoothing=0.0),
    "shared statistics + smoothing (default)": VideoConfig(),
}


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
    from benchmarks.common import labelled_grid, save_picture
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
    speeds = [] if args.no_speed else [speed(m, b, s, args.frames) for m in ("monet2photo", "horse2zebra")
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
              "command": "python -m benchmarks.video_steady" + (f" --frames {args.frames}" if args.frames != 48 else "")}
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
