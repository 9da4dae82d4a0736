"""Pushing a run to the Hub while it trains, so that a job killed on vanishing hardware loses at most one save.

At every save the Trainer exports OUT/model and hands it (and, with ``--push-checkpoints``, OUT/checkpoint.pt)
to ``RunPusher.push``, which commits them in the background through huggingface_hub's ``run_as_future``.
Training goes on meanwhile; the next save first waits for the previous commit, because it rewrites the
files that commit reads. A failed background push is reported and retried at the next save, not fatal.
"""
from __future__ import annotations

import os
import sys
from concurrent.futures import Future
from pathlib import Path

from .checkpoint import NAME as CHECKPOINT_NAME


class RunPusher:
    """Commits a model folder (and a checkpoint) to ``repo_id`` in the background, one commit at a time."""

    def __init__(self, repo_id: str, *, private: bool = False, token: str | None = None):
        from huggingface_hub import HfApi
        self.repo_id = repo_id
        self.api = HfApi(token=token or os.environ.get("HF_TOKEN"))
        self.url = str(self.api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True))
        self.future: Future | None = None
        self.pushed = 0  # commits that went through
        self.model_dir: Path | None = None  # the folder of the latest push, for the hint when one fails

    def push(self, model_dir: str | Path, checkpoint: str | Path | None = None, message: str = "") -> None:
        """Start committing ``model_dir``'s files (at the repo's root) and ``checkpoint`` as checkpoint.pt."""
        from huggingface_hub import CommitOperationAdd
        self.wait()
        model_dir = self.model_dir = Path(model_dir)
        ops = [CommitOperationAdd(path_in_repo=p.relative_to(model_dir).as_posix(), path_or_fileobj=str(p))
               for p in sorted(model_dir.rglob("*")) if p.is_file()]
        if checkpoint is not None:
            ops.append(CommitOperationAdd(path_in_repo=CHECKPOINT_NAME, path_or_fileobj=str(checkpoint)))
        self.future = self.api.create_commit(self.repo_id, ops, repo_type="model", run_as_future=True,
                                             commit_message=message or "Upload CycleGAN generators G_AB and G_BA")

    def wait(self, *, final: bool = False) -> bool:
        """Wait for the commit in flight, if any; whether it went through. A failure is printed; with ``final``
        the message also says how to push by hand."""
        future, self.future = self.future, None
        if future is None:
            return True
        try:
            future.result()
        except Exception as e:  # noqa: BLE001 - any network or Hub error: report it and go on training
            reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
            hint = (f"; push the model by hand with: hf upload {self.repo_id} {self.model_dir} ." if final
                    else "; it is retried at the next save")
            print(f"warning: pushing to {self.repo_id} failed ({reason}){hint}", file=sys.stderr)
            return False
        self.pushed += 1
        return True
