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


def test_the_zerogpu_requirements_are_requirements_txt_with_its_torch_and_spaces():
    zero = requirement_lines("requirements-zerogpu.txt")
    base = requirement_lines("requirements.txt")
    assert zero[:2] == ["torch>=2.8", "torchvision>=0.23"] and zero[-1].startswith("spaces>=")
    assert zero[2:-1] == [line for line in base if not line.startswith(("torch>=", "torchvision>="))]
    assert "requirements-zerogpu.txt requirements.txt" in README and "--flavor zero-a10g" in README


def test_requirements_files():
    cpu = requirement_lines("requirements-cpu.txt")
    assert cpu[0] == "--extra-index-url https://download.pytorch.org/whl/cpu"
    assert cpu[1:] == requirement_lines("requirements.txt"), "requirements-cpu.txt must list requirements.txt's packages"
    assert "scikit-image" not in requirement_lines("requirements-eval.txt")  # only the tests use it
    assert "scikit-image" in requirement_lines("requirements-dev.txt")
    assert "DEVELOPERS" not in (ROOT / "requirements.txt").read_text()


def test_readme_front_matter_and_commands():
    front = README.split("---")[1]
    assert "TODO" not in front and "# add" not in front
    assert "seed CLI" not in README and "seed-CLI" not in README  # jargon of this project's history
    assert "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu" in README
    assert "samples/step_NNNNNNN.png" in TRAINING
    # the quick training command of the README parses (flags, sizes) as written
    command = re.search(r"python train.py (--dataroot \S+emoji [^\n]*\\\n[^\n]*--max-steps 300[^\n]*)", README)
    assert command, "the README's quick --max-steps command is gone"
    argv = command.group(1).replace("\\\n", " ").split()
    argv = [a.strip('"') for a in " ".join(argv).replace('"Noto emoji"', "Noto_emoji").split()]
    r = subprocess.run([sys.executable, "-c", "import sys; from cyclegan.config import parse_args; "
                        "t, m = parse_args(sys.argv[1:]); print(t.max_steps, t.license, m.ngf)", *argv],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0 and r.stdout.split() == ["300", "cc-by-4.0", "16"], r.stderr
