"""CycleGAN (Zhu et al. 2017): unpaired image-to-image translation in PyTorch."""
from pathlib import Path

from .config import ModelConfig, TrainConfig
from .direction import Direction

__all__ = ["Direction", "Discriminator", "Generator", "ModelConfig", "ResnetBlock", "TrainConfig", "Translator"]
__version__ = "0.1.0"
PAPER_URL = "https://arxiv.org/abs/1703.10593"


def project_urls(pyproject: Path | None = None) -> dict[str, str]:
    """The project's addresses, from one place: ``[project.urls]`` of the pyproject.toml beside the package (a
    checkout), else the installed distribution's ``Project-URL`` metadata; {} when none is set."""
    pyproject = pyproject or Path(__file__).resolve().parents[1] / "pyproject.toml"
    if pyproject.is_file():
        try:
            import tomllib
        except ImportError:  # Python 3.10: no TOML reader in the standard library; the metadata may still say
            pass
        else:
            return dict(tomllib.loads(pyproject.read_text()).get("project", {}).get("urls", {}))
    try:
        from importlib.metadata import PackageNotFoundError, metadata
        entries = metadata("cyclegan").get_all("Project-URL") or []
    except PackageNotFoundError:
        return {}
    return {label.strip(): url.strip() for label, url in (e.split(",", 1) for e in entries if "," in e)}


# Where the code and its documentation live: the model cards link to them when they are set (cyclegan.hub,
# networks.HUB_KWARGS), and say nothing of them otherwise.
_URLS = {k.lower(): v for k, v in project_urls().items()}
REPOSITORY_URL: str | None = _URLS.get("repository") or _URLS.get("source") or _URLS.get("homepage")
DOCS_URL: str | None = _URLS.get("documentation") or (f"{REPOSITORY_URL}#readme" if REPOSITORY_URL else None)


def __getattr__(name: str):
    # The torch-backed names are imported on first use: `python train.py --help` needs only the config
    # (torch takes seconds to import), and `python -m cyclegan.translate` must not find itself already loaded.
    if name == "Translator":
        from .translate import Translator
        return Translator
    if name in ("Discriminator", "Generator", "ResnetBlock"):
        from . import networks
        return getattr(networks, name)
    raise AttributeError(f"module 'cyclegan' has no attribute {name!r}")
