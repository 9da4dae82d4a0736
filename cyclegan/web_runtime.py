"""The browser's runtime: onnxruntime-web's WebAssembly build, shipped in ``cyclegan/webapp/vendor/`` (its WASM file
gzipped) and rebuilt from the npm package at a pinned version.

    python -m cyclegan.web_runtime                 # refresh cyclegan/webapp/vendor from npm (onnxruntime-web@1.30.0)
"""
from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

WEBAPP = Path(__file__).resolve().parent / "webapp"
VENDOR = WEBAPP / "vendor"
ORT_PACKAGE, ORT_VERSION = "onnxruntime-web", "1.30.0"
# What the page loads from the npm package's dist/: the WebAssembly-only API and its threaded SIMD runtime.
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")


def runtime_files(dest: str | Path) -> list[Path]:
    """Write the runtime into ``dest``: the page's files as they are, the WASM file both plain and gzipped (a host
    that serves precompressed files sends the .gz), and the license; returns the files."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name in ORT_FILES:
        gz = VENDOR / f"{name}.gz"
        if gz.is_file():
            (dest / name).write_bytes(gzip.decompress(gz.read_bytes()))
            shutil.copyfile(gz, dest / gz.name)
            written += [dest / name, dest / gz.name]
        else:
            shutil.copyfile(VENDOR / name, dest / name)
            written.append(dest / name)
    for extra in ("LICENSE-onnxruntime-web.txt", "VERSION"):
        shutil.copyfile(VENDOR / extra, dest / extra)
        written.append(dest / extra)
    return written


def refresh_runtime(dest: str | Path = VENDOR, version: str = ORT_VERSION, npm: str = "npm") -> list[Path]:
    """Rebuild the vendor folder from the npm package ``onnxruntime-web@version`` (``npm pack``: the registry's
    tarball, no install): the page's files, the WASM one gzipped, the version. Needs npm and its registry."""
    dest = Path(dest)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([npm, "pack", f"{ORT_PACKAGE}@{version}", "--silent"], cwd=tmp, check=True,
                       capture_output=True, timeout=300)
        (tarball,) = Path(tmp).glob("*.tgz")
        with tarfile.open(tarball) as tar:
            tar.extractall(tmp, filter="data")
        dist = Path(tmp) / "package" / "dist"
        dest.mkdir(parents=True, exist_ok=True)
        out = []
        for name in ORT_FILES:
            data = (dist / name).read_bytes()
            if name.endswith(".wasm"):  # 14 MB raw, 3.7 MB gzipped: the repository keeps the gzip
                path = dest / f"{name}.gz"
                path.write_bytes(gzip.compress(data, 9, mtime=0))
            else:
                path = dest / name
                path.write_bytes(data)
            out.append(path)
        license_field = json.loads((Path(tmp) / "package" / "package.json").read_text()).get("license")
    if license_field != "MIT":
        raise RuntimeError(f"{ORT_PACKAGE}@{version} says license {license_field!r}; check it before shipping")
    (dest / "VERSION").write_text(f"{ORT_PACKAGE}@{version}\n")
    return out + [dest / "VERSION"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cyclegan.web_runtime",
                                description=f"Rebuild the shipped runtime from npm ({ORT_PACKAGE}@{ORT_VERSION}).")
    p.add_argument("dest", nargs="?", default=str(VENDOR), help="the folder to write")
    args = p.parse_args(argv)
    try:
        for path in refresh_runtime(args.dest):
            print(f"wrote {path}")
    except (OSError, subprocess.SubprocessError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
