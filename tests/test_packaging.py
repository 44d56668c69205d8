"""The project's install files agree with each other."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def requirement_lines(text):
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_environment_yml_pip_section_equals_requirements():
    env = (ROOT / "environment.yml").read_text()
    assert re.search(r"^\s+- python=3\.11\s*$", env, re.M), "environment.yml must pin python=3.11"
    pip_section = env.split("- pip:", 1)[1]
    pip_reqs = [m.group(1) for m in re.finditer(r'^\s+-\s+"?([^"\n]+)"?\s*$', pip_section, re.M)]
    assert pip_reqs == requirement_lines((ROOT / "requirements.txt").read_text())


def test_torch_is_pinned_to_the_cpu_wheel():
    assert "torch==2.13.0" in requirement_lines((ROOT / "requirements.txt").read_text())


def test_readme_documents_every_dependency():
    readme = (ROOT / "README.md").read_text()
    for req in requirement_lines((ROOT / "requirements.txt").read_text()):
        name = re.split(r"[<>=!\[ ]", req, maxsplit=1)[0]
        assert name in readme, f"README's dependency table does not mention {name}"


def test_readme_quick_start_is_two_commands():
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```(?:bash|sh)?\n(.*?)```", quick, re.S).group(1)
    assert requirement_lines(block) == ["make demo", "make test"]
