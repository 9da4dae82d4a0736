"""The browser's runtime, shipped in ``cyclegan/webapp/vendor/`` and rebuilt from npm at pinned versions:
onnxruntime-web's WebAssembly build (its WASM file gzipped), its WebGPU build for the camera (``webgpu/``), and
coi-serviceworker, which gives a page threads on a host that cannot send the cross-origin isolation headers (it adds
them from a service worker).

    python -m cyclegan.runtime                 # refresh cyclegan/webapp/vendor from npm
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

from .config import program

WEBAPP = Path(__file__).resolve().parent / "webapp"
VENDOR = WEBAPP / "vendor"
ORT_PACKAGE, ORT_VERSION = "onnxruntime-web", "1.30.0"
# What the page loads from the npm package's dist/: the WebAssembly-only API and its threaded SIMD runtime.
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
# The WebGPU build the camera uses where the browser has an adapter: 27 MB of WebAssembly, shipped only gzipped
# (6.6 MB) and gunzipped by the page itself (DecompressionStream), so any static host serves it as it is.
WEBGPU = VENDOR / "webgpu"
WEBGPU_FILES = ("ort.webgpu.min.mjs", "ort-wasm-simd-threaded.asyncify.mjs", "ort-wasm-simd-threaded.asyncify.wasm")
COI_PACKAGE, COI_VERSION = "coi-serviceworker", "0.1.7"
COI_FILE = "coi-serviceworker.min.js"  # a site serves it from its root: a service worker controls its own folder down


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
    for extra in ("LICENSE-onnxruntime-web.txt", "LICENSE-coi-serviceworker.txt", "VERSION"):
        shutil.copyfile(VENDOR / extra, dest / extra)
        written.append(dest / extra)
    (dest / "webgpu").mkdir(exist_ok=True)
    for name in webgpu_names():  # as they are: the page gunzips the WebAssembly itself
        shutil.copyfile(WEBGPU / name, dest / "webgpu" / name)
        written.append(dest / "webgpu" / name)
    return written


def webgpu_names() -> list[str]:
    """The WebGPU build's files as shipped: its WASM file gzipped."""
    return [f"{name}.gz" if name.endswith(".wasm") else name for name in WEBGPU_FILES]


def npm_package(package: str, version: str, tmp: Path, npm: str = "npm") -> Path:
    """``npm pack package@version`` (the registry's tarball, no install) unpacked in ``tmp``; its folder. A package
    whose license is not MIT stops the refresh: it must be checked before it ships."""
    out = tmp / package
    out.mkdir()
    subprocess.run([npm, "pack", f"{package}@{version}", "--silent"], cwd=out, check=True, capture_output=True,
                   timeout=300)
    (tarball,) = out.glob("*.tgz")
    with tarfile.open(tarball) as tar:
        tar.extractall(out, filter="data")
    license_field = json.loads((out / "package" / "package.json").read_text()).get("license")
    if license_field != "MIT":
        raise RuntimeError(f"{package}@{version} says license {license_field!r}; check it before shipping")
    return out / "package"


def refresh_runtime(dest: str | Path = VENDOR, version: str = ORT_VERSION, npm: str = "npm") -> list[Path]:
    """Rebuild the vendor folder from the npm packages (onnxruntime-web at ``version``, coi-serviceworker at
    ``COI_VERSION``): the page's files, the WASM one gzipped, coi-serviceworker's license, the versions. Needs npm's
    registry."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        ort = npm_package(ORT_PACKAGE, version, Path(tmp), npm)
        (dest / "webgpu").mkdir(exist_ok=True)
        for name, folder in [(n, dest) for n in ORT_FILES] + [(n, dest / "webgpu") for n in WEBGPU_FILES]:
            data = (ort / "dist" / name).read_bytes()
            if name.endswith(".wasm"):  # 14 MB raw, 3.7 MB gzipped (WebGPU's: 27, 6.6): the repository keeps the gzip
                path = folder / f"{name}.gz"
                path.write_bytes(gzip.compress(data, 9, mtime=0))
            else:
                path = folder / name
                path.write_bytes(data)
            out.append(path)
        coi = npm_package(COI_PACKAGE, COI_VERSION, Path(tmp), npm)  # (onnxruntime-web ships no license file: the
        shutil.copyfile(coi / COI_FILE, dest / COI_FILE)             # folder's LICENSE-onnxruntime-web.txt says it)
        shutil.copyfile(coi / "LICENSE", dest / "LICENSE-coi-serviceworker.txt")
        out += [dest / COI_FILE, dest / "LICENSE-coi-serviceworker.txt"]
    (dest / "VERSION").write_text(f"{ORT_PACKAGE}@{version}\n{COI_PACKAGE}@{COI_VERSION}\n")
    return out + [dest / "VERSION"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=program("python -m cyclegan.runtime"), description="Rebuild the shipped runtime from "
                                f"npm ({ORT_PACKAGE}@{ORT_VERSION}, {COI_PACKAGE}@{COI_VERSION}).")
    p.add_argument("dest", nargs="?", default=None, help="the folder to write (default: the package's vendor folder)")
    args = p.parse_args(argv)
    try:
        written = refresh_runtime(args.dest or VENDOR)
        for path in written:
            print(f"wrote {path}")
    except (OSError, subprocess.SubprocessError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
