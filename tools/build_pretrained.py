"""Rebuild the small checkpoints shipped in ``data/pretrained/`` (notebook 03's seed-0 CrossCLR and InfoNCE
models on Emoji Motion) and the results of every run of notebooks 03's and 08's defaults (``runs.json.gz``), after
the data, the notebooks' defaults or the cache's code version change::

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
import tempfile
import warnings
from dataclasses import replace
from pathlib import Path

import torch

from crossclr_lab.experiments.shipped_runs import FILE as RUNS_FILE
from crossclr_lab.experiments.shipped_runs import load_shipped_runs, runs_file
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
    """Check a freshly built folder: its manifest lists exactly ``expected`` with matching sha256, every entry
    is sound (format, code version, digest) under the key its name says, and the runs file would be used."""
    from crossclr_lab.training.model_cache import entry_problem

    listed = verify_manifest(folder, REBUILD, expected)
    if sorted(listed) != sorted(expected):
        raise RuntimeError(f"{folder / MANIFEST} lists {sorted(listed)}, expected {sorted(expected)}")
    for rel in (rel for rel in expected if rel.endswith(".pt")):   # the cache entries (not their plain twins)
        entry = shipped_entry(rel, folder)
        key = Path(rel).stem.rsplit("-", 1)[-1]
        problem = "missing" if entry is None else entry_problem(entry, key)
        if problem is not None:
            raise RuntimeError(f"the rebuilt {folder / rel} is {problem}; the shipped files were left unchanged")
    for rel in (rel for rel in expected if rel.endswith(RUNS_FILE)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")      # a warning here means the file would not be used
            try:
                runs = load_shipped_runs(rel.split("/")[0], folder)
            except UserWarning as err:
                raise RuntimeError(f"{err}; the shipped files were left unchanged") from None
        if not runs:
            raise RuntimeError(f"the rebuilt {folder / rel} holds no runs; the shipped files were left unchanged")


def build(root: Path = SHIPPED_DIR, log=print, models: bool = True, runs: bool = True) -> list[Path]:
    """Train the shipped models (notebook 03's seed 0, default data) in float16 with a manifest, in a temporary
    folder beside ``root``, also as plain weights + config (:func:`export`), and notebooks 03's and 08's runs
    (:func:`build_runs`); verify them; then swap that folder in for ``root`` (its other files, e.g. the README,
    are carried over). ``models=False`` keeps the shipped models (checked against the manifest) and rebuilds only
    the runs; ``runs=False`` keeps the runs file there is (if any) and rebuilds only the models. Returns the new cache
    entries' paths under ``root``."""
    from crossclr_lab.data import load_splits
    from crossclr_lab.training.model_cache import cache_path, fit_cached

    root = Path(root).absolute()
    recover(root, log)
    work = root.parent / f".{root.name}.build-{os.getpid()}-{HOST}"
    old = root.parent / f".{root.name}.old-{os.getpid()}-{HOST}"
    try:
        if root.is_dir():
            shutil.copytree(root, work, ignore=lambda d, names: [n for n in names if n == MANIFEST
                                                                 or (models and n.endswith(".pt"))])
        else:
            work.mkdir(parents=True)
        if models:
            train, val, test = load_splits("emoji_motion")
            built = []
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for loss in LOSSES:
                    config = replace(notebook_config(group=test.default_group()), loss=loss)
                    fit_cached(config, train, val, work, half=True, use_shipped=False)
                    built.append(cache_path(config, train, val, work).relative_to(work).as_posix())
            built += export(work)
        else:   # the shipped models as they are: _verify below checks them against the manifest they came with
            built = [rel for rel in verify_manifest(root, REBUILD) if not rel.endswith(RUNS_FILE)]
            if not built:
                raise RuntimeError(f"{root} ships no models to keep; build them (without --runs-only)")
        if runs:
            built.append(build_runs(work, log))
        elif (work / runs_file("emoji_motion")).is_file():   # kept as it was; _verify checks it is still usable
            built.append(runs_file("emoji_motion"))
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
    written = [root / rel for rel in built if rel.endswith(".pt")]   # the cache entries
    for path in written:
        log(f"{path} ({path.stat().st_size / 1e6:.2f} MB)")
    return written


def build_runs(root: Path, log=print) -> str:
    """Train every run of notebook 03's default comparisons (:func:`crossclr_lab.lab.training.notebook_comparisons`,
    seeds :data:`~crossclr_lab.lab.training.NOTEBOOK_SEEDS`) and of notebook 08's
    (:func:`crossclr_lab.lab.input_features.notebook_results`), in a model cache of their own with nothing shipped
    used, and write their entries, by run key, to ``root/emoji_motion/runs.json.gz``; returns that path relative to
    ``root``."""
    from crossclr_lab.data import load_splits
    from crossclr_lab.experiments.comparison import run_comparison, run_entries
    from crossclr_lab.experiments.jobs import default_jobs
    from crossclr_lab.experiments.shipped_runs import runs_file, write_shipped_runs
    from crossclr_lab.lab import input_features
    from crossclr_lab.lab.training import NOTEBOOK_SEEDS, notebook_comparisons

    splits = load_splits("emoji_motion")
    group = splits[2].default_group()
    config = notebook_config(group=group)
    entries = {}
    with tempfile.TemporaryDirectory() as cache:
        for name, (variants, baseline) in notebook_comparisons().items():
            log(f"notebook 03's {name}: {len(variants)} variants x {len(NOTEBOOK_SEEDS)} seeds")
            results = run_comparison(variants, list(NOTEBOOK_SEEDS), splits, config, group=group, baseline=baseline,
                                     cache_dir=cache, use_shipped=False, jobs=default_jobs(), log=log)
            entries.update(run_entries(results, config))
        log("notebook 08's comparisons")
        for results in input_features.notebook_results(cache, use_shipped=False, jobs=default_jobs(),
                                                       log=log).values():
            entries.update(run_entries(results, input_features.notebook_config()))
    relative = runs_file("emoji_motion")
    write_shipped_runs(entries, root / relative)
    log(f"{root / relative}: {len(entries)} runs")
    return relative


def export(root: Path) -> list[str]:
    """Each shipped model of ``root`` also as plain weights + config (``emoji_motion/<loss>.safetensors`` and
    ``.json``: what :func:`crossclr_lab.load_pretrained` reads), from its cache entry there; returns their paths
    relative to ``root`` (for the manifest)."""
    from crossclr_lab.data import load_splits
    from crossclr_lab.data.provenance import describe
    from crossclr_lab.training.model_cache import fit_cached
    from crossclr_lab.training.reuse import export_model

    train, val, test = load_splits("emoji_motion")
    written = []
    for loss in LOSSES:
        config = replace(notebook_config(group=test.default_group()), loss=loss)
        model, record = fit_cached(config, train, val, root, use_shipped=False)   # the entry just written: no training
        if not record["cached"]:
            raise RuntimeError(f"no cache entry for {loss} in {root}: build it first")
        inputs = {k: v for k, v in describe(train).items() if k != "data_root"}   # the shipped copy, wherever it is
        written += export_model(model, config, inputs, root / "emoji_motion", stem=loss, half=True,
                                record={k: record[k] for k in ("seed", "dataset", "epochs_run", "best_epoch")})
    return [p.relative_to(root).as_posix() for p in written]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.build_pretrained", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(SHIPPED_DIR), help="folder (default: %(default)s)")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--runs-only", action="store_true",
                      help="keep the shipped models; rebuild only notebooks 03's and 08's shipped runs (runs.json.gz)")
    only.add_argument("--models-only", action="store_true", help="keep the shipped runs; rebuild only the models")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    build(Path(args.out), models=not args.runs_only, runs=not args.models_only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

