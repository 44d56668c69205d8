"""Check that requirements.txt resolves on every supported platform and Python, without such machines: uv resolves
for another platform's wheel tags and markers (``uv pip compile --python-platform``), from PyPI and, for Linux,
PyTorch's CPU index when it is reachable. Prints one table row per platform x Python; exits 1 if any fails.

    make platforms                     # or: python3 tools/check_platforms.py --uv PATH/TO/uv

Linux rows need PyTorch's CPU index to prove the CPU build (PyPI's Linux torch is the CUDA build, with its nvidia
packages); where that index is unreachable they resolve from PyPI and say so.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from install import CPU_INDEX, ROOT, SUPPORTED_PYTHONS, reachable  # noqa: E402

# name -> (uv's --python-platform, extra environment)
PLATFORMS = {
    "Linux x86_64": ("x86_64-manylinux_2_28", {}),
    "Linux aarch64": ("aarch64-manylinux_2_28", {}),
    "macOS arm64 (14+)": ("aarch64-apple-darwin", {"MACOSX_DEPLOYMENT_TARGET": "14.0"}),
    "Windows x86_64": ("x86_64-pc-windows-msvc", {}),
}
CUDA_PACKAGES = re.compile(r"^(nvidia-|triton|cuda-)")


def resolve(uv: str, target: str, env: dict, python: str, cpu_index: bool) -> tuple[bool, dict[str, str], str]:
    """``(ok, {package: version}, last error line)`` of requirements.txt for one platform and Python."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "resolved.txt"
        cmd = [uv, "pip", "compile", "--quiet", "--no-config", "--no-header", "--python-platform", target,
               "--python-version", python, "-o", str(out), str(ROOT / "requirements.txt")]
        if cpu_index:
            cmd += ["--extra-index-url", CPU_INDEX, "--index-strategy", "unsafe-best-match"]
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env})
        if done.returncode != 0:
            lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
            return False, {}, " ".join(lines[-3:])[:200]
        pins = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", out.read_text(), re.M))
    return True, pins, ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/check_platforms.py", description=__doc__.splitlines()[0])
    parser.add_argument("--uv", default="uv", help="the uv executable (default: uv on PATH)")
    args = parser.parse_args(argv)
    cpu_index = reachable(CPU_INDEX)
    print(f"PyTorch's CPU index {CPU_INDEX}: {'reachable' if cpu_index else 'UNREACHABLE from here'}")
    print("| platform | Python | resolves | torch | packages | CUDA packages |\n|---|---|---|---|---|---|")
    failed = 0
    for name, (target, env) in PLATFORMS.items():
        for major, minor in SUPPORTED_PYTHONS:
            linux = name.startswith("Linux")
            ok, pins, error = resolve(args.uv, target, env, f"{major}.{minor}", cpu_index and linux)
            cuda = sorted(p for p in pins if CUDA_PACKAGES.match(p.lower()))
            torch = pins.get("torch", "-")
            if linux and not cpu_index and ok:
                torch += " (PyPI's CUDA build: CPU index unreachable)"
            elif ok and cuda:   # a CPU install must pull no CUDA package
                ok, error = False, f"CUDA packages: {', '.join(cuda)}"
            failed += not ok
            print(f"| {name} | {major}.{minor} | {'yes' if ok else 'NO: ' + error} | {torch} | {len(pins)} | "
                  f"{len(cuda)} |", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
