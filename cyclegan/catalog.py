"""The models a demo offers: discovery (model folders, Hub repo ids, the reference zoo), labels, a load-once cache.

Nothing here knows about the UI: what a user should read is raised as ``CatalogError``, whose message is the
sentence to show (the app turns it into its toast).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import threading
import urllib.parse
import warnings
from dataclasses import dataclass
from pathlib import Path

from .direction import Direction, require
from .errors import CatalogError, DownloadError, ModelNotFoundError
from .model_folder import GENERATOR_FOLDERS, default_direction, is_complete, read_manifest
from .translate import Translator
from .uploads import shared_temp
from .zoo import ZOO, ZOO_URL, fetch as fetch_zoo_model, zoo_folder


@dataclass
class ModelSpec:
    """One entry of the model picker. ``key`` is what the API takes as ``model``."""
    key: str
    label: str
    kind: str  # "local" (a model folder), "hub" (a Hub repo id) or "zoo" (a reference model, downloaded)
    source: str  # folder path, repo id or zoo name
    domain_a: str = "A"
    domain_b: str = "B"
    license: str = ""
    summary: str = ""
    # The generators the model has: (AtoB,) for a one-direction model (no reconstruction), such as the
    # reference's style_* models. A Hub model's are known once it is loaded.
    directions: tuple[Direction, ...] = tuple(Direction)
    # The direction the demo starts on and the API takes unless told: the manifest's default_direction.
    default_direction: Direction = Direction.AtoB


def domains(directions: tuple[Direction, ...], a: str, b: str) -> str:
    """"a ↔ b" for a two-way model; a one-direction one reads the way it translates ("b → a" for G_BA alone)."""
    if len(directions) == 2:
        return f"{a} ↔ {b}"
    return "{} → {}".format(*(directions[0] if directions else Direction.AtoB).ends(a, b))


def local_spec(folder: Path, key: str) -> ModelSpec:
    """The picker entry of a model folder, from its manifest."""
    m = read_manifest(folder)
    directions = tuple(d for d in Direction if d in m["directions"])
    return ModelSpec(key, f"{m['name']} ({domains(directions, m['domain_a'], m['domain_b'])})", "local", str(folder),
                     m["domain_a"], m["domain_b"], m["license"], m["summary"], directions,
                     default_direction(m, directions))


def zoo_downloaded(zoo_dir: str | Path | None, name: str) -> bool:
    """Whether ``cyclegan.zoo.fetch`` has already saved this reference model (so it works offline)."""
    return bool(zoo_dir) and is_complete(zoo_folder(name, zoo_dir))


def zoo_reachable(timeout: float = 2.0) -> bool:
    """Whether the reference models' server resolves within ``timeout`` s: a cheap look at being online.

    Run in a thread because a resolver with no network can hang for many seconds before it fails.
    """
    host = urllib.parse.urlsplit(ZOO_URL).hostname or ""
    result: list[bool] = []

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, None)
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=lookup, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def discover_models(checkpoints: str | Path | None, extra: list[str] = (), zoo: bool = True,
                    zoo_dir: str | Path | None = None, online: bool = True, first: str | None = None,
                    left_out: list[str] | None = None) -> list[ModelSpec]:
    """Shipped model folders (sorted), then ``extra`` (Hub repo ids or folders), then the reference zoo; the
    model whose key is ``first`` (if listed) is moved to the front, as the one the demo opens on.

    A folder of ``checkpoints`` whose card measures it no better than leaving the pictures alone (``model_folder.
    beats_doing_nothing``) is not listed, and its name goes to ``left_out``; naming it in ``extra`` lists it.
    Offline, only the reference models already in ``zoo_dir`` are listed: the others could only fail.
    """
    from .model_folder import beats_doing_nothing
    specs: list[ModelSpec] = []
    if checkpoints and Path(checkpoints).is_dir():
        for folder in sorted(p for p in Path(checkpoints).iterdir() if not p.name.startswith(".")):
            if folder.is_dir() and is_complete(folder):
                if beats_doing_nothing(folder) is False and str(folder) not in extra and folder.name not in extra:
                    if left_out is not None:
                        left_out.append(folder.name)
                    continue
                specs.append(local_spec(folder, folder.name))
    for name in extra:
        if any(s.key == name for s in specs):
            continue
        if Path(name).is_dir():
            specs.append(local_spec(Path(name), name))
        else:
            specs.append(ModelSpec(name, f"{name} (Hugging Face Hub)", "hub", name,
                                   summary=f"Hub model `{name}`, fetched on first use (or read from the local cache)."))
    if zoo:
        for name, (_, file_ba, a, b) in ZOO.items():
            here = zoo_downloaded(zoo_dir, name)
            if not (here or online):
                continue
            directions = tuple(Direction) if file_ba else (Direction.AtoB,)
            # "Reference" first, so that it never reads like the shipped model of the same name (monet2photo).
            size = "~90 MB" if file_ba else "~45 MB"
            label = (f"Reference {name} ({domains(directions, a, b)})" if here
                     else f"Reference {name} (download, {size})")
            specs.append(ModelSpec(f"zoo:{name}", label, "zoo", name, a, b,
                                   "bsd-2-clause",
                                   "The reference implementation's published generators "
                                   "(junyanz/pytorch-CycleGAN-and-pix2pix), downloaded on first use.", directions))
    return sorted(specs, key=lambda s: s.key != first)  # stable: the others keep their order


def model_ids_from_env() -> list[str]:
    """The Hub repo ids (or folders) in CYCLEGAN_MODELS, separated by commas or spaces."""
    return [m for m in re.split(r"[,\s]+", os.environ.get("CYCLEGAN_MODELS", "")) if m]


# What urllib reports when there is no network at all (as opposed to a server that refuses or fails).
OFFLINE_HINTS = ("Name or service not known", "Temporary failure in name resolution", "nodename nor servname",
                 "getaddrinfo failed", "Network is unreachable", "No route to host", "timed out")


def download_failure(spec: ModelSpec, error: Exception) -> str:
    """One line for a model whose download failed, saying plainly when the machine looks offline."""
    reason = str(error)
    if reason.startswith("could not download ") and ": " in reason:  # drop the URL: the user needs the why
        reason = reason.split(": ", 1)[1]
    if any(hint in reason for hint in OFFLINE_HINTS):
        return (f"Could not download the model {spec.source}: this machine looks offline ({reason}). "
                "The models shipped in checkpoints/ work without the network.")
    return f"Could not download the model {spec.source}: {reason}"


class ModelCache:
    """Loads each model once, on first use, and keeps it; concurrent first uses of one model load it once."""

    def __init__(self, specs: list[ModelSpec], zoo_dir: str | Path, device: str = "cpu"):
        self.specs = {s.key: s for s in specs}
        self.zoo_dir, self.device = Path(zoo_dir), device
        self._models: dict[str, Translator] = {}
        self._locks = {key: threading.Lock() for key in self.specs}

    def spec(self, key: str) -> ModelSpec:
        """The model with this key (or, for API callers, this label)."""
        spec = None
        if isinstance(key, str):  # an API caller may send a list or a dict: unknown like any other wrong name
            spec = self.specs.get(key) or next((s for s in self.specs.values() if s.label == key), None)
        if spec is None:
            raise CatalogError(f"Unknown model {key!r}. Available: {', '.join(self.specs)}")
        return spec

    def loaded(self, key: str) -> bool:
        return self.spec(key).key in self._models

    def get(self, key: str, direction: Direction | None = None) -> Translator:
        """The model, loaded (and for the zoo, downloaded) on first use; ``CatalogError`` says why it cannot be.

        With ``direction``, also ``CatalogError`` unless the model has that generator: checked before any
        download where the model's directions are known already, else (a Hub model) once it is loaded.
        """
        spec = self.spec(key)
        key = spec.key
        known = spec.kind != "hub" or key in self._models
        if direction is not None and known:
            check_direction(spec, direction)
        with self._locks[key]:
            if key not in self._models:
                try:
                    source = fetch_zoo_model(spec.source, self.zoo_dir, timeout=10) if spec.kind == "zoo" else spec.source
                    translator = Translator.from_pretrained(source, device=self.device)
                except DownloadError as e:
                    raise CatalogError(download_failure(spec, e)) from None
                except ModelNotFoundError as e:
                    raise CatalogError(f"Could not load model {spec.label}: {e}") from None
                except Exception as e:  # e.g. a corrupted download: say so rather than a bare "Error"
                    first_line = (str(e).splitlines() or [""])[0]
                    # Chained: unlike the cases above, this one is a bug or a broken file, whose traceback helps.
                    raise CatalogError(f"Could not load model {spec.label}: {type(e).__name__}: {first_line}") from e
                m = translator.manifest
                spec.domain_a, spec.domain_b = m.get("domain_a", "A"), m.get("domain_b", "B")
                spec.directions = tuple(d for d in Direction if d in translator.generators)
                spec.default_direction = translator.default_direction
                spec.license, spec.summary = m.get("license", spec.license), m.get("summary") or spec.summary
                self._models[key] = translator
        if direction is not None and not known:
            check_direction(spec, direction)
        return self._models[key]


def direction_choices(spec: ModelSpec) -> list[tuple[str, str]]:
    """Only the directions the model has: a one-direction model offers just its own."""
    return [("{} → {}".format(*d.ends(spec.domain_a, spec.domain_b)), d.value) for d in Direction
            if d in spec.directions]


def model_info(spec: ModelSpec) -> str:
    """The Markdown under the model picker: domains, license, summary."""
    lic = f" · license: {spec.license}" if spec.license else ""
    one_way = "" if len(spec.directions) == 2 else " · one direction only: no reconstruction"
    return f"**{domains(spec.directions, spec.domain_a, spec.domain_b)}**{lic}{one_way}  \n{spec.summary}"


def reconstructed_label(spec: ModelSpec) -> str:
    """The Reconstructed box's label: it says why the box stays empty for a one-direction model."""
    if len(spec.directions) == 2:
        return "Reconstructed"
    back_src, back_dst = spec.directions[0].reverse.ends(spec.domain_a, spec.domain_b)
    return f"Reconstructed: none (this model has no {back_src} → {back_dst} generator)"


