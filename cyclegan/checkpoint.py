"""The training checkpoint file: written atomically beside the previous one, read back with a clear error.

A run's OUT/ holds ``checkpoint.pt`` (the newest) and ``checkpoint.prev.pt`` (the one before). A crash or a
``kill -9`` mid-write leaves at worst a stray temporary file; a file damaged later (a full disk, a copy cut
short) is reported in one line that names the previous checkpoint to resume from instead.

``--resume`` takes where to resume from: ``auto`` (OUT/checkpoint.pt), a checkpoint file, a run folder, or a
Hub repo id whose root holds ``checkpoint.pt`` (pushed there by ``--push-checkpoints``).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from .errors import CheckpointError

NAME = "checkpoint.pt"
PREVIOUS = "checkpoint.prev.pt"


def save(state: dict, out: str | Path) -> Path:
    """Write ``state`` to OUT/checkpoint.pt, keeping the one it replaces as OUT/checkpoint.prev.pt."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path, tmp = out / NAME, out / (NAME + ".tmp")
    torch.save(state, tmp)
    if path.exists():
        os.replace(path, out / PREVIOUS)
    os.replace(tmp, path)
    return path


def load(path: str | Path) -> dict:
    """The state saved by ``save``; ``CheckpointError`` if the file is missing, truncated or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"--resume: no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or "nets" not in state:
            raise ValueError("not a training checkpoint")
    except Exception as e:  # noqa: BLE001 - damaged bytes fail in many ways (zip, pickle, EOF, ...): all mean corrupt
        previous = path.with_name(PREVIOUS)
        hint = (f"; the previous checkpoint is kept beside it: resume from that one with --resume {previous}"
                if previous.is_file() and previous != path else "")
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        if reason.startswith("Weights only load failed"):  # torch's wording for bytes that do not unpickle
            reason = "not a PyTorch checkpoint"
        raise CheckpointError(f"{path} is truncated or corrupt ({reason[:120]}){hint}") from None
    return state


def locate(resume: str, out: str | Path, *, token: str | None = None) -> Path:
    """The checkpoint file that ``--resume FROM`` names (downloading it from the Hub when FROM is a repo id)."""
    if resume == "auto":
        return Path(out) / NAME
    path = Path(resume).expanduser()
    if path.is_dir():
        return path / NAME
    from .hub import REPO_ID, download_checkpoint
    is_repo_id = "/" in resume and REPO_ID.match(resume) and not resume.startswith(".")
    if path.exists() or not is_repo_id or resume.endswith(".pt"):
        return path  # a local path (a missing one is reported by load)
    return download_checkpoint(resume, NAME, token)
