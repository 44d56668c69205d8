"""Small pretrained checkpoints the kit ships: notebook 03's seed-0 CrossCLR and InfoNCE models on Emoji Motion,
so notebooks 04 and 05 can start without training (and, beside them, the results of every run of notebook 03's
defaults: :mod:`crossclr_lab.experiments.shipped_runs`).

They are entries of the model cache (:mod:`crossclr_lab.training.model_cache`, same key, so they are found exactly
when the
data, loss, seed and settings match), stored in float16 under ``data/pretrained/<dataset>/`` with a sha256
manifest that :func:`shipped_entry` checks before anything is loaded (``weights_only=True``, then the entry's
own sha256, format, code version and key, like any cache entry). A file that is
missing from the manifest or does not match it is never used: the caller trains instead and says why.

Rebuild them (about a minute on 2 cores) after the data or the notebooks' defaults change, from a checkout::

    python -m tools.build_pretrained            # writes data/pretrained/ and its MANIFEST.sha256
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from crossclr_lab.files import MANIFEST, read_manifest, repo_root, sha256_file
from crossclr_lab.training.checkpoint import CheckpointError, load_checkpoint


def _shipped_dir() -> Path | None:
    """``$CROSSCLR_DATA_DIR/pretrained`` (an installed package pointed at a checkout's ``data/``), else the checkout's
    ``data/pretrained``; ``None`` for an installed package without the variable (it ships none)."""
    if os.environ.get("CROSSCLR_DATA_DIR"):
        return Path(os.environ["CROSSCLR_DATA_DIR"]) / "pretrained"
    return repo_root() / "data" / "pretrained" if repo_root() else None


SHIPPED_DIR = _shipped_dir()
REBUILD = "rebuild with: python -m tools.build_pretrained (from a checkout)"
LOSSES = ("crossclr", "infonce")
EPOCHS = 12   # notebooks 03-05's default; their TrainConfig is notebook_config() below


def notebook_config(epochs: int = EPOCHS, seed: int = 0, group: str | None = "concept"):
    """The TrainConfig notebooks 03, 04 and 05 train with by default (their cache keys must match)."""
    from crossclr_lab.training.trainer import TrainConfig

    return TrainConfig(epochs=epochs, warmup_epochs=min(2.0, epochs / 4), seed=seed, group=group, progress=False)


def shipped_file(relative: str, root: Path | None = SHIPPED_DIR) -> Path | None:
    """The shipped file ``relative`` (``<dataset>/<file>``) when it is listed in the manifest with its sha256;
    ``None`` when there is none. A damaged or unlisted file gives a warning and ``None``."""
    if root is None:
        return None
    path = root / relative
    if not path.is_file():
        return None
    try:
        expected = read_manifest(root, REBUILD).get(relative)
    except (OSError, ValueError) as err:
        warnings.warn(f"shipped file {path} not used: {err}", stacklevel=3)
        return None
    if expected is None or sha256_file(path) != expected:
        warnings.warn(f"shipped file {path} is {'not in ' + MANIFEST if expected is None else 'damaged'}; "
                      f"not used ({REBUILD})", stacklevel=3)
        return None
    return path


def shipped_entry(relative: str, root: Path | None = SHIPPED_DIR) -> dict | None:
    """The shipped cache entry ``relative`` (``<dataset>/<file>.pt``), its sha256 checked against the manifest
    (:func:`shipped_file`); ``None`` when there is none. A damaged or unlisted file gives a warning and ``None``."""
    path = shipped_file(relative, root)
    if path is None:
        return None
    try:
        return load_checkpoint(path)
    except CheckpointError as err:
        warnings.warn(f"shipped checkpoint not used: {str(err).split('; ')[0]} ({REBUILD})", stacklevel=2)
        return None
