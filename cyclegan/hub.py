"""The Hugging Face Hub calls: a model repo fetched to a local snapshot (``resolve_model_dir``, offline from the cache
when it must), a model folder or a static site pushed (``push_model``, ``push_space``), and a run pushed while it
trains (``RunPusher``: at every save the Trainer saves OUT/model and hands it, and with ``--push-checkpoints``
OUT/checkpoint.pt, to ``push``, which commits them in the background through huggingface_hub's ``run_as_future``;
training goes on meanwhile, the next save first waits for the previous commit, because it rewrites the files that
commit reads, and a failed background push is reported and retried at the next save, not fatal).
"""
from __future__ import annotations

import os
import re
import sys
from concurrent.futures import Future
from pathlib import Path

from .errors import CheckpointError, ModelNotFoundError
from .model_folder import CARD, GENERATOR_FOLDERS, MANIFEST, missing_files

# A Hub repo id is "name" or "owner/name"; anything else that does not exist locally is a wrong path.
REPO_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")


def resolve_model_dir(path_or_repo_id: str | Path, *, revision: str | None = None, token: str | None = None,
                      cache_dir: str | None = None, local_files_only: bool = False) -> Path:
    """A local model folder as is, or a Hub repo's snapshot (from the cache when offline); ``ModelNotFoundError``
    in one line for anything else."""
    path = Path(path_or_repo_id)
    if path.is_dir():
        return path
    name = str(path_or_repo_id)
    if path.exists() or not REPO_ID.match(name) or name.startswith((".", "/")):
        raise ModelNotFoundError(f"model folder not found: {name}")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError
    patterns = [MANIFEST, "README.md", "samples.png", *(f"{sub}/*" for sub in GENERATOR_FOLDERS.values())]
    try:
        return Path(snapshot_download(name, revision=revision, token=token, cache_dir=cache_dir,
                                      local_files_only=local_files_only, etag_timeout=5, allow_patterns=patterns))
    except RepositoryNotFoundError:
        raise ModelNotFoundError(f"no Hub model repo {name!r} (or it is private: pass a token)") from None
    except LocalEntryNotFoundError:
        raise ModelNotFoundError(f"Hub model {name!r} is not in the local cache and the Hub cannot be reached "
                                 "(offline or HF_HUB_OFFLINE=1)") from None
    except (HfHubHTTPError, OSError) as e:
        raise ModelNotFoundError(f"could not fetch Hub model {name!r}: {str(e).splitlines()[0]}") from None


def download_checkpoint(repo_id: str, name: str, token: str | None = None) -> Path:
    """``name`` (a training checkpoint, pushed with ``--push-checkpoints``) of the Hub model repo ``repo_id``, from the
    cache when it is there; ``CheckpointError`` in one line when it cannot be had."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError
    try:
        return Path(hf_hub_download(repo_id, name, repo_type="model", token=token))
    except EntryNotFoundError:
        raise CheckpointError(f"--resume {repo_id}: the Hub repo has no {name} (push one with --push-checkpoints)"
                              ) from None
    except RepositoryNotFoundError:
        raise CheckpointError(f"--resume {repo_id}: no such Hub repo, and no such file or folder here") from None
    except (LocalEntryNotFoundError, OSError) as e:
        raise CheckpointError(f"--resume {repo_id}: could not download {name} from the Hub "
                              f"({str(e).splitlines()[0][:160]})") from None


def push_model(folder: str | Path, repo_id: str, *, private: bool = False, token: str | None = None) -> str:
    """Create ``repo_id`` if needed and upload the whole model folder (both generators); returns the repo URL."""
    from huggingface_hub import HfApi
    folder = Path(folder)
    missing = missing_files(folder)
    if missing:
        raise ModelNotFoundError(f"{folder} has no {missing[0].relative_to(folder)}: nothing complete to push")
    api = HfApi(token=token or os.environ.get("HF_TOKEN"))
    url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    api.upload_folder(repo_id=repo_id, repo_type="model", folder_path=str(folder),
                      commit_message="Upload CycleGAN generators G_AB and G_BA")
    return str(url)


def push_space(folder: str | Path, repo_id: str, *, private: bool = False, token: str | None = None) -> str:
    """Create the static Space ``repo_id`` if needed and upload ``folder`` (a site of ``cyclegan.export``, its
    README.md the Space's configuration); returns the Space's address. The token is ``token``, else HF_TOKEN or
    the saved login of ``hf auth login``."""
    from huggingface_hub import HfApi
    folder = Path(folder)
    if not (folder / "index.html").is_file() or not (folder / CARD).is_file():
        raise ModelNotFoundError(f"{folder} is not a site made by python -m cyclegan.export --site")
    api = HfApi(token=token)
    url = api.create_repo(repo_id, repo_type="space", space_sdk="static", private=private, exist_ok=True)
    api.upload_folder(repo_id=repo_id, repo_type="space", folder_path=str(folder),
                      commit_message="Upload the CycleGAN static site")
    return str(url)


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
            ops.append(CommitOperationAdd(path_in_repo=Path(checkpoint).name, path_or_fileobj=str(checkpoint)))
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
