"""The project's own facts that cards and Hub metadata quote: the paper, the code's addresses, the Hub tags."""
from __future__ import annotations

from pathlib import Path

PAPER_URL = "https://arxiv.org/abs/1703.10593"
# The model cards' tags and the generators' Hub mixin tags: one list, so the two never differ.
TAGS = ["cyclegan", "image-to-image", "unpaired-image-translation", "pytorch", "gan"]


def project_urls(pyproject: Path | None = None) -> dict[str, str]:
    """The project's addresses: ``[project.urls]`` of the pyproject.toml beside the package (a checkout), else the
    installed distribution's ``Project-URL`` metadata; {} when none is set."""
    pyproject = pyproject or Path(__file__).resolve().parents[1] / "pyproject.toml"
    if pyproject.is_file():
        try:
            import tomllib
        except ImportError:  # Python 3.10 has no TOML reader; the installed metadata may still say
            pass
        else:
            return dict(tomllib.loads(pyproject.read_text()).get("project", {}).get("urls", {}))
    try:
        from importlib.metadata import PackageNotFoundError, metadata
        entries = metadata("cyclegan").get_all("Project-URL") or []
    except PackageNotFoundError:
        return {}
    return {label.strip(): url.strip() for label, url in (e.split(",", 1) for e in entries if "," in e)}


# Cards link to the code only where the project has an address; an invented one is worse than none.
_URLS = {k.lower(): v for k, v in project_urls().items()}
REPOSITORY_URL: str | None = _URLS.get("repository") or _URLS.get("source") or _URLS.get("homepage")
DOCS_URL: str | None = _URLS.get("documentation") or (f"{REPOSITORY_URL}#readme" if REPOSITORY_URL else None)
