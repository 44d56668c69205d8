"""The project's install files agree with each other."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def requirement_lines(text):
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_environment_yml_is_the_kit_at_the_locked_versions():
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    from write_environment import environment_yml

    env = (ROOT / "environment.yml").read_text()
    assert env == environment_yml(), "environment.yml is stale: run `make lock` (tools/write_environment.py)"
    assert re.search(r"^  - python=3\.11$", env, re.M) and re.search(r"^  - openjdk=17$", env, re.M)
    pip_section = env.split("- pip:", 1)[1]
    pins = re.findall(r"^      - ([A-Za-z0-9_.\-]+)==(\S+)$", pip_section, re.M)
    requirements = requirement_lines((ROOT / "requirements.txt").read_text())
    names = [re.split(r"[<>=!\[ ]", r, maxsplit=1)[0] for r in requirements]
    assert [n for n, _ in pins] == names
    locked = locked_pins()
    assert all(locked[n.lower()][0].split("+")[0] == v for n, v in pins)
    assert "download.pytorch.org/whl/cpu" in pip_section and pip_section.rstrip().endswith("- -e .")


def test_the_lock_names_the_platform_it_applies_to():
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    from install import lock_applies, plan, platform_key, torch_index_for

    lock = (ROOT / "requirements.lock").read_text()
    assert lock.startswith("# locked for: linux-x86_64-py311\n")
    assert platform_key("Linux", "x86_64", (3, 11)) == "linux-x86_64-py311"
    assert platform_key("Windows", "AMD64", (3, 12)) == "windows-x86_64-py312"
    assert platform_key("Darwin", "arm64", (3, 13)) == "darwin-aarch64-py313"
    assert lock_applies("linux-x86_64-py311", lock) and not lock_applies("linux-aarch64-py311", lock)
    assert torch_index_for("auto", "linux-aarch64-py312").startswith("https://download.pytorch.org/whl/cpu")
    assert torch_index_for("auto", "darwin-aarch64-py312") == "pip"
    locked = [" ".join(map(str, c)) for c in plan(Path(".venv"), "pip", "linux-x86_64-py311", lock)]
    assert "--require-hashes" in locked[0] and "requirements.lock" in locked[0]
    ranged = [" ".join(map(str, c)) for c in plan(Path(".venv"), "https://x.example/cpu", "darwin-aarch64-py313", lock)]
    assert ranged[0].endswith("--extra-index-url https://x.example/cpu torch==2.13.0")
    assert ranged[1].endswith("requirements.txt") and "--require-hashes" not in ranged[1]
    assert "-e" in ranged[2] and "ipykernel install --sys-prefix --name crossclr-lab" in ranged[3]


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


# -- requirements.lock: exact versions and hashes of requirements.txt + requirements-docs.txt (make lock) -----------
def locked_pins():
    """``{normalised name: (version, [hashes])}`` of requirements.lock."""
    from packaging.utils import canonicalize_name

    pins, current = {}, None
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line):
            current = canonicalize_name(match.group(1))
            pins[current] = (match.group(2), [])
        elif (match := re.search(r"--hash=sha256:([0-9a-f]{64})", line)) and current:
            pins[current][1].append(match.group(1))
    return pins


def test_lock_satisfies_every_range_and_hashes_every_package():
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = locked_pins()
    assert len(pins) > 50
    for source in ("requirements.txt", "requirements-docs.txt"):
        for line in requirement_lines((ROOT / source).read_text()):
            req = Requirement(line)
            name = canonicalize_name(req.name)
            assert name in pins, f"{name} ({source}) is not in requirements.lock: run `make lock`"
            assert req.specifier.contains(pins[name][0], prereleases=True), \
                f"requirements.lock pins {name}=={pins[name][0]}, outside {source}'s {req.specifier}: run `make lock`"
    unhashed = sorted(name for name, (_, hashes) in pins.items() if not hashes)
    assert not unhashed, f"pins without hashes: {unhashed}"


def test_lock_pins_the_cpu_torch_and_no_cuda_package():
    pins = locked_pins()
    assert pins["torch"][0] == "2.13.0+cpu"
    cuda = sorted(name for name in pins if name.startswith(("nvidia-", "triton", "cuda-")))
    assert not cuda, f"requirements.lock would install CUDA packages: {cuda}"


def test_docs_extra_equals_requirements_docs():
    import tomllib

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["docs"]
    assert extra == requirement_lines((ROOT / "requirements-docs.txt").read_text())


def test_readme_documents_every_docs_dependency():
    readme = (ROOT / "README.md").read_text()
    for req in requirement_lines((ROOT / "requirements-docs.txt").read_text()):
        name = re.split(r"[<>=!\[ ]", req, maxsplit=1)[0]
        assert name in readme, f"README's dependency table does not mention {name}"


def test_binder_installs_the_lock_with_the_cpu_torch_index():
    env = (ROOT / "binder" / "environment.yml").read_text()
    assert re.search(r"^\s+- python=3\.11\s*$", env, re.M)
    assert "-r ../requirements.lock" in env and "download.pytorch.org/whl/cpu" in env
    assert "ipykernel install --sys-prefix --name crossclr-lab" in (ROOT / "binder" / "postBuild").read_text()


def test_one_version_a_licence_a_citation_and_type_information():
    import tomllib

    import crossclr_lab

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "crossclr_lab.__version__"}
    citation = (ROOT / "CITATION.cff").read_text()
    assert re.search(rf"^version: {re.escape(crossclr_lab.__version__)}$", citation, re.M)
    assert project["project"]["license"] == "MIT" and (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert "arXiv:2109.14910" in citation
    assert "@inproceedings{zolfaghari2021crossclr" in (ROOT / "README.md").read_text()
    assert (ROOT / "crossclr_lab" / "py.typed").is_file()
    assert project["tool"]["setuptools"]["package-data"]["crossclr_lab"] == ["py.typed"]


def test_a_workflow_runs_the_tests_on_pull_requests_on_every_os():
    yaml = __import__("pytest").importorskip("yaml")
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "tests.yml").read_text())
    assert "pull_request" in workflow[True]          # YAML 1.1 reads the key `on` as True
    job = workflow["jobs"]["test"]
    assert {"ubuntu-latest", "macos-14", "windows-latest"} <= set(job["strategy"]["matrix"]["os"])
    steps = " ".join(str(step.get("run", "")) for step in job["steps"])
    assert "tools/install.py" in steps and "pytest" in steps and "ruff check" in steps


def test_video_extra_equals_the_makefile_install_and_the_code_pins():
    import tomllib

    from crossclr_lab.experts import appearance
    from crossclr_lab.experts.video import AV_VERSION

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["video"]
    makefile = (ROOT / "Makefile").read_text()
    line = next(x for x in makefile.splitlines() if x.startswith("VIDEO = "))
    assert line.removeprefix("VIDEO = ").split() == extra
    assert "--no-deps $(VIDEO)" in makefile
    assert extra == [f"av=={AV_VERSION}", *(f"{name}=={version}" for name, version in appearance.PINNED.items())]