def check_direction(spec: ModelSpec, direction: Direction | str) -> Direction:
    """``direction`` as a Direction the model has; ``CatalogError`` (with ``direction.require``'s line) if not."""
    try:
        return require(direction, spec.directions, spec.domain_a, spec.domain_b, spec.label)
    except ValueError as e:
        raise CatalogError(str(e)) from None


def load_examples(folder: str | Path | None, keys: list[str]) -> list[list[str]]:
    """Rows [file, model, direction] from ``folder/examples.json``; entries with a missing file or model are skipped."""
    if not folder or not (Path(folder) / "examples.json").is_file():
        return []
    folder = Path(folder)
    try:
        entries = json.loads((folder / "examples.json").read_text())
    except (OSError, ValueError) as e:
        warnings.warn(f"ignoring {folder / 'examples.json'}: {e}")
        return []
    rows = []
    for entry in entries if isinstance(entries, list) else []:
        try:
            file, model, direction = folder / entry["file"], entry["model"], entry.get("direction", Direction.AtoB)
        except (TypeError, KeyError):
            warnings.warn(f"ignoring example {entry!r}: needs 'file' and 'model'")
            continue
        if not file.is_file() or model not in keys or direction not in [d.value for d in Direction]:
            warnings.warn(f"ignoring example {entry!r}: file missing, model not listed or bad direction")
            continue
        rows.append([str(file), model, Direction(direction).value])
    return rows


# What a cached example holds: the page's outputs (2: with the compare slider's pair). A change makes a new folder.
EXAMPLES_FORMAT = 2


def examples_cache_dir(rows: list[list[str]], specs: list[ModelSpec], max_side: int) -> Path:
    """A cache folder per (examples, model weights, max_side), so a retrained model never shows stale outputs."""
    h = hashlib.sha256(json.dumps([rows, max_side, EXAMPLES_FORMAT]).encode())
    for spec in specs:
        h.update(spec.key.encode())
        for sub in GENERATOR_FOLDERS.values() if spec.kind == "local" else ():
            for f in sorted((Path(spec.source) / sub).glob("*")):
                st = f.stat()
                h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    # Gradio's own setting, read here so that the cache follows wherever the app points Gradio's. By default beside
    # the app's temp folder, not in the project's: a cached example's path reaches the page, and should tell a
    # visitor nothing of where the app is installed.
    root = Path(os.environ.get("GRADIO_EXAMPLES_CACHE") or shared_temp() / "cyclegan-examples")
    return root / f"cyclegan-{h.hexdigest()[:16]}"
