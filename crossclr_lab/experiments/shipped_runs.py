"""Notebooks 03's and 08's runs as shipped results: what every run of their default comparisons measured, so the
notebooks show their curves, tables and verdicts without training first (``train_here = True`` trains them instead).

A comparison (:func:`~crossclr_lab.experiments.comparison.run_comparison`) makes one *run entry* per variant and
seed: the test metrics, best epoch, step losses and recall curves. ``data/pretrained/<dataset>/runs.json.gz`` holds
the entries of those notebooks' default runs by :func:`run_key`: the model cache's key of the run (every training
setting, the seed, the train and val fingerprints) with the test split's fingerprint, the semantic group and the
length of the recall curves, so an entry is found exactly when the run would be the same. The file is listed in
the shipped models' manifest (its sha256 is checked before it is read) and carries the cache format and code
version that wrote it: a damaged, unlisted, stale or malformed file is never used (a one-line warning says why,
and the runs are trained). ``python -m tools.build_pretrained`` trains every run and writes it.

Example::

    entries = load_shipped_runs("emoji_motion")                    # {run key: run entry}, {} when none
    entries.get(run_key(model_key, test_fingerprint, "concept", 50))
"""

from __future__ import annotations

import gzip
import hashlib
import json
import warnings
from pathlib import Path

from crossclr_lab.files import atomic_write_bytes
from crossclr_lab.training.model_cache import CACHE_FORMAT, CODE_VERSION, dataset_folder
from crossclr_lab.training.pretrained import REBUILD, SHIPPED_DIR, shipped_file

FILE = "runs.json.gz"   # gzip-compressed JSON (like Emoji Motion's metadata): the data folder has a size budget
RUN_FIELDS = ("seed", "test", "best_epoch", "epochs_run", "wall_time_s", "step_losses", "recall_curves")


def run_key(model_key: str, test_print: str, group: str | None, max_k: int) -> str:
    """The key of one comparison run: its model's cache key (training settings, seed, train and val data), the
    test split's fingerprint, the semantic group and the recall curves' length (hex, 24 digits)."""
    text = json.dumps({"model": model_key, "test": test_print, "group": group, "max_k": max_k}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def runs_file(dataset: str) -> str:
    """Where a dataset's shipped runs are, relative to the shipped folder: ``<dataset folder>/runs.json.gz``
    (:func:`~crossclr_lab.training.model_cache.dataset_folder`: a view pair's runs are in its base dataset's file)."""
    return f"{dataset_folder(dataset)}/{FILE}"


def _problem(content) -> str | None:
    if not isinstance(content, dict) or not isinstance(content.get("runs"), dict):
        return "damaged (not a runs file)"
    if content.get("format") != CACHE_FORMAT:
        return f"stale (cache format {content.get('format')!r}; this version of the kit reads {CACHE_FORMAT})"
    if content.get("code") != CODE_VERSION:
        return f"stale (written by code version {content.get('code')!r}; this is {CODE_VERSION})"
    bad = [k for k, e in content["runs"].items() if not isinstance(e, dict) or any(f not in e for f in RUN_FIELDS)]
    if bad:
        return f"damaged ({len(bad)} entr{'y lacks' if len(bad) == 1 else 'ies lack'} run fields)"
    return None


def load_shipped_runs(dataset: str, root: Path | None = SHIPPED_DIR) -> dict[str, dict]:
    """``{run key: run entry}`` shipped for ``dataset``; ``{}`` when there are none, and after a one-line warning
    when the file is damaged, unlisted, stale or malformed."""
    path = shipped_file(runs_file(dataset), root)    # its sha256 checked against the manifest
    if path is None:
        return {}
    try:
        content = json.loads(gzip.decompress(path.read_bytes()).decode("utf-8"))
    except (OSError, EOFError, ValueError) as err:   # gzip.BadGzipFile is an OSError; a cut stream, EOFError
        problem = f"unreadable ({type(err).__name__})"
    else:
        problem = _problem(content)
    if problem is not None:
        warnings.warn(f"shipped results {path} are {problem}; not used, the runs are trained ({REBUILD})",
                      stacklevel=2)
        return {}
    return content["runs"]


def write_shipped_runs(runs: dict[str, dict], path: str | Path) -> Path:
    """Write ``{run key: run entry}`` as a shipped runs file (atomically, gzip-compressed JSON; the same entries give
    the same bytes), with the cache format and code version."""
    missing = sorted({f for e in runs.values() for f in RUN_FIELDS if f not in e})
    if missing:
        raise ValueError(f"run entries lack {missing}: pass what run_comparison returns")
    content = {"format": CACHE_FORMAT, "code": CODE_VERSION, "runs": runs}
    text = json.dumps(content, separators=(",", ":"), sort_keys=True) + "\n"
    atomic_write_bytes(Path(path), gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))
    return Path(path)
