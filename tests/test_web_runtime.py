"""Tests for cyclegan/web_runtime.py: the shipped runtime, rebuilt from its npm package (with a stand-in npm)."""
from __future__ import annotations

import gzip
import io
import json
import tarfile

from cyclegan import web_runtime


def test_refresh_runtime_rebuilds_the_vendor_folder_from_the_npm_package(tmp_path):
    """A stand-in `npm pack` writes the package's tarball as the registry's would (the real step needs the npm
    registry: python -m cyclegan.web_runtime)."""
    wasm = gzip.decompress((web_runtime.VENDOR / "ort-wasm-simd-threaded.wasm.gz").read_bytes())
    files = {"package/package.json": json.dumps({"name": "onnxruntime-web", "license": "MIT"}).encode(),
             "package/dist/ort-wasm-simd-threaded.wasm": wasm,
             **{f"package/dist/{n}": (web_runtime.VENDOR / n).read_bytes() for n in web_runtime.ORT_FILES if not n.endswith(".wasm")}}
    tarball = tmp_path / "pkg.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    npm = tmp_path / "npm"
    npm.write_text(f"#!/bin/sh\n[ \"$1\" = pack ] && [ \"$2\" = onnxruntime-web@{web_runtime.ORT_VERSION} ] && "
                   f"cp {tarball} onnxruntime-web-{web_runtime.ORT_VERSION}.tgz\n")
    npm.chmod(0o755)
    written = web_runtime.refresh_runtime(tmp_path / "vendor", npm=str(npm))
    assert {p.name for p in written} == {"ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs",
                                         "ort-wasm-simd-threaded.wasm.gz", "VERSION"}
    for path in written:  # the same files as the committed ones
        assert path.read_bytes() == (web_runtime.VENDOR / path.name).read_bytes(), path.name
