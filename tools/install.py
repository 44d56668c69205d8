"""Install the kit into a virtual environment on Linux (x86_64, aarch64), macOS (Apple silicon) or Windows, Python
3.11-3.13, with torch's CPU build. `make install` runs it; without make::

    python3 tools/install.py            # Windows: py -3.12 tools\\install.py

What it does, in order (each step printed before it runs):

1. creates ``.venv`` with this Python (3.11-3.13, else it stops at once and says so);
2. torch's CPU build: on Linux from PyTorch's CPU index (PyPI's Linux wheel is the CUDA build, ~3 GB more),
   checked reachable first; on macOS and Windows PyPI's wheel is the CPU build;
3. the rest: ``requirements.lock`` (exact versions and hashes) where it applies (the platform and Python it was
   locked on, see its header), else the ranges of ``requirements.txt``;
4. the package itself (editable) and the ``crossclr-lab`` Jupyter kernel the notebooks ask for.

``--torch-index URL`` picks another torch index (e.g. a CUDA one); ``--torch-index pip`` uses pip's own
configuration for torch too (a machine with a local wheel folder or mirror).
"""

from __future__ import annotations

import argparse
import platform
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUPPORTED_PYTHONS = ((3, 11), (3, 12), (3, 13))
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
LOCK = ROOT / "requirements.lock"
LOCKED_FOR = re.compile(r"^# locked for: (\S+)$", re.M)   # the lock's header line naming its platform


def platform_key(system: str | None = None, machine: str | None = None, version: tuple | None = None) -> str:
    """``<os>-<arch>-py<major><minor>`` of this interpreter, e.g. ``linux-x86_64-py311`` (what the lock names)."""
    system = (system or platform.system()).lower()
    machine = (machine or platform.machine()).lower().replace("amd64", "x86_64").replace("arm64", "aarch64")
    major, minor = version or sys.version_info[:2]
    return f"{system}-{machine}-py{major}{minor}"


def lock_applies(key: str, lock_text: str) -> bool:
    """Whether requirements.lock was locked for ``key`` (its ``# locked for:`` header line)."""
    match = LOCKED_FOR.search(lock_text)
    return match is not None and match.group(1) == key


def torch_pin() -> str:
    """``torch==X`` from requirements.txt (the one torch version the kit is tested with)."""
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if re.match(r"^torch\s*==", line):
            return line.split("#")[0].strip()
    raise SystemExit("install: requirements.txt has no 'torch==' pin")


def reachable(url: str, timeout: float = 10.0) -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return True
    except OSError:
        return False


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def run(cmd: list, dry_run: bool) -> None:
    print("+ " + " ".join(str(c) for c in cmd), flush=True)
    if not dry_run:
        subprocess.run([str(c) for c in cmd], check=True)


def torch_index_for(choice: str, key: str) -> str:
    """The torch index ``--torch-index`` means on platform ``key``: a URL, or ``pip`` (pip's own configuration)."""
    if choice == "auto":
        return CPU_INDEX if key.startswith("linux-") else "pip"
    return choice


def plan(venv: Path, torch_index: str, key: str, lock_text: str) -> list[list]:
    """The commands, in order (no side effects): see the module docstring. ``torch_index``: a URL or ``pip``."""
    py = venv_python(venv)
    pip = [py, "-m", "pip", "install", "--quiet"]
    extra = [] if torch_index == "pip" else ["--extra-index-url", torch_index]
    if lock_applies(key, lock_text):
        steps = [pip + ["--require-hashes", *extra, "-r", LOCK]]
    else:
        steps = [pip + [*extra, torch_pin()], pip + ["-r", ROOT / "requirements.txt"]]
    return steps + [pip + ["--no-deps", "--no-build-isolation", "-e", ROOT],
                    [py, "-m", "ipykernel", "install", "--sys-prefix", "--name", "crossclr-lab",
                     "--display-name", "Python (crossclr-lab)"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/install.py", description=__doc__.splitlines()[0])
    parser.add_argument("--venv", default=str(ROOT / ".venv"), help="virtual environment (default: %(default)s)")
    parser.add_argument("--torch-index", default="auto",
                        help="auto (Linux: PyTorch's CPU index; macOS, Windows: PyPI), a URL, or 'pip' (pip's own "
                             "configuration)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    parser.add_argument("--key", action="store_true", help="print this platform's key (what `make lock` records)")
    args = parser.parse_args(argv)
    if args.key:
        print(platform_key())
        return 0
    if sys.version_info[:2] not in SUPPORTED_PYTHONS:
        supported = ", ".join(f"{a}.{b}" for a, b in SUPPORTED_PYTHONS)
        raise SystemExit(f"install: Python {platform.python_version()} is not supported; use {supported} "
                         "(e.g. make PYTHON=python3.12, or py -3.12 tools/install.py)")
    key = platform_key()
    lock_text = LOCK.read_text(encoding="utf-8")
    index = torch_index_for(args.torch_index, key)
    if index != "pip" and not reachable(index):
        print(f"install: note: {index} is unreachable from here; torch comes from pip's own configuration "
              "(on Linux PyPI's wheel is the CUDA build, unless a local wheel folder or mirror has the CPU one)",
              flush=True)
        index = "pip"
    locked = LOCKED_FOR.search(lock_text)
    print(f"install: {key}; " + ("requirements.lock applies" if lock_applies(key, lock_text) else
                                 f"requirements.lock is for {locked.group(1) if locked else '(no platform line)'}: "
                                 "installing the ranges of requirements.txt"), flush=True)
    venv = Path(args.venv)
    if not venv_python(venv).exists():
        run([sys.executable, "-m", "venv", venv], args.dry_run)
    for cmd in plan(venv, index, key, lock_text):
        run(cmd, args.dry_run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
