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
