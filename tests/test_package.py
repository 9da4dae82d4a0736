"""The package's shape (docs/ARCHITECTURE.md): imports run one way, and translating does not load the Hub writer.

Every import counts, at the top, inside a function or under ``TYPE_CHECKING``: a circle that only a type hint
closes still makes two modules impossible to understand one without the other.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "cyclegan"


def imported_modules(path: Path) -> set[str]:
    """The cyclegan modules ``path`` imports anywhere, by their file stem ("__init__" for the package root)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and node.module.split(".")[0] == "cyclegan":
                parts = node.module.split(".")[1:]
            elif node.level == 1:
                parts = node.module.split(".") if node.module else []
            else:
                continue
            if parts:
                found.add(parts[0])
            else:  # "from . import x": x is a module, or a name taken from the package root
                found |= {a.name if (PACKAGE / f"{a.name}.py").is_file() else "__init__" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] if "." in a.name else "__init__" for a in node.names
                      if a.name.split(".")[0] == "cyclegan"}
    return found - {path.stem}


def import_graph() -> dict[str, set[str]]:
    return {p.stem: imported_modules(p) for p in PACKAGE.glob("*.py")}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a list of modules, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for other in sorted(graph.get(module, ())):
            if state.get(other) == 1:
                return path[path.index(other):] + [other]
            if other not in state and (cycle := visit(other)):
                return cycle
        state[module] = 2
        path.pop()
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_circle_in_the_package():
    graph = import_graph()
    assert {"translate", "video", "frozen_stats", "model_folder"} <= set(graph)
    assert find_cycle(graph) is None, f"import circle: {' -> '.join(find_cycle(graph))}"


def test_no_module_takes_names_from_the_package_root():
    """cyclegan/__init__.py only re-exports: a module that imported from it would point back up."""
    offenders = sorted(m for m, imports in import_graph().items() if m != "__init__" and "__init__" in imports)
    assert not offenders


def test_translating_does_not_load_the_card_writer():
    """A picture or a video translated with ``Translator`` never imports the card writer (or training, or the
    evaluation): fetching a model from the Hub is all it needs of publishing."""
    code = ("import sys; import cyclegan.translate, cyclegan.video; print(sorted(m for m in sys.modules if m in "
            "('cyclegan.card', 'cyclegan.evaluate', 'cyclegan.training')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PACKAGE.parent).stdout
    assert out.strip() == "[]"
