"""Tests for cyclegan/runtime.py: the shipped runtime, rebuilt from its npm packages (with a stand-in npm)."""
from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from cyclegan import runtime

VENDOR = runtime.VENDOR


def tarball(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def stand_in_npm(tmp_path: Path, ort_license: str = "MIT") -> Path:
    """`npm pack NAME@VERSION` as the registry answers it, for the two pinned packages (their shipped files)."""
    shipped = {n: (gzip.decompress((VENDOR / f"{n}.gz").read_bytes()) if n.endswith(".wasm") else (VENDOR / n).read_bytes())
               for n in runtime.ORT_FILES}
    shipped |= {n: (gzip.decompress((VENDOR / "webgpu" / f"{n}.gz").read_bytes()) if n.endswith(".wasm")
                    else (VENDOR / "webgpu" / n).read_bytes()) for n in runtime.WEBGPU_FILES}
    ort = tarball(tmp_path / "ort.tgz", {
        "package/package.json": json.dumps({"name": "onnxruntime-web", "license": ort_license}).encode(),
        **{f"package/dist/{n}": data for n, data in shipped.items()}})
    coi = tarball(tmp_path / "coi.tgz", {
        "package/package.json": json.dumps({"name": "coi-serviceworker", "license": "MIT"}).encode(),
        f"package/{runtime.COI_FILE}": (VENDOR / runtime.COI_FILE).read_bytes(),
        "package/LICENSE": (VENDOR / "LICENSE-coi-serviceworker.txt").read_bytes()})
    npm = tmp_path / "npm"
    npm.write_text("#!/bin/sh\n[ \"$1\" = pack ] || exit 1\n"
                   f"[ \"$2\" = onnxruntime-web@{runtime.ORT_VERSION} ] && cp {ort} ort.tgz && exit 0\n"
                   f"[ \"$2\" = coi-serviceworker@{runtime.COI_VERSION} ] && cp {coi} coi.tgz && exit 0\n"
                   "exit 1\n")
    npm.chmod(0o755)
    return npm


def test_refresh_runtime_rebuilds_the_vendor_folder_from_the_npm_packages(tmp_path):
    """The real step needs npm's registry: python -m cyclegan.runtime."""
    written = runtime.refresh_runtime(tmp_path / "vendor", npm=str(stand_in_npm(tmp_path)))
    names = {p.relative_to(tmp_path / "vendor").as_posix() for p in written}
    assert names == {"ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm.gz",
                     "webgpu/ort.webgpu.min.mjs", "webgpu/ort-wasm-simd-threaded.asyncify.mjs",
                     "webgpu/ort-wasm-simd-threaded.asyncify.wasm.gz", runtime.COI_FILE,
                     "LICENSE-coi-serviceworker.txt", "VERSION"}
    for name in names:  # the same files as the committed ones
        assert (tmp_path / "vendor" / name).read_bytes() == (VENDOR / name).read_bytes(), name


def test_a_package_that_is_not_mit_stops_the_refresh(tmp_path):
    with pytest.raises(RuntimeError, match="says license 'GPL-3.0'; check it before shipping"):
        runtime.refresh_runtime(tmp_path / "vendor", npm=str(stand_in_npm(tmp_path, "GPL-3.0")))
