"""Rebuild the small checkpoints shipped in ``data/pretrained/`` (notebook 03's seed-0 CrossCLR and InfoNCE
models on Emoji Motion), after the data or the notebooks' defaults change::

    python -m tools.build_pretrained            # writes data/pretrained/ and its MANIFEST.sha256

The new files are built in a temporary folder beside the target (``.pretrained.build-<pid>-<host>``), verified
(manifest, every entry sound and found by its key), and only then swapped in by two renames; the old folder is
removed last. A rebuild killed at any point leaves the shipped files as they were (or, killed between the two
renames, restored by the next rebuild); leftovers of killed rebuilds are removed by the next one.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import warnings
from dataclasses import replace
from pathlib import Path

import torch

from crossclr_lab.files import HOST, MANIFEST, pid_alive, verify_manifest, write_manifest
from crossclr_lab.training.pretrained import LOSSES, REBUILD, SHIPPED_DIR, notebook_config, shipped_entry

_LEFTOVER = re.compile(r"\.(?P<name>.+)\.(?P<kind>build|old)-(?P<pid>\d+)-(?P<host>[A-Za-z0-9-]+)")


def _leftovers(root: Path) -> list[tuple[Path, str, bool]]:
    """``(path, kind, owner alive)`` of the build/old folders of earlier rebuilds of ``root`` on this host."""
    found = []
    for path in sorted(root.parent.glob(f".{root.name}.*-*")):
        m = _LEFTOVER.fullmatch(path.name)
        if m and m["name"] == root.name and m["host"] == HOST and path.is_dir():
            pid = int(m["pid"])
            found.append((path, m["kind"], pid == os.getpid() or pid_alive(pid)))
    return found


def recover(root: Path, log=print) -> None:
    """Undo what a killed rebuild of ``root`` left: put back the shipped folder if the kill came between the two
    renames of the swap, and delete unfinished builds and old folders of rebuilds that no longer run."""
    for path, kind, alive in _leftovers(root):
        if alive:
            raise RuntimeError(f"another rebuild of {root} is running ({path} is its work folder); wait for it")
        if kind == "old" and not root.exists():
            path.rename(root)
            log(f"restored {root} from an interrupted rebuild")
        else:
            shutil.rmtree(path)


def _verify(folder: Path, expected: list[str]) -> None:
    """Check a freshly built folder: its manifest lists exactly ``expected`` with matching sha256, and every entry
    is sound (format, code version, digest) under the key its name says."""
    from crossclr_lab.training.model_cache import entry_problem

    listed = verify_manifest(folder, REBUILD, expected)
    if sorted(listed) != sorted(expected):
        raise RuntimeError(f"{folder / MANIFEST} lists {sorted(listed)}, expected {sorted(expected)}")
    for rel in expected:
        entry = shipped_entry(rel, folder)
        key = Path(rel).stem.rsplit("-", 1)[-1]
        problem = "missing" if entry is None else entry_problem(entry, key)
        if problem is not None:
            raise RuntimeError(f"the rebuilt {folder / rel} is {problem}; the shipped files were left unchanged")


def build(root: Path = SHIPPED_DIR, log=print) -> list[Path]:
    """Train the shipped models (notebook 03's seed 0, default data) in float16 with a manifest, in a temporary
    folder beside ``root``; verify them; then swap that folder in for ``root`` (its other files, e.g. the README,
    are carried over). Returns the new files' paths under ``root``."""
    from crossclr_lab.data import load_splits
    from crossclr_lab.training.model_cache import cache_path, fit_cached

    root = Path(root).absolute()
    recover(root, log)
    work = root.parent / f".{root.name}.build-{os.getpid()}-{HOST}"
    old = root.parent / f".{root.name}.old-{os.getpid()}-{HOST}"
    try:
        if root.is_dir():
            shutil.copytree(root, work, ignore=lambda d, names: [n for n in names if n.endswith(".pt")
                                                                 or n == MANIFEST])
        else:
            work.mkdir(parents=True)
        train, val, test = load_splits("emoji_motion")
        built = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for loss in LOSSES:
                config = replace(notebook_config(group=test.default_group()), loss=loss)
                fit_cached(config, train, val, work, half=True, use_shipped=False)
                built.append(cache_path(config, train, val, work).relative_to(work).as_posix())
        write_manifest(work, built)
        _verify(work, built)
        if root.exists():
            os.rename(root, old)
        os.rename(work, root)
    except BaseException:
        if old.exists() and not root.exists():
            os.rename(old, root)
        shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    written = [root / rel for rel in built]
    for path in written:
        log(f"{path} ({path.stat().st_size / 1e6:.2f} MB)")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.build_pretrained", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(SHIPPED_DIR), help="folder (default: %(default)s)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    build(Path(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
