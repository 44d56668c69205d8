"""Small pretrained checkpoints the kit ships: notebook 03's seed-0 CrossCLR and InfoNCE models on Emoji Motion,
so notebooks 04 and 05 can start without training.

They are entries of the model cache (:mod:`crossclr_lab.model_cache`, same key, so they are found exactly when the
data, loss, seed and settings match), stored in float16 under ``data/pretrained/<dataset>/`` with a sha256
manifest that :func:`shipped_entry` checks before anything is loaded (``weights_only=True``). A file that is
missing from the manifest or does not match it is never used: the caller trains instead and says why.

Rebuild them (about a minute on 2 cores) after the data or the notebooks' defaults change::

    python -m crossclr_lab.pretrained            # writes data/pretrained/ and its MANIFEST.sha256
"""

from __future__ import annotations

import argparse
import hashlib
import io
import warnings
from dataclasses import replace
from pathlib import Path

import torch

from crossclr_lab.utils import atomic_write_text

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "data" / "pretrained"
MANIFEST = "MANIFEST.sha256"
LOSSES = ("crossclr", "infonce")
EPOCHS = 12   # notebooks 03-05's default; their TrainConfig is notebook_config() below


def notebook_config(epochs: int = EPOCHS, seed: int = 0, group: str | None = "concept"):
    """The TrainConfig notebooks 03, 04 and 05 train with by default (their cache keys must match)."""
    from crossclr_lab.train import TrainConfig

    return TrainConfig(epochs=epochs, warmup_epochs=min(2.0, epochs / 4), seed=seed, group=group, progress=False)


def _manifest(root: Path) -> dict[str, str]:
    path = root / MANIFEST
    if not path.is_file():
        return {}
    entries = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        if name and ".." not in Path(name).parts:
            entries[name] = digest
    return entries


def shipped_entry(relative: str, root: Path = SHIPPED_DIR) -> dict | None:
    """The shipped cache entry ``relative`` (``<dataset>/<file>.pt``), its sha256 checked against the manifest;
    ``None`` when there is none. A damaged or unlisted file gives a warning and ``None``."""
    path = root / relative
    if not path.is_file():
        return None
    expected = _manifest(root).get(relative)
    data = path.read_bytes()
    if expected is None or hashlib.sha256(data).hexdigest() != expected:
        warnings.warn(f"shipped checkpoint {path} is {'not in ' + MANIFEST if expected is None else 'damaged'}; "
                      "not used (rebuild with: python -m crossclr_lab.pretrained)", stacklevel=2)
        return None
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def build(root: Path = SHIPPED_DIR, log=print) -> list[Path]:
    """Train the shipped models (notebook 03's seed 0, default data) and write them in float16 with a manifest."""
    from crossclr_lab.data import load_splits
    from crossclr_lab.model_cache import cache_path, fit_cached

    train, val, test = load_splits("emoji_motion")
    written = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for loss in LOSSES:
            config = replace(notebook_config(group=test.default_group()), loss=loss)
            path = cache_path(config, train, val, root)
            for stale in path.parent.glob(f"{loss}-seed*.pt"):
                stale.unlink()
            fit_cached(config, train, val, root, half=True, use_shipped=False)
            written.append(path)
            log(f"{loss}: {path} ({path.stat().st_size / 1e6:.2f} MB)")
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(root).as_posix()}"
             for p in sorted(root.rglob("*.pt"))]
    atomic_write_text(root / MANIFEST, "\n".join(lines) + "\n")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crossclr_lab.pretrained", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(SHIPPED_DIR), help="folder (default: %(default)s)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    build(Path(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
